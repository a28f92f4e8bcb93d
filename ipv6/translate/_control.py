"""Adding, removing and reading translators, behind ``ipv6 nat64``: the
namespace's registry (the tunnels' file, section ``translators``) and the
userspace service that runs them beside the tunnels."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

from .._errors import BadInput, Ipv6Error
from .._procsys import read_sysctl
from .._result import Result
from ..tunnel import _registry
from ..tunnel._control import TunnelError, fresh_status, poke_service, wait_for
from ._spec import TranslatorSpec, check


class TranslatorError(Ipv6Error):
    """A translator could not be started or removed; what was started is undone."""


@dataclass
class Added(Result):
    name: str
    mode: str
    prefix: str
    pool: str | None
    ipv4_address: str
    ipv6_address: str
    warnings: list[str] = field(default_factory=list)


def host_facts() -> tuple[dict[str, list[IPv4Network]], set[str]]:
    """This host's IPv4 subnets by interface, and its interface names."""
    import psutil

    subnets: dict[str, list[IPv4Network]] = {}
    for name, addresses in psutil.net_if_addrs().items():
        for a in addresses:
            if a.family == socket.AF_INET and a.netmask:
                subnets.setdefault(name, []).append(
                    IPv4Network(f"{a.address}/{a.netmask}", strict=False)
                )
    return subnets, {name for _, name in socket.if_nameindex()}


def forwarding_warnings() -> list[str]:
    """What a translator needs from the host that this one does not do."""
    out = []
    if read_sysctl("net/ipv4/ip_forward") != "1":
        out.append(
            "IPv4 forwarding is off here (net.ipv4.ip_forward): only this host's own "
            "packets are translated"
        )
    if read_sysctl("net/ipv6/conf/all/forwarding") != "1":
        out.append(
            "IPv6 forwarding is off here (net.ipv6.conf.all.forwarding): only this host's "
            "own packets are translated"
        )
    return out


def add(spec: TranslatorSpec) -> Added:
    """Check ``spec`` (BadInput: nothing started), then run it and wait until it runs."""
    from .._probe import require

    subnets, names = host_facts()
    notes = check(spec, subnets=subnets, names=names)
    require("tun", f"translator {spec.name}", "the translators run on a TUN device")
    if spec.plane == "ebpf":
        require("ebpf_tc", f"translator {spec.name} on the eBPF plane",
                "--plane auto runs it on the userspace plane instead")  # fmt: skip
    data = _registry.load()
    if spec.name in data["translators"] or spec.name in data["tunnels"]:
        raise BadInput(f"{spec.name} is already a tunnel or translator here; pick another name")
    data["translators"][spec.name] = spec.to_json()
    _registry.save(data)
    try:
        started = poke_service(data)
        wait_for(spec.name, present=True, started=started, section="translators")
    except TunnelError as exc:
        delete(spec.name, missing_ok=True)
        raise TranslatorError(str(exc)) from None
    assert spec.ipv4_address is not None and spec.ipv6_address is not None
    return Added(
        name=spec.name,
        mode=spec.mode,
        prefix=spec.prefix,
        pool=spec.pool,
        ipv4_address=spec.ipv4_address,
        ipv6_address=spec.ipv6_address,
        warnings=notes + forwarding_warnings(),
    )


def delete(name: str, *, missing_ok: bool = False) -> None:
    """``ipv6 nat64 delete``: the translator ``name`` removed from the plane (the
    plane's service stops with its last tunnel or translator). BadInput when there
    is none of that name, unless ``missing_ok``."""
    from ..tunnel._control import PLANE, service_alive, stop_service

    data = _registry.load()
    if data["translators"].pop(name, None) is None:
        if missing_ok:
            return
        raise BadInput(f"there is no translator named {name} (see `ipv6 nat64 status`)")
    _registry.save(data)
    pid: int = data.get("service") or 0
    if not service_alive(pid):
        return
    if _registry.wants_service(data):
        PLANE.start_or_reload(pid)  # it runs: it reads the registry again
        try:
            wait_for(name, present=False, section="translators")
        except TunnelError as exc:
            raise TranslatorError(str(exc)) from None
        return
    stop_service(data)


