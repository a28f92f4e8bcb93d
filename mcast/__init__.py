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
from ._membership import Call, Filter, GroupKey, Memberships, Mode

if TYPE_CHECKING:
    from ipv6 import HostJoin, read_host_joins

    from ._bridges import BridgeMdb, read_mdb
    from ._datagram import Datagram
    from ._mroutes import Route, check_route
    from ._pingclient import PingReply, PingReport, multicast_ping, resolve_target
    from ._pingmatrix import MatrixReport, PairReport, lab_matrix, resolve_hosts, run_agent
    from ._pingresponder import Responder, ResponderCounters
    from ._proxy import Happening, Proxy, ProxyConfig, run_proxy
    from ._receiver import Receiver, open_receiver
    from ._routing import RouteRow, add_route, delete_route, set_routes, show_routes
    from ._sender import Sender, open_sender

__all__ = [
    "AlreadyBlocked",
    "AlreadyIncluded",
    "AlreadyJoined",
    "BridgeMdb",
    "Call",
    "Datagram",
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
    "Sender",
    "SourceBlocked",
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
    "set_routes",
    "show_routes",
]
__version__ = "0.1.0"

_LAZY = {
    "MatrixReport": "_pingmatrix",
    "PairReport": "_pingmatrix",
    "lab_matrix": "_pingmatrix",
    "resolve_hosts": "_pingmatrix",
    "run_agent": "_pingmatrix",
    "PingReply": "_pingclient",
    "PingReport": "_pingclient",
    "Responder": "_pingresponder",
    "ResponderCounters": "_pingresponder",
    "Datagram": "_datagram",
    "multicast_ping": "_pingclient",
    "resolve_target": "_pingclient",
    "Receiver": "_receiver",
    "open_receiver": "_receiver",
    "Sender": "_sender",
    "open_sender": "_sender",
    "BridgeMdb": "_bridges",
    "read_mdb": "_bridges",
    "Route": "_mroutes",
    "check_route": "_mroutes",
    "Happening": "_proxy",
    "Proxy": "_proxy",
    "ProxyConfig": "_proxy",
    "run_proxy": "_proxy",
    "RouteRow": "_routing",
    "add_route": "_routing",
    "delete_route": "_routing",
    "set_routes": "_routing",
    "show_routes": "_routing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in ("HostJoin", "read_host_joins"):
        import ipv6  # the host's memberships are interface data: ipv6 reads them

        return getattr(ipv6, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
