"""What ``netsh ... show`` shows, one typed row per object (pure). The JSON of a
row (``--json``) is its fields, in order; the table's columns are the same,
without the interface index."""

from __future__ import annotations

from dataclasses import dataclass

from .._result import Result


@dataclass
class InterfaceRow(Result):
    ifindex: int
    name: str
    state: str
    mtu: int | None
    forwarding: bool
    advertise: bool
    advertiser: str | None  # "running", or why it stopped; None: none was started
    siteprefixlength: int | None
    dnsservers: list[str]  # advertised recursive DNS servers (RFC 8106)
    nat64prefix: str | None  # the advertised NAT64 prefix (RFC 8781)


@dataclass
class Ipv6ExeInterface(Result):
    """An interface as the seeds' ``ipv6 if`` shows it: its link-layer address,
    current and largest MTU, whether it forwards and advertises, its addresses."""

    ifindex: int
    name: str
    state: str
    lladdr: str | None
    mtu: int | None  # the IPv6 MTU in use
    link_mtu: int | None  # the most the link takes (the seeds' "true MTU")
    forwards: bool
    advertises: bool
    addresses: list[str]  # "ADDRESS/LEN state [anycast]"


@dataclass
class AddressRow(Result):
    ifindex: int
    interface: str
    address: str
    prefixlen: int
    type: str  # unicast or anycast
    state: str  # preferred, tentative, deprecated, duplicate
    validlifetime: str
    preferredlifetime: str
    static: bool
    scope: str


@dataclass
class RouteRow(Result):
    ifindex: int | None
    interface: str
    prefix: str
    nexthop: str | None
    metric: int | None
    publish: str
    expires: int | None  # seconds left, for a route that ages in the kernel
    validlifetime: str | None  # what netsh was given (advertised as such when published)
    preferredlifetime: str | None
    siteprefixlength: int | None
    origin: str  # kernel, manual, router advertisement


@dataclass
class NeighborRow(Result):
    ifindex: int
    interface: str
    address: str
    lladdr: str | None
    state: str


@dataclass
class JoinRow(Result):
    ifindex: int
    interface: str
    group: str
    mode: str
    sources: list[str]
    users: int


@dataclass
class DestinationRow(Result):
    ifindex: int | None
    destination: str | None


@dataclass
class GlobalRow(Result):
    defaultcurhoplimit: int
    neighborcachelimit: int
    routecachelimit: int
    reassemblylimit: int
    forwarding: bool


@dataclass
class SitePrefixRow(Result):
    ifindex: int | None
    interface: str
    prefix: str
    validlifetime: str


Row = (
    InterfaceRow
    | AddressRow
    | RouteRow
    | NeighborRow
    | JoinRow
    | DestinationRow
    | GlobalRow
    | SitePrefixRow
)
