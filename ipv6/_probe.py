"""What this kernel has: each feature of :mod:`ipv6._features` probed by trying it.

The probes run once in a child process (``python -m ipv6.kernelprobe``) that first
moves into a network namespace of its own (a new one; as a user without
privilege, a new user namespace with it), so that the devices, states and
rules it makes to find out are made where nobody else is, and vanish with
it. What it found is kept for this network namespace (:func:`capabilities`
reads it again, until the machine restarts): the next command does not
probe again.

A test can make the probe report features absent (``TOOLKIT_PRETEND_ABSENT``,
names separated by commas), so that every fallback runs on every machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any

from ._errors import Ipv6Error
from ._features import (
    ABSENT,
    BY_NAME,
    FEATURES,
    UNKNOWN,
    Finding,
    KernelLacks,
    finding,
    pretended_absent,
)

PRETEND_ENV = "TOOLKIT_PRETEND_ABSENT"
CACHE_VERSION = 1
PROBE_TIMEOUT = 30.0
_found: dict[str, Finding] = {}  # this process's reading, filled once


def _cache_path() -> Any:
    from ._statefile import namespace_file

    return namespace_file("capabilities", ".json")


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def probe_now() -> list[dict[str, str]]:
    """Run the probes in a child process and return what it found."""
    try:
        done = subprocess.run([sys.executable, "-m", "ipv6.kernelprobe"], capture_output=True,
                              text=True, timeout=PROBE_TIMEOUT, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise Ipv6Error(f"the kernel probe did not finish in {PROBE_TIMEOUT:g} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise Ipv6Error(f"the kernel probe failed: {last}")
    rows: list[dict[str, str]] = json.loads(done.stdout)
    return rows


def capabilities(*, refresh: bool = False) -> list[Finding]:
    """What this kernel has, probed once and kept for this network namespace."""
    if not _found or refresh:
        rows = None if refresh else _cached()
        if rows is None:
            rows = probe_now()
            _save(rows)
        known = {r["name"]: r for r in rows if r.get("name") in BY_NAME}
        found = {}
        for feature in FEATURES:
            row = known.get(feature.name, {"state": UNKNOWN, "how": "not probed"})
            found[feature.name] = finding(feature.name, row["state"], row["how"])
        _found.clear()
        _found.update(found)
    pretend = pretended_absent(os.environ.get(PRETEND_ENV, ""))
    return [
        finding(f.name, ABSENT, f"reported absent on request ({PRETEND_ENV})")
        if f.name in pretend
        else f
        for f in _found.values()
    ]


def _cached() -> list[dict[str, str]] | None:
    from ._statefile import read_json

    try:
        data = read_json(_cache_path(), "kernel capabilities")
    except Ipv6Error:
        return None
    if data.get("version") != CACHE_VERSION or data.get("boot_id") != _boot_id():
        return None
    if not data.get("privileged") and _privileged():
        return None  # probed without privilege, some left untried: try them now
    rows = data.get("features")
    return rows if isinstance(rows, list) else None


def _save(rows: list[dict[str, str]]) -> None:
    from ._statefile import StateWriteFailed, write_json

    data = {"version": CACHE_VERSION, "boot_id": _boot_id(), "privileged": _privileged(),
            "features": rows}  # fmt: skip
    with contextlib.suppress(StateWriteFailed):  # a read-only disk: probe again next time
        write_json(_cache_path(), data, "kernel capabilities")


def _privileged() -> bool:
    from ._privilege import missing_privileges

    return not missing_privileges()


def state_of(name: str) -> str:
    """present, absent or unknown, for feature ``name``."""
    if name in pretended_absent(os.environ.get(PRETEND_ENV, "")):
        return ABSENT  # without probing: a test's request needs no probe
    return next(f.state for f in capabilities() if f.name == name)


def has(name: str) -> bool:
    """Whether a command may use feature ``name`` (unknown counts as yes: the kernel
    then answers for itself)."""
    return state_of(name) != ABSENT


def require(name: str, what: str, hint: str = "") -> None:
    """Raise :class:`KernelLacks` (exit 7) when feature ``name`` is absent."""
    if not has(name):
        raise KernelLacks(name, what, hint)
