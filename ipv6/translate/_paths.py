"""Which path a host's traffic takes: native IPv4 or IPv6, IPv6 to a NAT64
(an address in the network's NAT64 prefix), or IPv4 through a CLAT.
``ipv6 dualstack probe`` and ``check`` say it for this host and per address.

:func:`path_of` is pure; :func:`host_paths` asks the kernel (routes) and
the host's resolver (ipv4only.arpa, RFC 7050)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address

from .._result import Result
from ._mapping import Prefix64

CLAT_NETWORK = IPv4Network("192.0.0.0/29")  # RFC 7335


@dataclass
class HostPaths(Result):
    """How this host reaches each family, and the NAT64 prefix its resolver reveals."""

    ipv4: str  # native, clat, or none
    ipv4_interface: str | None
    ipv6: str  # native or none
    ipv6_interface: str | None
    nat64_prefix: str | None
    nat64_learnt: str | None


def path_of(address: IPv4Address | IPv6Address, paths: HostPaths) -> str:
    """native, NAT64 or CLAT: the way a connection to ``address`` goes."""
    if address.version == 6:
        if paths.nat64_prefix and Prefix64.parse(paths.nat64_prefix).contains(int(address)):
            return "NAT64"
        return "native"
    return "CLAT" if paths.ipv4 == "clat" else "native"


def _default_route(family: int) -> tuple[str | None, str | None]:
    """(interface, preferred source) of the family's default route, or Nones."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=family):
            index = route.get_attr("RTA_OIF")
            name = socket.if_indextoname(index) if index else None
            return name, route.get_attr("RTA_PREFSRC")
    return None, None


async def host_paths(*, timeout: float = 1.0) -> HostPaths:
    """This host's paths. The resolver is asked for ipv4only.arpa only when the host
    has no native IPv4 (no IPv4 default route, or one through a CLAT): that is when
    a NAT64 matters, and a dual-stack host's tests send nothing off the host."""
    import trio

    from ._discover import by_dns, resolvers

    v4_if, v4_src = await trio.to_thread.run_sync(_default_route, socket.AF_INET)
    v6_if, _ = await trio.to_thread.run_sync(_default_route, socket.AF_INET6)
    if v4_if is None:
        ipv4 = "none"
    elif v4_src and IPv4Address(v4_src) in CLAT_NETWORK:
        ipv4 = "clat"
    else:
        ipv4 = "native"
    servers = resolvers() if ipv4 != "native" else []
    prefix = await by_dns(servers, timeout=timeout) if servers else None
    return HostPaths(
        ipv4=ipv4,
        ipv4_interface=v4_if,
        ipv6="native" if v6_if else "none",
        ipv6_interface=v6_if,
        nat64_prefix=str(prefix) if prefix else None,
        nat64_learnt="ipv4only.arpa (RFC 7050)" if prefix else None,
    )
