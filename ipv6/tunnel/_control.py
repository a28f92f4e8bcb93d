"""Adding, removing and reading tunnels: the registry, the service and the
kernel plane, behind the ``ipv6 tunnel`` and ``6to4cfg`` commands.

The plane is the user's choice or the toolkit's: the kernel's sit driver
where the kernel has it (``auto`` probes once), otherwise the userspace
service, with the eBPF programs (``_ebpf``) where the kernel has eBPF on tc;
the command says which it used.

Past 400 lines as one concept: the ``ipv6 tunnel`` commands' one path from a
spec to a running tunnel (check, choose the plane, drive the kernel's sit or the
service, report); 6rd's validation is the seam it will split along
(docs/architecture.md's debts).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, IPv6Interface, IPv6Network
from typing import Any

from .._derive import sixto4_address
from .._errors import BadInput, Ipv6Error
from .._result import Result
from .._supervise import Service
from . import _registry
from ._registry import TunnelSpec
from ._rules import SixRd

START_TIMEOUT = 5.0


class TunnelError(Ipv6Error):
    """A tunnel could not be set up or removed; what was started is undone."""


def own_ipv4() -> tuple[frozenset[int], frozenset[int]]:
    """Every IPv4 address of this network namespace and its subnets' broadcasts."""
    import psutil

    own: set[int] = set()
    broadcasts: set[int] = set()
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET:
                own.add(int(IPv4Address(a.address)))
                if a.broadcast:
                    broadcasts.add(int(IPv4Address(a.broadcast)))
    return frozenset(own), frozenset(broadcasts)


def check_ipv4(address: IPv4Address, role: str, *, lab: bool) -> None:
    """A tunnel endpoint must be global unicast, unless --lab says this is a lab.

    Even a lab cannot use what no packet may carry (loopback, multicast,
    0.0.0.0/8, broadcast, 240/4): RFC 3964's checks would drop every packet.
    """
    if address.is_multicast or address.is_loopback or address.is_unspecified:
        raise BadInput(f"{address} cannot be a tunnel's {role}: it is not a unicast address")
    if int(address) >> 24 == 0 or int(address) >> 28 == 0xF:
        raise BadInput(f"{address} cannot be a tunnel's {role}: it is a reserved address")
    if not address.is_global and not lab:
        raise BadInput(
            f"{address} is not a global IPv4 address, so it cannot be a 6to4 or 6in4 "
            f"{role} on the Internet (RFC 3056 needs a globally unique address); "
            "add --lab if this is a lab network"
        )


def sixrd_domain(spec: TunnelSpec) -> SixRd | None:
    """A 6rd tunnel's domain (RFC 5969), from its checked spec."""
    if spec.mode != "6rd" or spec.sixrd_prefix is None:
        return None
    prefix = IPv6Network(spec.sixrd_prefix)
    mask = spec.ipv4_mask_length
    common = int(IPv4Address(spec.local)) & ~((1 << (32 - mask)) - 1) & 0xFFFFFFFF
    return SixRd(int(prefix.network_address), prefix.prefixlen, mask, common)


def _validate_6rd(spec: TunnelSpec) -> None:
    """RFC 5969 5 and 7.1.1: the delegated prefix is the 6rd prefix and the IPv4
    bits that differ across the domain, and must leave a /64 for the site."""
    if spec.sixrd_prefix is None:
        raise BadInput("a 6rd tunnel needs the domain's IPv6 prefix (--6rd-prefix)")
    try:
        prefix = IPv6Network(spec.sixrd_prefix, strict=True)
    except ValueError as exc:
        raise BadInput(f"--6rd-prefix {spec.sixrd_prefix!r}: {exc}") from None
    if not 0 <= spec.ipv4_mask_length <= 32:
        raise BadInput(f"--ipv4-mask-length {spec.ipv4_mask_length}: 0 to 32")
    delegated = prefix.prefixlen + 32 - spec.ipv4_mask_length
    if delegated > 64:
        raise BadInput(
            f"6rd: {prefix} and {32 - spec.ipv4_mask_length} IPv4 bits make a /{delegated} "
            "delegated prefix, longer than 64 (RFC 5969 7.1.1): use a shorter 6rd prefix or "
            "a longer IPv4 mask length"
        )
    if spec.remote is not None:
        raise BadInput("a 6rd tunnel has no one remote (its domain is); drop --remote")
    if spec.border_relay and spec.relays:
        raise BadInput("the border relay has no relay of its own; drop --relay")
    if not spec.border_relay and not spec.relays:
        raise BadInput("a 6rd customer edge needs its border relay's IPv4 address (--relay)")
    spec.sixrd_prefix = str(prefix)


