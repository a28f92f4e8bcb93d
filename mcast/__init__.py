"""Multicast for scripts and labs: group membership and source filters,
socket-option encoding, IGMP/MLD, observer and querier, send and receive.

May import :mod:`ipv6`; never the other way round. The Trio part
(:func:`open_receiver`, :func:`open_sender`) loads on first use, so commands
that only read state do not pay for importing Trio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import (
    AlreadyBlocked,
    AlreadyIncluded,
    AlreadyJoined,
    JoinedAnySource,
    JoinedSourceSpecific,
    KernelRefused,
    LimitReached,
    McastBadInput,
    McastError,
    MembershipError,
    NoSuchInterface,
    NotBlocked,
    NotIncluded,
    NotJoined,
    SourceBlocked,
    UseBlockInstead,
    UseLeaveSourceInstead,
)
from .membership._membership import Call, Filter, GroupKey, Memberships, Mode

if TYPE_CHECKING:
    from ipv6 import HostJoin, read_host_joins

    from ._datagram import Datagram
    from .ping._pingclient import PingReply, PingReport, multicast_ping, resolve_target
    from .ping._pingmatrix import MatrixReport, PairReport, lab_matrix, resolve_hosts, run_agent
    from .ping._pingresponder import Responder, ResponderCounters
    from .routing._bridges import BridgeMdb, read_mdb
    from .routing._mroutes import Route, check_route
    from .routing._proxy import Happening, Proxy, ProxyConfig, run_proxy
    from .routing._routing import RouteRow, add_route, delete_route, set_routes, show_routes
    from .streams._receiver import Receiver, open_receiver
    from .streams._sender import Sender, open_sender
    from .streams._streaming import SendReport, send_stream
    from .streams._streamstats import Delay, StreamReport

__all__ = [
    "AlreadyBlocked",
    "AlreadyIncluded",
    "AlreadyJoined",
    "BridgeMdb",
    "Call",
    "Datagram",
    "Delay",
    "Filter",
    "GroupKey",
    "Happening",
    "HostJoin",
    "JoinedAnySource",
    "JoinedSourceSpecific",
    "KernelRefused",
    "LimitReached",
    "MatrixReport",
    "McastBadInput",
    "McastError",
    "MembershipError",
    "Memberships",
    "Mode",
    "NoSuchInterface",
    "NotBlocked",
    "NotIncluded",
    "NotJoined",
    "PairReport",
    "PingReply",
    "PingReport",
    "Proxy",
    "ProxyConfig",
    "Receiver",
    "Responder",
    "ResponderCounters",
    "Route",
    "RouteRow",
    "SendReport",
    "Sender",
    "SourceBlocked",
    "StreamReport",
    "UseBlockInstead",
    "UseLeaveSourceInstead",
    "add_route",
    "check_route",
    "delete_route",
    "lab_matrix",
    "multicast_ping",
    "open_receiver",
    "open_sender",
    "read_host_joins",
    "read_mdb",
    "resolve_hosts",
    "resolve_target",
    "run_agent",
    "run_proxy",
    "send_stream",
    "set_routes",
    "show_routes",
]
__version__ = "0.1.0"

_LAZY = {
    "MatrixReport": "ping._pingmatrix",
    "PairReport": "ping._pingmatrix",
    "lab_matrix": "ping._pingmatrix",
    "resolve_hosts": "ping._pingmatrix",
    "run_agent": "ping._pingmatrix",
    "PingReply": "ping._pingclient",
    "PingReport": "ping._pingclient",
    "Responder": "ping._pingresponder",
    "ResponderCounters": "ping._pingresponder",
    "Datagram": "_datagram",
    "multicast_ping": "ping._pingclient",
    "resolve_target": "ping._pingclient",
    "Receiver": "streams._receiver",
    "open_receiver": "streams._receiver",
    "Sender": "streams._sender",
    "open_sender": "streams._sender",
    "SendReport": "streams._streaming",
    "send_stream": "streams._streaming",
    "Delay": "streams._streamstats",
    "StreamReport": "streams._streamstats",
    "BridgeMdb": "routing._bridges",
    "read_mdb": "routing._bridges",
    "Route": "routing._mroutes",
    "check_route": "routing._mroutes",
    "Happening": "routing._proxy",
    "Proxy": "routing._proxy",
    "ProxyConfig": "routing._proxy",
    "run_proxy": "routing._proxy",
    "RouteRow": "routing._routing",
    "add_route": "routing._routing",
    "delete_route": "routing._routing",
    "set_routes": "routing._routing",
    "show_routes": "routing._routing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in ("HostJoin", "read_host_joins"):
        import ipv6  # the host's memberships are interface data: ipv6 reads them

        return getattr(ipv6, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
