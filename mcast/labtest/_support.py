"""What a test's lab and its pieces share: waiting for the state a test needs
(polled with a deadline), and stopping a process the test started."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ipv6 import LabError

T = TypeVar("T")
READY = 30.0  # seconds a piece has to come up (a loaded CI machine is slow, not this slow)
STOP_GRACE = 3.0  # seconds a spawned process has to end after SIGTERM


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


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after STOP_GRACE seconds; waited for either way."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