def validate(spec: TunnelSpec) -> None:
    if spec.mode not in _registry.MODES:
        raise BadInput(f"mode {spec.mode!r}: use 6to4, 6in4 or 6rd")
    if spec.mode == "6rd":
        _validate_6rd(spec)
    elif spec.sixrd_prefix is not None or spec.border_relay:
        raise BadInput("--6rd-prefix, --ipv4-mask-length and --br are for --mode 6rd")
    if not spec.name or len(spec.name) > 15 or "/" in spec.name or " " in spec.name:
        raise BadInput(f"{spec.name!r} is not a usable interface name (1 to 15 characters)")
    if not 1280 <= spec.mtu <= 65515:
        raise BadInput(f"tunnel MTU {spec.mtu}: IPv6 needs at least 1280 (and at most 65515)")
    local = IPv4Address(spec.local)
    check_ipv4(local, "local address", lab=spec.lab)
    own, _ = own_ipv4()
    if int(local) not in own:
        raise BadInput(
            f"{local} is not an address of this host: a tunnel's local address must be one "
            "(see `ipv6 interfaces`)"
        )
    if spec.mode == "6in4":
        if spec.remote is None:
            raise BadInput("a configured 6in4 tunnel needs its remote IPv4 address (--remote)")
        check_ipv4(IPv4Address(spec.remote), "remote", lab=spec.lab)
    elif spec.remote is not None and spec.mode == "6to4":
        raise BadInput("a 6to4 tunnel has no one remote (it is 2002::/16 itself); drop --remote")
    for relay in spec.relays:
        check_ipv4(IPv4Address(relay), "relay", lab=spec.lab)
        if IPv4Address(relay) == IPv4Address("192.88.99.1"):
            print(
                "note: 192.88.99.1 is the deprecated 6to4 anycast relay (RFC 7526)",
                file=sys.stderr,
            )


def default_router(spec: TunnelSpec) -> str | None:
    """The address a 6to4 tunnel answers from: subnet 0 with the IPv4 address as id
    (seeds); a 6rd tunnel's: its delegated prefix's ::1 (the address it gets)."""
    if spec.mode == "6to4":
        return str(sixto4_address(IPv4Address(spec.local)))
    domain = sixrd_domain(spec)
    if domain is not None:
        return str(IPv6Address(domain.delegated(int(IPv4Address(spec.local))) | 1))
    return None


# --- the kernel plane ------------------------------------------------------------------------


def kernel_has_sit() -> bool:
    """Whether this kernel makes sit devices (the capability probe's answer)."""
    from .._probe import has

    return has("sit")


def _kernel_add(spec: TunnelSpec) -> None:
    from .._kernelops import AddSitLink, SetLinkMtu, SetLinkState
    from .._netlink import Netlink

    netlink = Netlink()  # as every kernel change is made
    try:
        add = AddSitLink(spec.name, spec.local, spec.remote or "0.0.0.0", _sit_6rd(spec))
        for op in (add, SetLinkMtu(spec.name, spec.mtu), SetLinkState(spec.name, up=True)):
            netlink.apply(op)
    except OSError as exc:
        why = exc.strerror
        raise TunnelError(f"the kernel refused sit device {spec.name}: {why}") from None
    finally:
        netlink.close()


def _sit_6rd(spec: TunnelSpec) -> tuple[str, int, str, int] | None:
    """sit's 6rd attributes (the prefix, and the IPv4 bits common to the domain)."""
    domain = sixrd_domain(spec)
    if domain is None:
        return None
    return (str(IPv6Address(domain.prefix)), domain.prefix_length,
            str(IPv4Address(domain.common)), domain.mask_length)  # fmt: skip


def _sixrd_address(spec: TunnelSpec) -> None:
    """A 6rd tunnel's own address, ::1 of its delegated prefix, on the 6rd prefix's
    length: the route to every other edge of the domain comes with it."""
    from .._kernelops import AddAddress
    from .._netlink import Netlink

    domain = sixrd_domain(spec)
    if domain is None or spec.router is None:
        return
    netlink = Netlink()
    try:
        address = IPv6Interface(f"{spec.router}/{domain.prefix_length}")
        netlink.apply(AddAddress(spec.name, address, dad=False))
    except OSError as exc:
        raise TunnelError(f"cannot give {spec.name} its 6rd address: {exc.strerror}") from None
    finally:
        netlink.close()


