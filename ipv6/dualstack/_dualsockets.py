"""Dual-stack sockets from Trio: listeners of every kind, dual-stack UDP that
replies from the address it was reached on, a Happy Eyeballs connect, the
probe matrix and a small echo service.

Trio's own open_tcp_listeners always sets IPV6_V6ONLY=1; these listeners
set the option explicitly, before bind, whatever net.ipv6.bindv6only says
(except the "system default" kind, which exists to show that setting).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from .._ancillary import (
    IP_PKTINFO,
    IPV6_RECVPKTINFO,
    SO_RXQ_OVFL,
    drop_count,
    packet_info,
    send_from,
)
from .._errors import BadInput, Ipv6Error
from .._procsys import read_sysctl_int
from .._result import Result
from ._dualstack import CONNECTION_ATTEMPT_DELAY, Kind, interleave, unmap

_TRUNC = int(socket.MSG_TRUNC)  # a plain int: an enum member's & is slow


def make_socket(kind: Kind, type: int) -> socket.socket:
    """A socket of ``kind``: the family, and IPV6_V6ONLY set before anything else."""
    family = socket.AF_INET if kind is Kind.V4ONLY else socket.AF_INET6
    sock = socket.socket(family, type)
    if kind is Kind.DUAL:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    elif kind is Kind.V6ONLY:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


def wildcard(kind: Kind) -> str:
    return "0.0.0.0" if kind is Kind.V4ONLY else "::"


def open_listener(
    kind: Kind, type: int, port: int = 0, host: str | None = None, *, backlog: int = 64
) -> trio.socket.SocketType:
    """A bound (and, for TCP, listening) Trio socket of ``kind``."""
    raw = make_socket(kind, type)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        raw.bind((host or wildcard(kind), port))
        if type == socket.SOCK_STREAM:
            raw.listen(backlog)
    except OSError as exc:
        raw.close()
        raise Ipv6Error(
            f"cannot listen on {host or wildcard(kind)} port {port}: {exc.strerror}"
        ) from exc
    return trio.socket.from_stdlib_socket(raw)


# --- dual-stack UDP with packet info ----------------------------------------------------


@dataclass(frozen=True)
class Received:
    data: bytes
    peer: tuple[Any, ...]  # as recvmsg gave it (mapped for IPv4 on a dual socket)
    local: str  # the address the datagram was sent to
    ifindex: int
    truncated: bool = False  # larger than the buffer: ``data`` is its start
    dropped: int | None = None  # the socket's drops so far (SO_RXQ_OVFL), when the kernel said

    @property
    def family(self) -> str:
        return (
            "IPv4"
            if unmap(ipaddress.ip_address(self.peer[0].split("%")[0])).version == 4
            else "IPv6"
        )


class DualStackUDP:
    """One AF_INET6 socket for both families, telling where each datagram arrived.

    IPV6_RECVPKTINFO reports IPv6 arrivals, IP_PKTINFO the IPv4 ones (the
    seeds: with only the IPv6 option, IPv4 datagrams may come without it).
    Replies go out from the address the request came to (in6_pktinfo or
    in_pktinfo in sendmsg). If IPv4 is disabled on the host, setting the
    IPPROTO_IP option fails; that is detected and the socket carries on with
    IPv6 only (:attr:`ipv4`).
    """

    def __init__(self, port: int = 0, host: str = "::") -> None:
        self.sock = make_socket(Kind.DUAL, socket.SOCK_DGRAM)
        self.notes: list[str] = []
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            if SO_RXQ_OVFL is not None:  # the kernel's drops, on every datagram
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            self.ipv4 = enable_ipv4_pktinfo(self.sock, self.notes)
            self.sock.bind((host, port))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.port = self.sock.getsockname()[1]
        self._trio = trio.socket.from_stdlib_socket(self.sock)  # the same socket, to wait on
        self._error: OSError | None = None

    async def receive(self) -> Received:
        """The next datagram, waiting for one."""
        if self._error is not None:  # read while draining a batch: raised in its turn
            error, self._error = self._error, None
            raise error
        return self._received(*await self._trio.recvmsg(65535, 256))

    async def receive_batch(self, limit: int = 64) -> list[Received]:
        """The next datagram and whatever else is already queued, up to ``limit``:
        one wait, then reads that do not wait, so a busy socket costs no scheduler
        trip per datagram (and drains faster than its queue fills)."""
        batch = [await self.receive()]
        try:
            while len(batch) < limit:
                batch.append(self._received(*self.sock.recvmsg(65535, 256)))
        except BlockingIOError:
            pass
        except OSError as exc:  # an error queued on the socket: the next receive() raises it
            self._error = exc
        return batch

    @staticmethod
    def _received(
        data: bytes, ancillary: list[tuple[int, int, bytes]], flags: int, peer: Any
    ) -> Received:
        assert isinstance(peer, tuple)  # an AF_INET6 socket's address
        local, ifindex, dropped = "", 0, None
        for level, kind, value in ancillary:
            info = packet_info(level, kind, value)
            if info is not None:
                local, ifindex = info
            else:
                dropped = drop_count(level, kind, value) if dropped is None else dropped
        truncated = bool(flags & _TRUNC)
        return Received(data, peer, local, ifindex, truncated, dropped)

    def _reply_args(self, request: Received) -> list[tuple[int, int, bytes]]:
        if not request.local:
            return []
        return [send_from(ipaddress.ip_address(request.local))]

    async def reply(self, request: Received, data: bytes) -> None:
        """Answer from the address ``request`` reached (not whatever routing would pick)."""
        await self._trio.sendmsg([data], self._reply_args(request), 0, request.peer)

    def reply_nowait(self, request: Received, data: bytes) -> bool:
        """As :meth:`reply`, but False instead of waiting when the send queue is full."""
        try:
            self.sock.sendmsg([data], self._reply_args(request), 0, request.peer)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        self._trio.close()  # notify_closing first: a task waiting in receive wakes


def enable_ipv4_pktinfo(
    sock: socket.socket, notes: list[str], *, probe: Callable[[], object] | None = None
) -> bool:
    """Turn on IP_PKTINFO; if that fails because IPv4 is disabled, note it and return False."""
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOPROTOOPT):
            raise
        try:  # the seeds' test: can an AF_INET socket be made at all?
            (probe or (lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()))()
        except OSError:
            notes.append("IPv4 is disabled on this host: carrying on with IPv6 only")
            return False
        raise
    return True


# --- Happy Eyeballs ---------------------------------------------------------------------


@dataclass
class Attempt(Result):
    address: str
    family: str
    started_ms: float
    outcome: str = "cancelled"  # connected, refused, unreachable, timed out, cancelled
    elapsed_ms: float | None = None


@dataclass
class RaceResult:
    winner: Attempt | None
    attempts: list[Attempt] = field(default_factory=list)
    stream: trio.SocketStream | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "winner": None if self.winner is None else self.winner.to_json(),
            "attempts": [a.to_json() for a in self.attempts],
        }


async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address of ``host`` (a name, an address, or addresses joined by commas),
    in resolver order, without duplicates."""
    if "," in host:
        try:
            return list(
                dict.fromkeys(ipaddress.ip_address(part.strip()) for part in host.split(","))
            )
        except ValueError:
            raise BadInput(
                f"{host!r}: a list of hosts must be addresses, separated by commas"
            ) from None
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadInput(f"cannot resolve {host!r}: {exc.strerror}") from None
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for family, *_rest, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    return found


