"""Netsh's own memory: what Linux keeps no record of (publish flags, site
prefix lengths, persistent commands, the advertisers it started), one JSON
file per network namespace, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import _statefile
from .._supervise import Service

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


def advertiser(ifname: str) -> Service:
    """The router advertiser of ``ifname``: a daemon per interface, whose state is
    netsh's own and whose log (``advertiser-IF-netns-INODE.log``) says what it
    counted and why it stopped."""
    return Service(f"the router advertiser of {ifname}", ADVERTISER, "", (ifname,),
                   timeout=3.0, log=f"advertiser-{ifname}")  # fmt: skip


def advertiser_log(ifname: str) -> Path:
    return advertiser(ifname).log_path()


def advertiser_alive(pid: int | None) -> bool:
    return advertiser("").alive(pid)