def _kernel_delete(name: str) -> None:
    from .._kernelops import DeleteLink
    from .._netlink import Netlink

    if not _device_exists(name):
        return
    netlink = Netlink()
    try:
        netlink.apply(DeleteLink(name))
    except OSError as exc:
        raise TunnelError(f"the kernel kept sit device {name}: {exc.strerror}") from None
    finally:
        netlink.close()


# --- the userspace service -------------------------------------------------------------------


PLANE = Service("the tunnel service", "ipv6.plane._service", "tunnels",
                timeout=START_TIMEOUT, error=TunnelError)  # fmt: skip
SERVICE = PLANE.module


def service_alive(pid: Any) -> bool:
    return PLANE.alive(pid)


def poke_service(data: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """Make the service read the registry again, starting it if it is not running
    (then the started process, whose exit this command can see)."""
    daemon = PLANE.start_or_reload(data.get("service") or 0)
    if daemon is not None:
        data["service"] = daemon.pid
        _registry.save(data)
    return daemon


def wait_for(
    name: str,
    *,
    present: bool,
    started: subprocess.Popen[bytes] | None = None,
    section: str = "tunnels",
) -> None:
    """Wait until the service runs (or no longer runs) ``name`` of ``section``
    (tunnels, translators), with its device; its error, or why it stopped, if not."""
    what = section[:-1]

    def check(status: dict[str, Any]) -> bool | str:
        if present and name in status.get("errors", {}):
            return f"{what} {name}: {status['errors'][name]}"
        return (name in status.get(section, {})) == present and _device_exists(name) == present

    pid = _registry.load().get("service") or 0
    command = "tunnel" if what == "tunnel" else "nat64"
    PLANE.wait(check, pid, started,
               f"{'start' if present else 'stop'} {what} {name} (see `ipv6 {command} status`)",
               needs_running=present)  # fmt: skip


def _device_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def add(spec: TunnelSpec, plane: str = "auto") -> str:
    """Create the tunnel; the plane that carries it."""
    validate(spec)
    data = _registry.load()
    if spec.name in data["tunnels"] or _device_exists(spec.name):
        raise BadInput(f"an interface named {spec.name} already exists; pick another name")
    from .._features import KernelLacks
    from .._probe import has, require

    spec.plane_auto = False  # True: eBPF chosen by auto, so the service may fall back
    if plane == "auto":  # sit where the kernel has it, else the service, with eBPF if it can
        plane = "kernel" if kernel_has_sit() else "ebpf" if has("ebpf_tc") else "userspace"
        spec.plane_auto = plane == "ebpf"
    elif plane == "kernel" and not kernel_has_sit():
        raise KernelLacks("sit", f"tunnel {spec.name} on the kernel plane",
                          "use --plane userspace or --plane auto")  # fmt: skip
    if plane in _registry.SERVICE_PLANES:
        require("tun", f"tunnel {spec.name} on the {plane} plane",
                "the kernel's sit plane (--plane kernel) needs no TUN device")  # fmt: skip
    if plane == "ebpf":
        require("ebpf_tc", f"tunnel {spec.name} on the eBPF plane",
                "--plane userspace carries it without")  # fmt: skip
    spec.plane = plane
    if spec.router is None:
        spec.router = default_router(spec)
    elif spec.router:
        spec.router = str(IPv6Address(spec.router.split("/")[0]))
    if plane == "kernel":
        _kernel_add(spec)
        data["tunnels"][spec.name] = spec.to_json()
        _registry.save(data)
    else:
        data["tunnels"][spec.name] = spec.to_json()
        _registry.save(data)
    try:
        if plane in _registry.SERVICE_PLANES:
            started = poke_service(data)
            wait_for(spec.name, present=True, started=started)
        _sixrd_address(spec)
    except TunnelError:
        delete(spec.name, missing_ok=True)
        raise
    return plane


def delete(name: str, *, missing_ok: bool = False) -> None:
    """``ipv6 tunnel delete``: the tunnel ``name`` removed (its kernel device, or its
    place in the userspace plane). BadInput when there is none of that name, unless
    ``missing_ok``."""
    data = _registry.load()
    spec = data["tunnels"].pop(name, None)
    if spec is None:
        if missing_ok:
            return
        raise BadInput(f"there is no tunnel named {name} (see `ipv6 tunnel status`)")
    _registry.save(data)
    if spec.get("plane") == "kernel":
        _kernel_delete(name)
        return
    pid: int = data.get("service") or 0
    if not service_alive(pid):
        return
    if _registry.wants_service(data):
        PLANE.start_or_reload(pid)  # it runs: it reads the registry again
        wait_for(name, present=False)
        return
    stop_service(data)


def stop_service(data: dict[str, Any]) -> None:
    PLANE.stop(data.get("service") or 0)
    data["service"] = None
    _registry.save(data)


@dataclass
class TunnelStatus(Result):
    """One tunnel as ``ipv6 tunnel status`` shows it. The counters are there when
    it runs; ``service`` (what the userspace service counted for no tunnel) and
    ``error`` (why it is not running) when there is something to say."""

    name: str
    mode: str
    plane: str
    local: str
    remote: str | None
    relays: list[str]
    mtu: int
    addresses: list[str]
    running: bool = False
    tx_packets: int | None = None
    tx_bytes: int | None = None
    rx_packets: int | None = None
    rx_bytes: int | None = None
    rx_merged_by_kernel: int | None = None  # userspace plane: super-packets GRO made
    drops: dict[str, int] | None = None
    offloads: list[str] | None = None  # userspace plane: tso6, csum, gro, sendmmsg in use
    service: dict[str, Any] | None = None
    error: str | None = None
    kernel_plane: dict[str, int] | None = None  # eBPF plane: what its programs counted
    plane_reason: str | None = None  # why it runs on the plane it runs on, if not asked

    def to_json(self) -> dict[str, Any]:
        optional = (
            "tx_packets", "tx_bytes", "rx_packets", "rx_bytes", "rx_merged_by_kernel", "drops",
            "offloads", "service", "error", "kernel_plane", "plane_reason",
        )  # fmt: skip
        return {k: v for k, v in super().to_json().items() if k not in optional or v is not None}


def status() -> list[TunnelStatus]:
    """Every tunnel with its plane, addresses and counters (fresh from the service)."""
    data = _registry.load()
    counted: dict[str, Any] = {}
    service: dict[str, Any] = {}
    written, errors = fresh_status(data, "tunnels")
    if written is not None:
        counted = written.get("tunnels", {})
        service = {
            # Packets for no tunnel, or unreadable, and what the socket's full queue lost.
            "unclaimed": written.get("unclaimed", {}),
            "kernel_dropped": written.get("kernel_dropped"),
        }
    import psutil

    on_links = psutil.net_if_addrs()
    rows: list[TunnelStatus] = []
    for name, spec in sorted(data["tunnels"].items()):
        row = TunnelStatus(
            name=name,
            mode=spec["mode"],
            plane=spec["plane"],
            local=spec["local"],
            remote=spec.get("remote")
            or ("2002::/16" if spec["mode"] == "6to4" else spec.get("sixrd_prefix")),
            relays=spec.get("relays", []),
            mtu=spec["mtu"],
            addresses=[
                a.address.split("%")[0]
                for a in on_links.get(name, ())
                if a.family == socket.AF_INET6
            ],
        )
        if spec["plane"] in _registry.SERVICE_PLANES and name in counted:
            c = counted[name]
            row = replace(
                row, running=True, **{k: c[k] for k in _COUNTERS}, drops=c["drops"],
                offloads=c.get("offloads", []), rx_merged_by_kernel=c.get("rx_merged_by_kernel", 0),
                kernel_plane=c.get("kernel_plane"), plane=c.get("plane_running", row.plane),
                plane_reason=c.get("plane_reason"),
            )  # fmt: skip
            row.service = service
        elif spec["plane"] in _registry.SERVICE_PLANES and name in errors:
            row.error = errors[name]
        elif spec["plane"] == "kernel":
            row = _with_kernel_counters(row)
        rows.append(row)
    return rows


def fresh_status(
    data: dict[str, Any], section: str
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The service's status, written just now at our asking (SIGUSR1), and the
    errors of ``section``'s entries; no status, and why, when the service is gone."""
    pid: int = data.get("service") or 0
    if PLANE.alive(pid):
        written = PLANE.ask_status(pid)
        return written, written.get("errors", {})
    if pid:
        why = PLANE.why_stopped(pid)
        return None, dict.fromkeys(data[section], f"the tunnel service is not running: {why}")
    return None, {}


_COUNTERS = ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes")


def _with_kernel_counters(row: TunnelStatus) -> TunnelStatus:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.get_links(ifname=row.name) if _device_exists(row.name) else []
    if not found:
        return row
    stats = found[0].get_attr("IFLA_STATS64") or {}
    return replace(
        row,
        running=True,
        **{k: stats.get(k, 0) for k in _COUNTERS},
        drops={
            "kernel_rx_dropped": stats.get("rx_dropped", 0),
            "kernel_tx_dropped": stats.get("tx_dropped", 0),
        },
    )
