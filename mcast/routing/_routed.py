"""The multicast routing daemon: the process that forwards a namespace's static routes.

``mcast route`` writes the routes wanted (and the plane asked for) to this
namespace's routes file and starts this daemon, or signals it (SIGHUP) to
read the file again. The daemon takes each IP version's plane
(:mod:`._planes`) from the routes it installed to the routes wanted
(:mod:`._mroutes`), writes what it holds to the status file, and exits when
no route is left.

On the kernel plane the routes live in the kernel while the daemon holds the
family's routing socket (MRT_INIT), which also brings the kernel's upcalls
(a datagram with no route): read so that their queue never fills, and
counted. On the userspace plane the daemon forwards itself, and its counters
(per route, and what it dropped by reason) are in the status file, written
when they move (at most once a second) and at once on SIGUSR1.

    python -m mcast.routing._routed
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from typing import Any

import trio

from ipv6 import Ipv6Error
from ipv6.daemons import Service, read_json, run_daemon, say, signal_receiver, write_json

from .._errors import McastError
from ._kernelplane import KernelPlane, of_family
from ._mroutes import Plan, Route, plan
from ._planes import choose, open_plane
from ._userplane import UserspacePlane

NAME = "multicast routing daemon"
MODULE = "mcast.routing._routed"
STATUS_EVERY = 1.0  # seconds between two status writes while the counters move


DAEMON = Service(NAME, MODULE, "mroutes", error=McastError)


def routes_path() -> Any:
    return DAEMON.state_path()


def status_path() -> Any:
    return DAEMON.status_path()


def load_routes() -> list[Route]:
    """The routes wanted, as ``mcast route`` wrote them."""
    data = read_json(routes_path(), "multicast routes")
    return [
        Route(r["group"], r["source"], r["inbound"], tuple((n, t) for n, t in r["outbound"]))
        for r in data.get("routes", [])
    ]


class Daemon:
    def __init__(self) -> None:
        self.planes: dict[int, KernelPlane | UserspacePlane] = {}
        self.applied = Plan()
        self.generation = -1
        self.written = 0
        self.error: str | None = None  # why the last routes file was not applied
        self.started: set[int] = set()

    def reconcile(self) -> bool:
        """Take the planes to the routes file; False when no route is left."""
        try:
            data = read_json(routes_path(), "multicast routes")
            generation = int(data.get("generation", 0))
            wanted_plane = str(data.get("plane", "auto"))
            routes = load_routes()
        except (Ipv6Error, ValueError, KeyError, TypeError) as exc:  # kept as it is
            say(NAME, f"the routes file is unreadable ({exc}): the routes stay as they are")
            self.error = f"the routes file is unreadable: {exc}"
            self.write_status()
            return bool(self.applied.entries)
        error = None
        wanted = None
        moved: list[int] = []  # the families whose plane took the whole move
        try:
            wanted = plan(routes, _indexes(), keep=self.applied)
            for family in sorted({r.family for r in routes}):
                self._open(family, wanted_plane)
            for family, plane in self.planes.items():
                # A refused step undoes the steps before it (ipv6.apply_steps): the
                # plane is left as it was, and the error says so.
                plane.move(of_family(self.applied, family), of_family(wanted, family))
                moved.append(family)
            self.applied = wanted
        except (McastError, Ipv6Error, OSError) as exc:
            error = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror or exc}"
            say(NAME, f"routes file generation {generation} not applied: {error}")
            if wanted is not None:  # the other families back to what was applied
                for family in moved:
                    with contextlib.suppress(McastError, Ipv6Error, OSError):
                        self.planes[family].move(of_family(wanted, family),
                                                 of_family(self.applied, family))  # fmt: skip
        self.generation = generation
        self.error = error
        self.write_status()
        return bool(self.applied.entries)

    def _open(self, family: int, wanted: str) -> None:
        held = self.planes.get(family)
        kind = choose(wanted, family, "mcast route")
        if held is not None:
            if held.name != kind and wanted != "auto":
                raise McastError(
                    f"the IPv{family} routes here run on the {held.name} plane: delete them "
                    f"before asking for the {kind} plane"
                )
            return
        plane = open_plane(kind, family, wanted=wanted)
        if isinstance(plane, KernelPlane):
            plane.said = lambda text: say(NAME, text)
        self.planes[family] = plane
        say(NAME, f"IPv{family} routes on the {plane.name} plane")

    def status(self) -> dict[str, Any]:
        counters = []
        for _, plane in sorted(self.planes.items()):
            if isinstance(plane, UserspacePlane):
                counters += [
                    {"group": group, "origin": origin, "packets": c.packets, "bytes": c.bytes,
                     "wrong_interface": c.wrong_interface}
                    for (group, origin), c in sorted(plane.counters().items())
                ]  # fmt: skip
        self.written += 1
        return {
            "pid": os.getpid(),
            "written": self.written,
            "generation": self.generation,
            "error": self.error,
            "planes": {str(f): p.status() for f, p in sorted(self.planes.items())},
            "counters": counters,
            "slots": [vars(s) for s in self.applied.slots.values()],
            "entries": [
                {"family": e.family, "source": e.source, "group": e.group}
                for e in self.applied.entries.values()
            ],
        }

    def write_status(self) -> None:
        write_json(status_path(), self.status(), "multicast routing status")

    def counters_mark(self) -> tuple[object, ...]:
        """What moves when a userspace plane forwards or drops: a new mark, a new status."""
        marks: list[object] = []
        for plane in self.planes.values():
            if isinstance(plane, UserspacePlane):
                f = plane.forwarder
                marks += [f.forwarded, f.misses, sum(f.dropped.values()),
                          sum(plane.send_errors.values())]  # fmt: skip
            else:
                marks.append(plane.upcalls)
        return tuple(marks)

    def close(self) -> None:
        for plane in self.planes.values():
            plane.close()  # kernel: the routes go with the routing socket
        self.applied = Plan()


def _indexes() -> dict[str, int]:
    return {name: index for index, name in socket.if_nameindex()}


async def _report(daemon: Daemon) -> None:
    """Write the status when the counters move (at most every STATUS_EVERY seconds)."""
    last = daemon.counters_mark()
    while True:
        await trio.sleep(STATUS_EVERY)
        mark = daemon.counters_mark()
        if mark != last:
            last = mark
            await trio.to_thread.run_sync(daemon.write_status)


async def serve() -> int:
    daemon = Daemon()
    with signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGUSR1) as signals:
        if not daemon.reconcile():
            daemon.close()
            daemon.write_status()
            return 0
        async with trio.open_nursery() as nursery:

            def watch() -> None:
                for family, plane in daemon.planes.items():
                    if family not in daemon.started:
                        daemon.started.add(family)
                        nursery.start_soon(plane.run)

            watch()
            nursery.start_soon(_report, daemon)
            async for signum in signals:
                if signum == signal.SIGTERM:
                    say(NAME, "SIGTERM: the routes go with the planes")
                    break
                if signum == signal.SIGUSR1:
                    daemon.write_status()
                    continue
                if not daemon.reconcile():
                    say(NAME, "no route left")
                    break
                watch()
            nursery.cancel_scope.cancel()
    daemon.close()
    daemon.write_status()
    return 0


def main() -> int:
    return run_daemon(NAME, lambda: trio.run(serve))


if __name__ == "__main__":
    sys.exit(main())