async def happy_eyeballs(
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    port: int,
    *,
    delay: float = CONNECTION_ATTEMPT_DELAY,
    timeout: float = 5.0,
) -> RaceResult:
    """RFC 8305: start an attempt per address, ``delay`` apart (sooner when one
    fails), families alternating, IPv6 first; the first to connect wins."""
    order = interleave(addresses)
    result = RaceResult(None)
    began = trio.current_time()
    winner_stream: list[trio.SocketStream] = []

    async def attempt(
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        failed: trio.Event,
        cancel_all: trio.CancelScope,
    ) -> None:
        record = Attempt(
            str(address), f"IPv{address.version}", round((trio.current_time() - began) * 1000, 3)
        )
        result.attempts.append(record)
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        sock = trio.socket.socket(family, socket.SOCK_STREAM)
        try:
            await sock.connect((str(address), port))
        except OSError as exc:
            sock.close()
            record.outcome = {
                errno.ECONNREFUSED: "refused",
                errno.ENETUNREACH: "unreachable",
                errno.EHOSTUNREACH: "unreachable",
            }.get(exc.errno or 0, exc.strerror or "failed")
            record.elapsed_ms = round((trio.current_time() - began) * 1000 - record.started_ms, 3)
            failed.set()
            return
        except BaseException:
            sock.close()
            raise
        record.outcome = "connected"
        record.elapsed_ms = round((trio.current_time() - began) * 1000 - record.started_ms, 3)
        if result.winner is None:
            result.winner = record
            winner_stream.append(trio.SocketStream(sock))
            cancel_all.cancel()
        else:
            sock.close()

    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for address in order:
                failed = trio.Event()
                nursery.start_soon(attempt, address, failed, nursery.cancel_scope)
                with trio.move_on_after(delay):
                    await failed.wait()
    for record in result.attempts:
        if record.outcome == "cancelled" and result.winner is None:
            record.outcome = "timed out"
    result.stream = winner_stream[0] if winner_stream else None
    return result


