"""Static multicast routes of this network namespace: add, delete, show.

The routes wanted live in the namespace's routes file; the routing daemon
(:mod:`._routed`) holds the kernel's routing sockets and installs them. A
change is checked whole here before anything is written (interfaces that
exist and can carry multicast, the plan of slots and entries), then the
daemon is started or signalled and its status awaited: the call returns once
the kernel has the routes, or raises with the kernel's reason after putting
the routes file back as it was, so nothing is left half-installed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
from dataclasses import dataclass
from typing import Any

from ipv6 import Result
from ipv6.daemons import read_json, write_json

from .._errors import McastBadInput, McastError
from . import _routed
from ._mroutes import Plan, Route, plan


@dataclass
class Outbound(Result):
    """An outbound interface of a route, and its TTL threshold."""

    interface: str
    ttl_threshold: int


@dataclass
class RouteRow(Result):
    """One route as ``mcast route show`` prints it, with its plane's counters."""

    group: str
    source: str | None
    inbound: str
    outbound: list[Outbound]
    installed: bool
    packets: int | None
    bytes: int | None
    wrong_interface: int | None
    plane: str | None  # kernel, ebpf, userspace; None when no daemon holds it


@dataclass
class PlaneStatus(Result):
    """One IP version's forwarding plane, as ``mcast route status`` prints it."""

    family: int
    plane: str  # kernel, ebpf, userspace
    why: str  # why this plane
    forwarded: int | None  # datagrams forwarded (the userspace plane counts them)
    copies: int | None  # copies sent out (one per outbound interface)
    dropped: dict[str, int]  # by reason
    upcalls: int | None  # the kernel's notes of datagrams with no route
    kernel_plane: dict[str, Any] | None = None  # the eBPF plane: what its programs counted


def interfaces() -> dict[str, tuple[int, bool]]:
    """Interface name -> (index, can carry multicast), in this namespace."""
    import socket

    import psutil

    stats = psutil.net_if_stats()
    return {
        name: (index, "multicast" in (stats[name].flags if name in stats else "").split(","))
        for index, name in socket.if_nameindex()
    }


def _check_interfaces(route: Route) -> None:
    here = interfaces()
    for name in [route.inbound, *(n for n, _ in route.outbound)]:
        if name not in here:
            raise McastBadInput(f"no interface {name} here")
        if not here[name][1]:
            raise McastBadInput(f"{name} cannot carry multicast (no MULTICAST flag)")


def _wanted() -> tuple[list[Route], int, str]:
    """The routes wanted now, and the plane asked for. Routes live only while the
    daemon runs: without it the file is a stopped daemon's, and no route is wanted."""
    data = read_json(_routed.routes_path(), "multicast routes")
    generation = int(data.get("generation", 0))
    if _daemon_pid() is None:
        return [], generation, "auto"
    return _routed.load_routes(), generation, str(data.get("plane", "auto"))


def _write(routes: list[Route], generation: int, plane: str) -> None:
    write_json(_routed.routes_path(), {
        "generation": generation,
        "plane": plane,
        "routes": [
            {"group": r.group, "source": r.source, "inbound": r.inbound,
             "outbound": [list(o) for o in r.outbound]}
            for r in sorted(routes, key=_order)
        ],
    }, "multicast routes")  # fmt: skip


def _status() -> dict[str, Any]:
    return _routed.DAEMON.load_status()


def _daemon_pid() -> int | None:
    pid = _status().get("pid")
    return int(pid) if pid is not None and _routed.DAEMON.alive(pid) else None


def _apply(routes: list[Route], before: list[Route], generation: int, plane: str,
           old_plane: str) -> None:  # fmt: skip
    """Write ``routes`` and have the daemon install them; on its refusal, put
    ``before`` back and raise the daemon's reason."""
    from ._planes import choose

    for family in sorted({r.family for r in routes}):
        choose(plane, family, "mcast route")  # a plane the kernel lacks: refused here, at once
    _write(routes, generation, plane)
    pid = _daemon_pid()
    if pid is None and not routes:
        return
    daemon = _routed.DAEMON
    started = daemon.start_or_reload(pid or 0)
    if started is not None:
        pid = started.pid
    assert pid is not None

    def applied(status: dict[str, Any]) -> bool | str:
        if status.get("generation") != generation:
            return False
        if started is not None and status.get("pid") != started.pid:
            return False
        return str(status["error"]) if status.get("error") else True

    try:
        daemon.wait(applied, pid, started)
    except McastError:
        _write(before, generation + 1, old_plane)  # as it was; a running daemon follows
        pid = _daemon_pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
        raise


def need_privilege(what: str = "multicast routes") -> None:
    from ipv6 import NeedsPrivilege, missing_privileges

    missing = missing_privileges(("CAP_NET_ADMIN", "CAP_NET_RAW"))  # MRT_INIT, a raw socket
    if missing:
        raise NeedsPrivilege(what, missing)


def _one_at_a_time() -> contextlib.AbstractContextManager[None]:
    """One change of this namespace's routes at a time (read, write, await the daemon)."""
    from ipv6.daemons import locked

    return locked(_routed.routes_path())


