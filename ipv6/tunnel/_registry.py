"""Which tunnels this network namespace has, and what their service counted.

Linux keeps no record of a userspace tunnel, so the toolkit does: a JSON
file per network namespace (beside netsh's, keyed by the same netns inode)
lists the tunnels and the service's pid; the service writes its counters to
a status file beside it, which ``ipv6 tunnel status`` reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import _statefile

MODES = ("6to4", "6in4", "6rd")
PLANES = ("userspace", "ebpf", "kernel")
SERVICE_PLANES = ("userspace", "ebpf")  # the planes the service runs (ebpf: with programs)


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
    sixrd_prefix: str | None = None  # 6rd (RFC 5969): the domain's IPv6 prefix
    ipv4_mask_length: int = 0  # 6rd: high IPv4 bits common to the domain, left out
    border_relay: bool = False  # 6rd: this end is the border relay (relays: a CE's relay)
    offload: bool = (
        True  # userspace plane: TUN offloads (TSO in, GRO out) where the kernel has them
    )
    plane_auto: bool = False  # eBPF because --plane auto chose it: userspace if it cannot load

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TunnelSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def registry_path() -> Path:
    return _statefile.namespace_file("tunnels", ".json")


def status_path() -> Path:
    return _statefile.namespace_file("tunnels", ".status.json")


def log_path() -> Path:
    """Where the service says why it stopped, if it does."""
    return _statefile.namespace_file("tunnels", ".log")


def write_json(path: Path, data: dict[str, Any]) -> None:
    _statefile.write_json(path, data, "the tunnel state")


def load() -> dict[str, Any]:
    data = _statefile.read_json(registry_path(), "the tunnel state")
    data.setdefault("tunnels", {})
    data.setdefault("translators", {})  # NAT64 and SIIT (ipv6.translate), run by the same service
    data.setdefault("service", None)
    return data


def tunnels(data: dict[str, Any]) -> dict[str, TunnelSpec]:
    return {name: TunnelSpec.from_json(spec) for name, spec in data["tunnels"].items()}


def wants_service(data: dict[str, Any]) -> bool:
    """Whether anything in the registry needs the userspace service."""
    return bool(data["translators"]) or any(
        s.get("plane") in SERVICE_PLANES for s in data["tunnels"].values()
    )


def save(data: dict[str, Any]) -> None:
    write_json(registry_path(), data)


def load_status() -> dict[str, Any]:
    data = _statefile.read_json(status_path(), "the tunnel service's status")
    data.setdefault("tunnels", {})
    data.setdefault("translators", {})
    return data