# --- the probe matrix -------------------------------------------------------------------

CLIENTS = ("IPv4", "IPv6", "v4-mapped")
LISTENERS = (Kind.DUAL, Kind.V6ONLY, Kind.V4ONLY, Kind.DEFAULT)


@dataclass
class ProbeRow(Result):
    listener: str
    client: str
    protocol: str
    bindv6only: int
    reached: bool
    server_saw: str = ""  # the client's address as the listener got it (raw)
    client_saw: str = ""  # the listener's address as the client got it (raw)
    error: str = ""


async def _probe_one(kind: Kind, client: str, proto: int) -> ProbeRow:
    listener = open_listener(kind, proto, 0, "::" if kind is not Kind.V4ONLY else "0.0.0.0")
    port = listener.getsockname()[1]
    bindv6only = _bindv6only()
    row = ProbeRow(
        kind.value, client, "TCP" if proto == socket.SOCK_STREAM else "UDP", bindv6only, False
    )
    target = {"IPv4": "127.0.0.1", "IPv6": "::1", "v4-mapped": "::ffff:127.0.0.1"}[client]
    family = socket.AF_INET if client == "IPv4" else socket.AF_INET6
    with listener:
        csock = trio.socket.socket(family, proto)  # a plain socket, as an application makes one
        with csock:
            try:
                with trio.fail_after(0.5):
                    if proto == socket.SOCK_STREAM:
                        await csock.connect((target, port))
                        conn, peer = await listener.accept()
                        with conn:
                            await csock.send(b"probe")
                            await conn.recv(16)
                        row.client_saw = str(csock.getpeername()[0])
                    else:
                        await csock.sendto(b"probe", (target, port))
                        data, peer = await listener.recvfrom(16)
                        await listener.sendto(data, peer)
                        _, back = await csock.recvfrom(16)
                        row.client_saw = str(back[0])
                    row.server_saw = str(peer[0])
                row.reached = True
            except trio.TooSlowError:
                row.error = "no answer"
            except OSError as exc:
                row.error = errno.errorcode.get(exc.errno or 0, str(exc))
    return row


def _bindv6only() -> int:
    return read_sysctl_int("net/ipv6/bindv6only") or 0


async def run_probe() -> list[ProbeRow]:
    """The matrix in this network namespace, with its current bindv6only."""
    return [
        await _probe_one(kind, client, proto)
        for proto in (socket.SOCK_STREAM, socket.SOCK_DGRAM)
        for kind in LISTENERS
        for client in CLIENTS
    ]
