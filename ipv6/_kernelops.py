"""Changes to a network stack, as data: the one set of kernel operations that
labs, netsh and tunnels plan, and :mod:`ipv6._netlink` carries out.

Rules of this module:
- Pure: frozen dataclasses and nothing else. A planner (``lab._plan``,
  ``netsh._ops``) returns them; the executor applies them and hands back the
  operations that undo each one, so a caller can make a transaction of them.
- An interface is its index, or its name when the interface does not exist
  yet at planning time (a lab's veth end, a tunnel a script makes): the
  executor resolves a name when it applies the operation.
- A sysctl path is relative to /proc/sys, with slashes (``net/ipv6/conf/all/forwarding``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Interface = int | str  # an index, or a name resolved when the operation is applied

INFINITE = 0xFFFFFFFF  # a lifetime that never ends (ND's all-ones)
ROUTE_KINDS = {"unicast": 1, "multicast": 5, "blackhole": 6, "unreachable": 7, "prohibit": 8}


@dataclass(frozen=True)
class AddAddress:
    interface: Interface
    address: IPInterface
    valid: int = INFINITE
    preferred: int = INFINITE
    anycast: bool = False
    replace: bool = False  # set address: change the lifetimes of an existing one
    dad: bool = True  # False: IFA_F_NODAD, usable at once (IPv6)
    broadcast: bool = False  # IPv4: give it the subnet's broadcast address, as `ip addr add brd +`


@dataclass(frozen=True)
class DeleteAddress:
    interface: Interface
    address: IPInterface


@dataclass(frozen=True)
class AddRoute:
    prefix: IPNetwork
    interface: Interface | None  # None: a route with no device (a blackhole, say)
    gateway: IPAddress | None = None
    metric: int | None = None
    expires: int | None = None  # seconds, for a finite valid lifetime
    replace: bool = False
    table: int | None = None  # None: the main table
    kind: str = "unicast"  # a key of ROUTE_KINDS
    source: IPAddress | None = None  # the preferred source address


def tunnel_next_hop(gateway: IPAddress | None) -> bool:
    """An IPv4-compatible IPv6 next hop (``::a.b.c.d``): the seeds' way of routing
    through a tunnel to the IPv4 host a.b.c.d (``ipv6 rtu ::/0 2::131.107.152.32``).
    Nothing is a neighbour there, so the route is installed on-link (RTNH_F_ONLINK);
    the tunnel encapsulates."""
    if gateway is None or gateway.version != 6:
        return False
    value = int(gateway)
    return value >> 32 == 0 and value > 0xFFFF


@dataclass(frozen=True)
class DeleteRoute:
    prefix: IPNetwork
    interface: Interface | None
    gateway: IPAddress | None = None
    metric: int | None = None


@dataclass(frozen=True)
class AddNeighbor:
    interface: Interface
    address: IPAddress
    lladdr: str


@dataclass(frozen=True)
class DeleteNeighbor:
    interface: Interface
    address: IPAddress | None  # None: every permanent entry on the interface


@dataclass(frozen=True)
class AddProxyNeighbor:
    """Answer neighbour solicitations for ``address`` on ``interface`` (NTF_PROXY),
    as a CLAT does for its own IPv6 address; needs proxy_ndp on the interface."""

    interface: Interface
    address: IPAddress


@dataclass(frozen=True)
class DeleteProxyNeighbor:
    interface: Interface
    address: IPAddress


@dataclass(frozen=True)
class FlushDestinations:
    family: str  # "ipv4" or "ipv6"


@dataclass(frozen=True)
class WriteSysctl:
    path: str
    value: str


@dataclass(frozen=True)
class SetLinkMtu:
    interface: Interface
    mtu: int


@dataclass(frozen=True)
class SetLinkState:
    interface: Interface
    up: bool = True


@dataclass(frozen=True)
class AddSitLink:
    """A sit device (6to4, 6in4, 6rd in the kernel): TTL inherited and PMTU
    discovery off, so that the outer DF bit stays clear (RFC 3056)."""

    name: str
    local: str  # an IPv4 address
    remote: str = "0.0.0.0"  # 0.0.0.0: any (6to4, 6rd)
    sixrd: tuple[str, int, str, int] | None = None  # prefix, its length, relay prefix, length


@dataclass(frozen=True)
class AddBridge:
    """A bridge; with ``snooping``, IGMP/MLD snooping (and ``querier``, its own queries)."""

    name: str
    snooping: bool = False
    querier: bool = False


@dataclass(frozen=True)
class AddVeth:
    """A veth pair: ``name`` here, ``peer`` in the namespace whose file descriptor
    is ``peer_netns_fd`` (the caller's, open while the operation runs)."""

    name: str
    peer: str
    peer_netns_fd: int
    mac: str | None = None
    peer_mac: str | None = None


@dataclass(frozen=True)
class SetLinkMaster:
    """An interface joins a bridge (``master``); None: it leaves its bridge."""

    interface: Interface
    master: Interface | None


@dataclass(frozen=True)
class SetBridgePortRouter:
    """A bridge port's multicast router mode (2: always a router port)."""

    interface: Interface
    mode: int = 2


@dataclass(frozen=True)
class DeleteLink:
    """A link that goes (its inverse, where it can be made again, is the caller's)."""

    interface: Interface


@dataclass(frozen=True)
class AttachTcProgram:
    """A loaded tc program (its file descriptor) on an interface's clsact hook, in
    direct-action mode, at its egress or ingress; the clsact qdisc is made if the
    interface has none (and then goes with the undo)."""

    interface: Interface
    fd: int
    name: str
    egress: bool
    priority: int = 0  # 0: the kernel picks (and the program stays until the hook goes)


@dataclass(frozen=True)
class DetachTcProgram:
    """The tc programs at one priority of an interface's clsact hook, gone (other
    programs on the hook stay)."""

    interface: Interface
    egress: bool
    priority: int


@dataclass(frozen=True)
class DeleteTcHook:
    """An interface's clsact qdisc, with every tc program on it."""

    interface: Interface


KernelOp = (
    AddAddress
    | DeleteAddress
    | AddRoute
    | DeleteRoute
    | AddNeighbor
    | DeleteNeighbor
    | AddProxyNeighbor
    | DeleteProxyNeighbor
    | FlushDestinations
    | WriteSysctl
    | SetLinkMtu
    | AddSitLink
    | AddBridge
    | AddVeth
    | SetLinkMaster
    | SetBridgePortRouter
    | DeleteLink
    | SetLinkState
    | AttachTcProgram
    | DetachTcProgram
    | DeleteTcHook
)
