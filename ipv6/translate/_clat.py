"""A CLAT (464XLAT, RFC 6877) for an IPv6-only host: IPv4-only applications
on it reach IPv4 servers through the network's NAT64 (the PLAT).

The CLAT is a stateless translator (``_siit``) on a TUN device that holds
the host's IPv4 address 192.0.0.1 (RFC 7335) and its IPv4 default route.
The host's IPv4 address maps to one IPv6 address of its own (the CLAT
address, on the uplink's /64, answered for by proxy neighbour discovery);
every other IPv4 address maps into the PLAT's prefix, learnt from a router
advertisement (PREF64, RFC 8781) or from ipv4only.arpa (RFC 7050) unless
given. The host then forwards IPv6 between the uplink and the device, so
``add`` turns forwarding on (keeping router advertisements accepted on the
uplink) and ``delete`` puts back what it changed.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Interface
from typing import Any

from .._errors import BadInput
from .._kernelops import AddProxyNeighbor, DeleteProxyNeighbor, KernelOp, WriteSysctl
from .._procsys import read_sysctl
from .._result import Result
from ..tunnel import _registry
from ._control import TranslatorError
from ._control import add as add_translator
from ._control import delete as delete_translator
from ._mapping import Prefix64
from ._spec import CLAT_IPV4, CLAT_OWN4, TranslatorSpec


@dataclass
class ClatAdded(Result):
    name: str
    uplink: str
    prefix: str
    learnt: str  # how the prefix was found
    ipv4_address: str
    ipv6_address: str


def _uplink_and_address(uplink: str | None) -> tuple[str, IPv6Interface, str]:
    """The uplink (the interface of the IPv6 default route unless named), its first
    global address and its link-layer address."""
    import psutil

    if uplink is None:
        uplink = _default_route_interface()
    addresses = psutil.net_if_addrs().get(uplink)
    if addresses is None:
        raise BadInput(f"there is no interface {uplink} (see `ipv6 interfaces`)")
    mac = next((a.address for a in addresses if a.family == psutil.AF_LINK), "")
    for a in addresses:
        if a.family == socket.AF_INET6:
            address = IPv6Address(a.address.split("%")[0])
            if not (address.is_link_local or address.is_loopback or address.is_multicast):
                return uplink, IPv6Interface(f"{address}/64"), mac
    raise BadInput(f"{uplink} has no routable IPv6 address for the CLAT's own to sit beside")


def _default_route_interface() -> str:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET6):
            index = route.get_attr("RTA_OIF")
            if index:
                return socket.if_indextoname(index)
    raise BadInput("this host has no IPv6 default route: name the uplink (--uplink)")


def _ipv4_default_route() -> str | None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET):
            gateway = route.get_attr("RTA_GATEWAY")
            index = route.get_attr("RTA_OIF")
            return gateway or (socket.if_indextoname(index) if index else "a blackhole")
    return None


def clat_address(network: IPv6Interface, mac: str) -> IPv6Address:
    """The CLAT's own IPv6 address: the uplink's /64 with an interface identifier
    drawn from the link-layer address, so that hosts on one link differ."""
    digest = hashlib.sha256(f"clat {mac}".encode()).digest()
    iid = int.from_bytes(digest[:8], "big") & ~(0x02 << 56)  # not a universal one
    return IPv6Address(int(network.network.network_address) | iid)


def add(
    name: str,
    *,
    uplink: str | None = None,
    prefix: str | None = None,
    discover: str = "auto",
    servers: list[str] | None = None,
    ipv6_address: str | None = None,
    plane: str = "auto",
) -> ClatAdded:
    """Find the PLAT's prefix, prepare the host, start the CLAT (on ``plane``:
    auto, ebpf or userspace, as a translator's)."""
    from .._netlink import Netlink
    from .._probe import require

    if discover not in ("auto", "ra", "dns"):
        raise BadInput(f"--discover {discover!r}: use auto, ra or dns")
    require("tun", f"CLAT {name}", "the CLAT runs on a TUN device")
    held = _ipv4_default_route()
    if held is not None:
        raise BadInput(
            f"this host has an IPv4 default route (via {held}): a CLAT is for IPv6-only hosts; "
            "remove it first"
        )
    uplink, network, mac = _uplink_and_address(uplink)
    if prefix is not None:
        plat, learnt = Prefix64.parse(prefix), "given"
    else:
        import trio

        from ._discover import discover as find

        plat, learnt = trio.run(find, uplink, discover, servers or [])
    own6 = IPv6Address(ipv6_address) if ipv6_address else clat_address(network, mac)
    changes: list[KernelOp] = [
        WriteSysctl("net/ipv6/conf/all/forwarding", "1"),
        WriteSysctl(f"net/ipv6/conf/{uplink}/proxy_ndp", "1"),
        # Answer for the CLAT address at once, not after up to 0.8 s (proxy_delay's default).
        WriteSysctl(f"net/ipv6/neigh/{uplink}/proxy_delay", "0"),
    ]
    if read_sysctl(f"net/ipv6/conf/{uplink}/accept_ra") == "1":
        changes.append(WriteSysctl(f"net/ipv6/conf/{uplink}/accept_ra", "2"))  # when forwarding
    changes.append(AddProxyNeighbor(uplink, own6))
    netlink = Netlink()
    undo: list[KernelOp] = []
    try:
        for op in changes:
            undo = netlink.apply(op) + undo
        spec = TranslatorSpec(
            name=name,
            mode="siit",
            prefix=str(plat),
            pairs={CLAT_IPV4: str(own6)},
            ipv4_address=CLAT_OWN4,
            ipv6_address=str(own6),
            clat=True,
            uplink=uplink,
            undo=[_as_words(op) for op in undo],
            plane=plane,
        )
        add_translator(spec)
    except BaseException:
        _undo(netlink, undo)
        raise
    finally:
        netlink.close()
    return ClatAdded(name, uplink, str(plat), learnt, CLAT_IPV4, str(own6))


def delete(name: str) -> None:
    """``ipv6 clat delete``: the CLAT ``name`` stopped, and what it changed (routes,
    addresses) put back. BadInput when there is no such CLAT."""
    from .._netlink import Netlink

    data = _registry.load()
    spec = data["translators"].get(name)
    if spec is None or not spec.get("clat"):
        raise BadInput(f"there is no CLAT named {name} (see `ipv6 clat status`)")
    delete_translator(name)
    netlink = Netlink()
    try:
        failed = _undo(netlink, [_from_words(w) for w in spec.get("undo", [])])
    finally:
        netlink.close()
    if failed:
        raise TranslatorError(f"CLAT {name} stopped, but not all was put back: {'; '.join(failed)}")


def _undo(netlink: Any, ops: list[KernelOp]) -> list[str]:
    failed = []
    for op in ops:
        try:
            netlink.apply(op)
        except OSError as exc:
            failed.append(f"{_as_words(op)}: {exc.strerror}")
    return failed


def _as_words(op: KernelOp) -> list[str]:
    """A change to put back, as JSON can keep it."""
    if isinstance(op, WriteSysctl):
        return ["sysctl", op.path, op.value]
    if isinstance(op, DeleteProxyNeighbor):
        return ["unproxy", socket.if_indextoname(op.interface) if isinstance(op.interface, int)
                else op.interface, str(op.address)]  # fmt: skip
    raise AssertionError(f"a CLAT does not change {op}")


def _from_words(words: list[str]) -> KernelOp:
    if words[0] == "sysctl":
        return WriteSysctl(words[1], words[2])
    return DeleteProxyNeighbor(words[1], IPv6Address(words[2]))
