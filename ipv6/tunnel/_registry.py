"""Which tunnels this network namespace has, and what their service counted.

Linux keeps no record of a userspace tunnel, so the toolkit does: a JSON
file per network namespace (beside netsh's, keyed by the same netns inode)
lists the tunnels and the service's pid; the service writes its counters to
a status file beside it, which ``ipv6 tunnel status`` reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import _statefile
from .._errors import Ipv6Error

STATE_DIR_ENV = "NETSH_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/mcast-ipv6-toolkit/netsh"
MODES = ("6to4", "6in4")
PLANES = ("userspace", "kernel")


@dataclass
class TunnelSpec:
    """One tunnel as configured: enough for either plane to run it."""

    name: str
    mode: str
    local: str
    plane: str = "userspace"
    remote: str | None = None
    relays: list[str] = field(default_factory=list)
    mtu: int = 1280
    router: str | None = None  # the IPv6 source of the tunnel's ICMPv6 errors
    lab: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TunnelSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def state_file(kind: str) -> Path:
    """``kind``'s state for this network namespace, beside netsh's (suffix to add)."""
    directory = Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))
    inode = os.stat("/proc/thread-self/ns/net").st_ino
    return directory / f"{kind}-netns-{inode}"


def _base() -> Path:
    return state_file("tunnels")


def registry_path() -> Path:
    return _base().with_suffix(".json")


def status_path() -> Path:
    return _base().with_suffix(".status.json")


def log_path() -> Path:
    """Where the service says why it stopped, if it does."""
    return _base().with_suffix(".log")


def _read(path: Path, empty: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return empty
    except (OSError, ValueError) as exc:
        raise Ipv6Error(f"the tunnel state file {path} is unreadable: {exc}") from None


def write_json(path: Path, data: dict[str, Any]) -> None:
    _statefile.write_json(path, data, "the tunnel state")


def load() -> dict[str, Any]:
    data = _read(registry_path(), {})
    data.setdefault("tunnels", {})
    data.setdefault("service", None)
    return data


def tunnels(data: dict[str, Any]) -> dict[str, TunnelSpec]:
    return {name: TunnelSpec.from_json(spec) for name, spec in data["tunnels"].items()}


def save(data: dict[str, Any]) -> None:
    write_json(registry_path(), data)


def load_status() -> dict[str, Any]:
    return _read(status_path(), {"tunnels": {}})
