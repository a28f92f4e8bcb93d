"""Netsh's own memory: what Linux keeps no record of (publish flags, site
prefix lengths, persistent commands, the advertisers it started), one JSON
file per network namespace, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import _daemon, _statefile

ADVERTISER = "ipv6.netsh._advertiser"  # the daemon module `set interface advertise=enabled` runs


def state_path() -> Path:
    return _statefile.namespace_file(suffix=".json")


def load_state() -> dict[str, Any]:
    data = _statefile.read_json(state_path(), "netsh's state")
    data.setdefault("memory", {})
    data.setdefault("persistent", [])
    return data


def save_state(state: dict[str, Any]) -> None:
    _statefile.write_json(state_path(), state, "netsh's state")


def advertiser_log(ifname: str) -> Path:
    """Where the advertiser of ``ifname`` says what it counted and why it stopped."""
    path = state_path()
    return path.with_name(f"{path.stem}.advertiser-{ifname}.log")


def advertiser_alive(pid: int | None) -> bool:
    return _daemon.alive(pid, ADVERTISER)
