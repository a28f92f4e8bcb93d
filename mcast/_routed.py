"""The multicast routing daemon: the process that holds a namespace's routing sockets.

The kernel keeps multicast routes only while a process holds the multicast
routing socket (MRT_INIT on a raw IGMP socket for IPv4, MRT6_INIT on a raw
ICMPv6 socket for IPv6), and drops them all when it closes. ``mcast route``
writes the routes wanted to this namespace's routes file and starts this
daemon, or signals it (SIGHUP) to read the file again; the daemon takes the
kernel from the routes it installed to the routes wanted (:mod:`._mroutes`),
writes what it holds to the status file, and exits when no route is left.

It also reads the kernel's upcalls (a datagram for a group with no route),
so that their queue never fills, and counts them.

    python -m mcast._routed
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import sys
from typing import Any

import trio

from ipv6 import Ipv6Error
from ipv6.daemons import namespace_file, read_json, run_daemon, say, signal_receiver, write_json
from ipv6.sockopts import SO_RCVBUFFORCE

from ._errors import McastError
from ._mroutes import SOL_IP, SOL_IPV6, Op, Plan, Route, changes, plan

NAME = "multicast routing daemon"
MODULE = "mcast._routed"
MRT_INIT = 200  # MRT6_INIT too: the same number at the IPv6 level
UPCALL_BUFFER = 4 << 20
_GONE = (errno.ENOENT, errno.EADDRNOTAVAIL, errno.EINVAL)


def routes_path() -> Any:
    return namespace_file("mroutes", ".json")


def status_path() -> Any:
    return namespace_file("mroutes-status", ".json")


def log_path() -> Any:
    return namespace_file("mroutes", ".log")


def load_routes() -> list[Route]:
    """The routes wanted, as ``mcast route`` wrote them."""
    data = read_json(routes_path(), "multicast routes")
    return [
        Route(r["group"], r["source"], r["inbound"], tuple((n, t) for n, t in r["outbound"]))
        for r in data.get("routes", [])
    ]


def open_routing_socket(family: int) -> socket.socket:
    """The routing socket of ``family``; McastError when another daemon has it."""
    if family == 4:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        level = SOL_IP
    else:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        level = SOL_IPV6
    try:
        sock.setsockopt(level, MRT_INIT, 1)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise McastError(
                f"another multicast routing daemon (smcroute, pimd, igmpproxy?) holds the "
                f"IPv{family} routing socket in this namespace"
            ) from None
        raise
    # Room for a burst of upcalls (each a datagram's note, or a whole IGMP message)
    # while the reader is busy: a lost upcall leaves the kernel's unresolved entry
    # waiting out its 10 s, and the kernel keeps only a few of those.
    if SO_RCVBUFFORCE is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, UPCALL_BUFFER)
    sock.setblocking(False)
    return sock


def apply_op(sockets: dict[int, socket.socket], op: Op) -> bool:
    """Give the kernel one operation through the routing socket of its family
    (opened on first use); False when a deletion found its object gone already."""
    sock = sockets.get(op.family)
    if sock is None:
        sock = sockets[op.family] = open_routing_socket(op.family)
    try:
        sock.setsockopt(op.level, op.option, op.value)
    except OSError as exc:
        if op.action.startswith("delete") and exc.errno in _GONE:
            return False  # gone already (its interface went)
        raise McastError(f"the kernel refused to {op.text}: {exc.strerror}") from None
    return True


class Daemon:
    def __init__(self) -> None:
        self.sockets: dict[int, socket.socket] = {}
        self.applied = Plan()
        self.upcalls = 0
        self.generation = -1

    def reconcile(self) -> bool:
        """Take the kernel to the routes file; False when no route is left."""
        try:
            data = read_json(routes_path(), "multicast routes")
            generation = int(data.get("generation", 0))
            routes = load_routes()
        except (Ipv6Error, ValueError, KeyError, TypeError) as exc:  # kept as it is
            say(NAME, f"the routes file is unreadable ({exc}): the routes stay as they are")
            self.write_status(f"the routes file is unreadable: {exc}")
            return bool(self.applied.entries)
        error = None
        wanted = None
        try:
            wanted = plan(routes, _indexes(), keep=self.applied)
            for op in changes(self.applied, wanted):
                self.apply(op)
            self.applied = wanted
        except McastError as exc:
            error = str(exc)
            say(NAME, f"routes file generation {generation} not applied: {error}")
            if wanted is not None:  # nothing half-installed: back to what was applied
                for op in changes(wanted, self.applied):
                    with contextlib.suppress(McastError, OSError):
                        self.apply(op)
        self.generation = generation
        self.write_status(error)
        return bool(self.applied.entries)

    def apply(self, op: Op) -> None:
        if apply_op(self.sockets, op):
            say(NAME, op.text)

    def write_status(self, error: str | None) -> None:
        write_json(status_path(), {
            "pid": _pid(),
            "generation": self.generation,
            "error": error,
            "upcalls": self.upcalls,
            "slots": [vars(s) for s in self.applied.slots.values()],
            "entries": [
                {"family": e.family, "source": e.source, "group": e.group}
                for e in self.applied.entries.values()
            ],
        }, "multicast routing status")  # fmt: skip

    async def drain(self, sock: socket.socket) -> None:
        """Read the kernel's upcalls (no route for a datagram): counted, not acted on."""
        while True:
            try:
                sock.recv(65536)
                self.upcalls += 1
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
            except OSError:
                await trio.sleep(0.1)


def _indexes() -> dict[str, int]:
    return {name: index for index, name in socket.if_nameindex()}


def _pid() -> int:
    import os

    return os.getpid()


async def serve() -> int:
    daemon = Daemon()
    with signal_receiver(signal.SIGHUP, signal.SIGTERM) as signals:
        if not daemon.reconcile():
            return 0
        async with trio.open_nursery() as nursery:
            watched: set[int] = set()

            def watch() -> None:
                for family, sock in daemon.sockets.items():
                    if family not in watched:
                        watched.add(family)
                        nursery.start_soon(daemon.drain, sock)

            watch()
            async for signum in signals:
                if signum == signal.SIGTERM:
                    say(NAME, "SIGTERM: the routes go with the routing sockets")
                    break
                if not daemon.reconcile():
                    say(NAME, "no route left")
                    break
                watch()
            nursery.cancel_scope.cancel()
    for sock in daemon.sockets.values():
        sock.close()
    daemon.applied = Plan()
    daemon.write_status(None)
    return 0


def main() -> int:
    return run_daemon(NAME, lambda: trio.run(serve))


if __name__ == "__main__":
    sys.exit(main())
