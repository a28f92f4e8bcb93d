"""ICMPv6 echo from Trio, as ping6 does it, honouring zones.

An unprivileged ICMP socket (SOCK_DGRAM, where net.ipv4.ping_group_range
allows it) is tried first, then a raw one; the kernel fills in the ICMPv6
checksum for both. Replies are matched by sequence number (and identifier
on a raw socket); the hop limit of each reply comes with it
(IPV6_RECVHOPLIMIT).
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from ._errors import Ipv6Error, NeedsPrivilege
from ._zones import Destination

ECHO_REQUEST, ECHO_REPLY = 128, 129
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)


class PingFailed(Ipv6Error):
    """The echo requests could not be sent (no route, address not available)."""


@dataclass(frozen=True)
class Reply:
    seq: int
    source: str
    size: int
    hop_limit: int | None
    rtt_ms: float


@dataclass
class PingResult:
    destination: str
    transmitted: int = 0
    replies: list[Reply] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.replies)

    @property
    def loss_pct(self) -> float:
        return (
            0.0
            if not self.transmitted
            else 100.0 * (self.transmitted - self.received) / self.transmitted
        )

    def rtt(self) -> dict[str, float] | None:
        """min/avg/max/mdev in ms, as ping6 prints them (mdev: standard deviation)."""
        times = [r.rtt_ms for r in self.replies]
        if not times:
            return None
        mean = sum(times) / len(times)
        mdev = math.sqrt(max(0.0, sum(t * t for t in times) / len(times) - mean * mean))
        return {"min": min(times), "avg": mean, "max": max(times), "mdev": mdev}

    def to_json(self) -> dict[str, object]:
        return {
            "destination": self.destination,
            "transmitted": self.transmitted,
            "received": self.received,
            "loss_pct": round(self.loss_pct, 3),
            "rtt_ms": self.rtt(),
            "replies": [r.__dict__ for r in self.replies],
        }


def open_icmp_socket() -> tuple[socket.socket, bool]:
    """(socket, raw?): an unprivileged ICMPv6 socket if allowed, else a raw one."""
    try:
        return socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6), False
    except PermissionError:
        pass
    try:
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6), True
    except PermissionError:
        raise NeedsPrivilege(
            "ping (net.ipv4.ping_group_range does not include your group)", ["CAP_NET_RAW"]
        ) from None


async def ping(
    destination: Destination,
    *,
    count: int = 4,
    interval: float = 1.0,
    wait: float = 2.0,
    size: int = 56,
    source: str | None = None,
    on_reply: Callable[[Reply], None] | None = None,
) -> PingResult:
    """Send ``count`` echo requests and collect the replies."""
    sock, raw = open_icmp_socket()
    result = PingResult(str(destination))
    ident = os.getpid() & 0xFFFF
    sent_at: dict[int, float] = {}
    with sock:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        if source is not None:
            try:
                sock.bind((source, 0, 0, destination.scope_id))
            except OSError as exc:
                raise PingFailed(f"cannot send from {source}: {exc.strerror}") from exc
        target = destination.sockaddr()
        waiter = trio.socket.from_stdlib_socket(sock)  # the same socket, to wait on
        answered = trio.Event()

        async def receive() -> None:
            while True:
                data, ancillary, _, peer = await waiter.recvmsg(65535, 64)
                assert isinstance(peer, tuple)  # an AF_INET6 socket's address
                now = time.perf_counter()
                if len(data) < 8:
                    continue
                kind, _, _, reply_id, seq = _HEADER.unpack_from(data)
                if kind != ECHO_REPLY or (raw and reply_id != ident) or seq not in sent_at:
                    continue
                hops = next(
                    (
                        struct.unpack("=i", v)[0]
                        for lv, t, v in ancillary
                        if lv == socket.IPPROTO_IPV6 and t == IPV6_HOPLIMIT
                    ),
                    None,
                )
                reply = Reply(
                    seq, _peer_text(peer), len(data), hops, (now - sent_at.pop(seq)) * 1000
                )
                result.replies.append(reply)
                if on_reply is not None:
                    on_reply(reply)
                if result.transmitted == count and not sent_at:
                    answered.set()
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            payload = bytes((i + 8) & 0xFF for i in range(size))
            for seq in range(1, count + 1):
                packet = _HEADER.pack(ECHO_REQUEST, 0, 0, ident, seq) + payload
                sent_at[seq] = time.perf_counter()
                try:
                    await waiter.sendto(packet, target)
                except OSError as exc:
                    raise PingFailed(f"cannot reach {destination}: {exc.strerror}") from exc
                result.transmitted += 1
                if seq < count:
                    await trio.sleep(interval)
            if not sent_at:  # every reply came while the last request was being sent
                answered.set()
            with trio.move_on_after(wait):
                await answered.wait()
            nursery.cancel_scope.cancel()
    return result


def _peer_text(peer: tuple[str, int, int, int] | tuple[str, int]) -> str:
    address = peer[0]
    if len(peer) == 4 and peer[3] and "%" not in address:
        try:
            return f"{address}%{socket.if_indextoname(peer[3])}"
        except OSError:
            return f"{address}%{peer[3]}"
    return address
