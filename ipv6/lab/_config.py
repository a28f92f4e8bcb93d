"""A lab as frozen data: hosts, links and their endpoints, routes and settings,
and the limits a lab file is checked against (:mod:`._configread` reads and
checks the file; the format is documented in docs/lab-format.md)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from . import _sysctl

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RouteType = Literal["unicast", "multicast", "blackhole", "unreachable", "prohibit"]

IFNAMSIZ = 15  # the kernel's limit on an interface name, not counting the NUL
RESERVED_IFNAMES = frozenset({"lo", "all", "default"})  # names of the kernel's own
LAB_NAME_MAX = 16
HOST_NAME_MAX = IFNAMSIZ  # a host's name is also its port name on a bridge
IPV6_MIN_MTU = 1280
ROUTE_TABLES = {"main": 254, "local": 255}
ROUTE_TYPES: tuple[RouteType, ...] = (
    "unicast",
    "multicast",
    "blackhole",
    "unreachable",
    "prohibit",
)


@dataclass(frozen=True)
class Setting:
    """One sysctl to write: the resolved target and the text to write."""

    name: str
    target: _sysctl.SysctlTarget
    value: str


@dataclass(frozen=True)
class Endpoint:
    """One host's interface on a link."""

    host: str
    ifname: str
    addresses: tuple[IPInterface, ...] = ()
    dad: bool = True
    mac: str | None = None
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class Link:
    """A veth pair between two hosts, or a bridge joining three or more."""

    name: str
    endpoints: tuple[Endpoint, ...]
    mtu: int | None = None
    snooping: bool = False
    querier: bool = False  # the bridge's own IGMP querier (from 0.0.0.0)
    router_ports: tuple[str, ...] = ()  # hosts whose ports always get all multicast
    description: str = ""

    @property
    def kind(self) -> Literal["veth", "bridge"]:
        return "veth" if len(self.endpoints) == 2 else "bridge"


@dataclass(frozen=True)
class Route:
    """A route in one host."""

    to: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None
    table: int | None = None
    src: IPAddress | None = None
    type: RouteType = "unicast"

    @property
    def family(self) -> int:
        return self.to.version

    def describe(self) -> str:
        words = ["default" if self.to.prefixlen == 0 else str(self.to)]
        if self.type != "unicast":
            words.insert(0, self.type)
        if self.via is not None:
            words += ["via", str(self.via)]
        if self.dev is not None:
            words += ["dev", self.dev]
        if self.metric is not None:
            words += ["metric", str(self.metric)]
        if self.table is not None:
            words += ["table", str(self.table)]
        return " ".join(words)


@dataclass(frozen=True)
class MulticastRoute:
    """A static multicast route of a host, installed by ``mcast route``."""

    group: IPAddress
    source: IPAddress | None
    inbound: str
    outbound: tuple[tuple[str, int], ...]  # (interface, TTL threshold)

    def line(self) -> str:
        """The route as a line of ``mcast route load``'s file."""
        words = [str(self.group)]
        if self.source is not None:
            words += ["--source", str(self.source)]
        words += ["--in", self.inbound]
        for name, ttl in self.outbound:
            words += ["--out", f"{name}:{ttl}"]
        return " ".join(words)


@dataclass(frozen=True)
class MulticastProxy:
    """An IGMP/MLD proxy a host runs (``mcast proxy``) while the lab is up."""

    upstream: str
    downstream: tuple[str, ...]
    igmp_version: int = 3  # 0: no IGMP
    mld_version: int = 2  # 0: no MLD

    def arguments(self) -> tuple[str, ...]:
        args = ["--upstream", self.upstream]
        for name in self.downstream:
            args += ["--downstream", name]
        args += ["--igmp-version", str(self.igmp_version), "--mld-version", str(self.mld_version)]
        return tuple(args)


@dataclass(frozen=True)
class Host:
    """A host of the lab: one network namespace."""

    name: str
    settings: tuple[Setting, ...] = ()
    routes: tuple[Route, ...] = ()
    description: str = ""
    multicast_routes: tuple[MulticastRoute, ...] = ()
    proxy: MulticastProxy | None = None


@dataclass(frozen=True)
class LabConfig:
    """A whole lab, checked: every name resolves and nothing collides."""

    name: str
    hosts: tuple[Host, ...]
    links: tuple[Link, ...]
    description: str = ""
    source: str = "<lab>"
    _by_host: dict[str, Host] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_host.update({h.name: h for h in self.hosts})

    def host(self, name: str) -> Host:
        return self._by_host[name]

    def endpoints_of(self, host: str) -> list[tuple[Link, Endpoint]]:
        """The host's interfaces, in the order the file gives its links."""
        return endpoints_on(self.links, host)


def endpoints_on(links: Sequence[Link], host: str) -> list[tuple[Link, Endpoint]]:
    return [(link, ep) for link in links for ep in link.endpoints if ep.host == host]
