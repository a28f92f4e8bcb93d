"""Waiting in a test's lab for the state a test needs, polled with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ipv6 import LabError

T = TypeVar("T")
READY = 30.0  # seconds a piece has to come up (a loaded CI machine is slow, not this slow)


def wait_for(check: Callable[[], T], what: str, timeout: float = READY) -> T:
    """Poll ``check`` until it gives something true; LabError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise LabError(f"waited {timeout:g} s for {what}, in vain")
        time.sleep(0.05)
