"""Netsh's own memory: what Linux keeps no record of (publish flags, site
prefix lengths, persistent commands, the advertisers it started), one JSON
file per network namespace, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import _daemon, _statefile
from .._errors import Ipv6Error

STATE_DIR_ENV = "NETSH_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/mcast-ipv6-toolkit/netsh"
ADVERTISER = "ipv6.netsh._advertiser"  # the daemon module `set interface advertise=enabled` runs


def state_path() -> Path:
    directory = Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))
    inode = os.stat("/proc/thread-self/ns/net").st_ino
    return directory / f"netns-{inode}.json"


def load_state() -> dict[str, Any]:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"memory": {}, "persistent": []}
    except (OSError, ValueError) as exc:
        raise Ipv6Error(f"netsh's state file {state_path()} is unreadable: {exc}") from None
    data.setdefault("memory", {})
    data.setdefault("persistent", [])
    return dict(data)


def save_state(state: dict[str, Any]) -> None:
    _statefile.write_json(state_path(), state, "netsh's state")


def advertiser_log(ifname: str) -> Path:
    """Where the advertiser of ``ifname`` says what it counted and why it stopped."""
    path = state_path()
    return path.with_name(f"{path.stem}.advertiser-{ifname}.log")


def advertiser_alive(pid: int | None) -> bool:
    return _daemon.alive(pid, ADVERTISER)
