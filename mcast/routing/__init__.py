"""Multicast across routers and switches: static routes (their plan, the routing
daemon, the command's calls), the IGMP/MLD proxy, the two forwarding planes
(the kernel's and the userspace one), and what a snooping bridge learnt.

Modules: ``_bridges``, ``_kernelplane``, ``_mdb``, ``_mforward``, ``_mroutes``,
``_planes``, ``_proxy``, ``_proxyplan``, ``_routed``, ``_routing``, ``_userplane``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "Route": "_mroutes",
    "check_route": "_mroutes",
    "add_route": "_routing",
    "delete_route": "_routing",
    "set_routes": "_routing",
    "show_routes": "_routing",
    "plane_status": "_routing",
    "RouteRow": "_routing",
    "PlaneStatus": "_routing",
    "Proxy": "_proxy",
    "ProxyConfig": "_proxy",
    "run_proxy": "_proxy",
    "read_mdb": "_bridges",
    "BridgeMdb": "_bridges",
    "Forwarder": "_mforward",
}
__all__ = [
    "BridgeMdb",
    "Forwarder",
    "PlaneStatus",
    "Proxy",
    "ProxyConfig",
    "Route",
    "RouteRow",
    "add_route",
    "check_route",
    "delete_route",
    "plane_status",
    "read_mdb",
    "run_proxy",
    "set_routes",
    "show_routes",
]
__getattr__ = loader(__name__, _LAZY)