def _plane_for(asked: str | None, held: str) -> str:
    """The plane a change runs on: the one asked for, else the one the routes here
    already use (``auto`` for the first route)."""
    from ._planes import PLANES

    if asked is None:
        return held
    if asked not in PLANES:
        raise McastBadInput(f"--plane {asked!r}: choose auto, kernel, ebpf or userspace")
    return asked


def add_route(route: Route, plane: str | None = None) -> None:
    """Install ``route`` (replacing one of the same group, source and inbound
    interface), on ``plane`` (auto, kernel, ebpf, userspace; None: as the routes here)."""
    need_privilege()
    _check_interfaces(route)
    with _one_at_a_time():
        before, generation, held = _wanted()
        routes = [r for r in before if r.key != route.key] + [route]
        plan(routes, {name: index for name, (index, _) in interfaces().items()})  # early
        _apply(routes, before, generation + 1, _plane_for(plane, held), held)


def set_routes(routes: list[Route], plane: str | None = None) -> None:
    """Make ``routes`` this namespace's routes, all at once (a routes file's
    transaction): checked whole, then installed, or nothing changes."""
    need_privilege()
    keys = [r.key for r in routes]
    if len(set(keys)) != len(keys):
        raise McastBadInput("two routes have one group, source and inbound interface")
    for route in routes:
        _check_interfaces(route)
    with _one_at_a_time():
        before, generation, held = _wanted()
        plan(routes, {name: index for name, (index, _) in interfaces().items()})  # early
        _apply(routes, before, generation + 1, _plane_for(plane, held), held)


def delete_route(group: str, source: str | None, inbound: str) -> None:
    """``mcast route delete``: the route for (``source`` or *, ``group``) arriving on
    ``inbound`` removed from the routing daemon's table. McastBadInput when there is
    no such route."""
    need_privilege()
    key = (str(ipaddress.ip_address(group)), source and str(ipaddress.ip_address(source)), inbound)
    with _one_at_a_time():
        before, generation, held = _wanted()
        routes = [r for r in before if r.key != key]
        if len(routes) == len(before):
            origin = f"({source or '*'}, {group})"
            raise McastBadInput(f"no route for {origin} from {inbound}")
        _apply(routes, before, generation + 1, held, held)


def _fresh_status() -> dict[str, Any]:
    """The daemon's status, written at our asking (its userspace counters move)."""

    pid = _daemon_pid()
    if pid is None:
        return _status()
    return _routed.DAEMON.ask_status(pid)


def show_routes() -> list[RouteRow]:
    """``mcast route show``: each route asked for, whether the daemon has it installed,
    by which plane (kernel or userspace), with its packet counters."""
    routes, _, _ = _wanted()
    running = _daemon_pid() is not None
    status = _fresh_status() if running else {}
    installed = {(e["group"], e["source"]) for e in status.get("entries", [])} if running else set()
    planes = {int(f): p.get("plane") for f, p in status.get("planes", {}).items()}
    from ._kernelplane import kernel_counters

    counters = kernel_counters()
    for c in status.get("counters", []):
        counters[c["group"], c["origin"]] = (c["packets"], c["bytes"], c["wrong_interface"])
    rows = []
    for r in sorted(routes, key=_order):
        count = counters.get((r.group, r.source or ("0.0.0.0" if ":" not in r.group else "::")))
        rows.append(RouteRow(
            group=r.group, source=r.source, inbound=r.inbound,
            outbound=[Outbound(n, t) for n, t in r.outbound],
            installed=(r.group, r.source) in installed,
            packets=count[0] if count else None, bytes=count[1] if count else None,
            wrong_interface=count[2] if count else None,
            plane=planes.get(r.family) if running else None,
        ))  # fmt: skip
    return rows


def plane_status() -> list[PlaneStatus]:
    """Each IP version's plane that forwards routes here, with what it counted."""
    if _daemon_pid() is None:
        return []
    status = _fresh_status()
    asked = str(read_json(_routed.routes_path(), "multicast routes").get("plane", "auto"))
    out = []
    for family_text, p in sorted(status.get("planes", {}).items()):
        family = int(family_text)
        kind = str(p.get("plane"))
        if p.get("why"):
            why = str(p["why"])
        elif kind == "kernel":
            why = f"the kernel has IPv{family} multicast routing"
        elif asked == "userspace":
            why = "asked for (--plane userspace)"
        else:
            why = f"the kernel has no IPv{family} multicast routing"
        out.append(PlaneStatus(family, kind, why, p.get("forwarded"), p.get("copies"),
                               dict(p.get("dropped", {})), p.get("upcalls"),
                               p.get("kernel_plane")))  # fmt: skip
    return out


def _order(route: Route) -> tuple[str, str, str]:
    return (route.group, route.source or "", route.inbound)


def routes_plan() -> Plan:
    """What the daemon holds now (for tests and ``show``)."""
    routes, _, _ = _wanted()
    return plan(routes, {name: index for name, (index, _) in interfaces().items()})
