"""The dual-stack echo service behind ``ipv6 dualstack serve``.

TCP and UDP on one port, IPv4 and IPv6 through one AF_INET6 socket each; it
tells every peer how it was seen. It is a service the toolkit's users point
unfriendly clients at (Happy Eyeballs resets the attempt that lost the race),
so its rules are:

- Nothing a peer does ends the service: a reset, a silent connection, junk of
  any size, a flood. Each such event ends at most that one exchange and is
  counted (:class:`EchoCounters`).
- Every resource is bounded and the bound is visible: at most
  ``max_connections`` TCP connections at once (past it a new one gets one
  ``busy`` line and is closed, and counted as refused); a connection idle for
  ``idle_timeout`` seconds is closed; UDP replies that would block are
  dropped and counted instead of queueing.
- When the process runs out of file descriptors (EMFILE, ENFILE) or kernel
  memory, accepting pauses for a moment and resumes, as trio's own
  ``serve_listeners`` does.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from .._errors import BadInput
from .._result import counts_text
from ._dualsockets import DualStackUDP, Received, open_listener
from ._dualstack import Kind, display

DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_IDLE_TIMEOUT = 60.0
ACCEPT_PAUSE = 0.1  # seconds to wait after accept() ran out of descriptors (as trio does)
BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
CHUNK = 65536
SPARE_DESCRIPTORS = 32  # kept free for the listeners, UDP and the runtime
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_RESET = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass
class EchoCounters:
    """What the service saw; ``errors`` names the errno of each failure counted."""

    tcp_accepted: int = 0
    tcp_refused: int = 0  # over the connection limit: a busy line, then closed
    tcp_closed: int = 0  # the peer closed (FIN)
    tcp_reset: int = 0  # reset by the peer, or it vanished while we sent
    tcp_timed_out: int = 0  # idle for the idle timeout
    tcp_failed: int = 0  # any other socket error
    tcp_active: int = 0
    tcp_peak: int = 0
    tcp_bytes: int = 0  # echoed
    accept_paused: int = 0  # accept() ran out of descriptors or memory and waited
    accept_failed: int = 0  # a connection that died in the queue (ECONNABORTED, ...)
    udp_received: int = 0
    udp_replied: int = 0
    udp_truncated: int = 0  # larger than the receive buffer: echoed cut short
    udp_reply_dropped: int = 0  # the send queue was full, or the send failed
    udp_failed: int = 0  # receive errors (ICMP errors queued on the socket, ...)
    udp_kernel_dropped: int = 0  # dropped by the kernel, the socket's queue full (SO_RXQ_OVFL)
    errors: Counter[str] = field(default_factory=Counter)

    def failed(self, exc: OSError) -> None:
        self.errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "errors"}
        return {**data, "errors": dict(sorted(self.errors.items()))}

    def summary(self) -> str:
        errors = counts_text(self.errors)
        return (
            f"TCP accepted {self.tcp_accepted}, refused {self.tcp_refused} (busy), "
            f"closed {self.tcp_closed}, reset {self.tcp_reset}, timed out {self.tcp_timed_out}, "
            f"failed {self.tcp_failed}, active {self.tcp_active} (peak {self.tcp_peak}); "
            f"accept paused {self.accept_paused}, failed {self.accept_failed}; "
            f"UDP received {self.udp_received}, replied {self.udp_replied}, "
            f"truncated {self.udp_truncated}, replies dropped {self.udp_reply_dropped}, "
            f"dropped by the kernel {self.udp_kernel_dropped}, "
            f"failed {self.udp_failed}" + (f"; errors: {errors}" if errors else "")
        )


def connection_capacity(wanted: int) -> tuple[int, str | None]:
    """How many connections the descriptor limit allows (raising the soft limit
    to the hard one first), and a note when that is fewer than ``wanted``."""
    if wanted < 1:
        raise BadInput(f"--max-connections {wanted}: must be at least 1")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > soft):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted, None
    room = max(1, soft - SPARE_DESCRIPTORS)
    if room >= wanted:
        return wanted, None
    return room, (
        f"the file descriptor limit ({soft}) allows {room} concurrent connections, "
        f"not {wanted}: using {room}"
    )


def describe(protocol: str, peer: tuple[Any, ...], local: str) -> dict[str, Any]:
    raw = str(peer[0])
    plain = display(raw)
    return {
        "event": "peer",
        "protocol": protocol,
        "family": "IPv4" if ":" not in plain else "IPv6",
        "peer": plain,
        "peer_raw": raw,
        "peer_port": peer[1],
        "local": display(local),
    }


class EchoService:
    """Run with :meth:`serve`; read :attr:`counters` at any time."""

    def __init__(
        self,
        port: int,
        report: Callable[[dict[str, Any]], None],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if idle_timeout <= 0:
            raise BadInput(f"--idle-timeout {idle_timeout}: must be more than 0 seconds")
        self.port = port
        self.report = report
        self.max_connections, note = connection_capacity(max_connections)
        self.idle_timeout = idle_timeout
        self.counters = EchoCounters()
        self.notes = [note] if note else []

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        tcp = open_listener(Kind.DUAL, socket.SOCK_STREAM, self.port, backlog=BACKLOG)
        try:
            udp = DualStackUDP(tcp.getsockname()[1])
        except BaseException:
            tcp.close()
            raise
        for note in self.notes + udp.notes:
            self.report({"event": "note", "text": note})
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._accept_loop, tcp, nursery)
                nursery.start_soon(self._udp_loop, udp)
                task_status.started(tcp.getsockname()[1])
        finally:
            trio.lowlevel.notify_closing(tcp)
            tcp.close()
            udp.close()

    # -- TCP --

    async def _accept_loop(self, tcp: trio.socket.SocketType, nursery: trio.Nursery) -> None:
        counters = self.counters
        while True:
            try:
                conn, peer = await tcp.accept()
            except OSError as exc:
                counters.failed(exc)
                if exc.errno in _OUT_OF_RESOURCES:
                    counters.accept_paused += 1
                    await trio.sleep(ACCEPT_PAUSE)
                else:
                    counters.accept_failed += 1
                continue
            if counters.tcp_active >= self.max_connections:
                counters.tcp_refused += 1
                await self._refuse(conn)
                continue
            counters.tcp_accepted += 1
            counters.tcp_active += 1
            counters.tcp_peak = max(counters.tcp_peak, counters.tcp_active)
            nursery.start_soon(self._handle, conn, peer)

    async def _refuse(self, conn: trio.socket.SocketType) -> None:
        with conn:
            busy = f"busy: {self.max_connections} connections already, try again later\n"
            # A new socket's send buffer is empty, so this does not wait; the
            # deadline only bounds the accept loop's pause if it ever did.
            with trio.move_on_after(1.0), contextlib.suppress(OSError):
                await conn.send(busy.encode())

    async def _handle(self, conn: trio.socket.SocketType, peer: tuple[Any, ...]) -> None:
        counters = self.counters
        try:
            with conn:
                info = describe("TCP", peer, str(conn.getsockname()[0]))
                self.report(info)
                greeting = (
                    f"you are {info['family']} {info['peer']} port {info['peer_port']}, "
                    f"reached {info['local']}\n"
                ).encode()
                if not await self._send_all(conn, greeting):
                    return
                while True:
                    data = None
                    with trio.move_on_after(self.idle_timeout):
                        data = await conn.recv(CHUNK)
                    if data is None:
                        counters.tcp_timed_out += 1
                        return
                    if not data:
                        counters.tcp_closed += 1
                        return
                    counters.tcp_bytes += len(data)
                    if not await self._send_all(conn, data):
                        return
        except _RESET:
            counters.tcp_reset += 1
        except OSError as exc:
            counters.tcp_failed += 1
            counters.failed(exc)
        finally:
            counters.tcp_active -= 1

    async def _send_all(self, conn: trio.socket.SocketType, data: bytes) -> bool:
        """Send everything; False (and counted) if the peer took no byte for the idle time."""
        view = memoryview(data)
        with trio.move_on_after(self.idle_timeout) as scope:
            while view:
                view = view[await conn.send(view) :]
        if scope.cancelled_caught:
            self.counters.tcp_timed_out += 1
            return False
        return True

    # -- UDP --

    async def _udp_loop(self, udp: DualStackUDP) -> None:
        counters = self.counters
        while True:
            try:
                batch = await udp.receive_batch()
            except OSError as exc:  # an ICMP error queued on the socket, say
                counters.udp_failed += 1
                counters.failed(exc)
                await trio.lowlevel.checkpoint()
                continue
            for got in batch:
                self._answer(udp, got)

    def _answer(self, udp: DualStackUDP, got: Received) -> None:
        counters = self.counters
        counters.udp_received += 1
        if got.dropped is not None:
            counters.udp_kernel_dropped = got.dropped
        if got.truncated:
            counters.udp_truncated += 1
        self.report(describe("UDP", got.peer, got.local))
        try:
            sent = udp.reply_nowait(got, got.data)
        except OSError as exc:
            counters.failed(exc)
            sent = False
        if sent:
            counters.udp_replied += 1
        else:
            counters.udp_reply_dropped += 1