@dataclass
class TranslatorCounters(Result):
    """What a running translator counted (its status, read from the service)."""

    to_ipv4_packets: int = 0
    to_ipv4_bytes: int = 0
    to_ipv6_packets: int = 0
    to_ipv6_bytes: int = 0
    fragments_held: int = 0  # held now, waiting for the first fragment of their datagram
    fragments_released: int = 0
    syns_held: int = 0  # IPv4 SYNs held now (RFC 6146 3.5.2.2)

    @classmethod
    def read(cls, counted: dict[str, Any]) -> TranslatorCounters:
        return cls(**{f: int(counted.get(f, 0)) for f in cls.__dataclass_fields__})


@dataclass
class Session(Result):
    """One NAT64 session as status shows it, its addresses as text."""

    protocol: str
    ipv6_host: str
    ipv6_remote: str
    ipv4_pool: str
    ipv4_remote: str
    state: str
    expires_in: float
    packets_out: int
    packets_in: int


@dataclass
class TranslatorStatus(Result):
    """One translator as ``ipv6 nat64 status`` shows it: its configuration, and
    when it runs its counters, drops by reason and (NAT64) sessions."""

    name: str
    mode: str
    prefix: str
    pool: str | None
    pairs: dict[str, str]
    ipv4_side: list[str]
    ipv4_address: str | None
    ipv6_address: str | None
    clat: bool = False
    running: bool = False
    counters: TranslatorCounters | None = None  # when it runs
    drops: dict[str, int] = field(default_factory=dict)
    icmp_errors: dict[str, int] = field(default_factory=dict)  # its own: sent, rate_limited
    session_count: int | None = None
    bindings: int | None = None
    events: dict[str, int] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    kernel_dropped: int | None = None  # lost in the device's full queue (the kernel's count)
    timeouts: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    plane: str = "auto"  # as asked for: auto, ebpf or userspace
    plane_running: str | None = None  # the plane it runs on (ebpf or userspace), and why:
    plane_reason: str | None = None
    kernel_plane: dict[str, int] = field(default_factory=dict)  # the eBPF program's counts


_TIMEOUTS = ("udp_timeout", "tcp_timeout", "tcp_trans_timeout", "icmp_timeout")


def status(name: str | None = None) -> list[TranslatorStatus]:
    """Every translator (or ``name``) with its counters, fresh from the service."""
    data = _registry.load()
    if name is not None and name not in data["translators"]:
        raise BadInput(f"there is no translator named {name} (see `ipv6 nat64 status`)")
    written, errors = fresh_status(data, "translators")
    counted = (written or {}).get("translators", {})
    rows = []
    for key, spec in sorted(data["translators"].items()):
        if name is not None and key != name:
            continue
        row = TranslatorStatus(
            name=key,
            mode=spec["mode"],
            prefix=spec["prefix"],
            pool=spec.get("pool"),
            pairs=spec.get("pairs", {}),
            ipv4_side=spec.get("ipv4_side", []),
            ipv4_address=spec.get("ipv4_address"),
            ipv6_address=spec.get("ipv6_address"),
            clat=bool(spec.get("clat")),
            timeouts={k: spec[k] for k in _TIMEOUTS if spec["mode"] == "nat64"},
            plane=spec.get("plane", "auto"),
        )
        c = counted.get(key)
        if c is not None:
            row.running = True
            row.counters = TranslatorCounters.read(c)
            row.drops = c.get("drops", {})
            row.icmp_errors = c.get("icmp_errors", {})
            row.session_count = c.get("session_count")
            row.bindings = c.get("bindings")
            row.events = c.get("events", {})
            row.sessions = [Session(**s) for s in c.get("sessions", [])]
            row.kernel_dropped = c.get("kernel_dropped")
            row.plane_running = c.get("plane")
            row.plane_reason = c.get("plane_reason")
            row.kernel_plane = c.get("kernel_plane", {})
        else:
            row.error = errors.get(key) or "not running"
        rows.append(row)
    return rows
