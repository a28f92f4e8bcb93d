"""The multicast ping responder behind ``mcast ping --serve`` (what ssmpingd does).

It answers each request twice, by unicast to the client and to the group at
the client's port, both from the address the request came to and with a hop
limit of 64 (:mod:`._mping`); the multicast reply leaves by the interface the
request came in on. Its rules, as a service's:

- Nothing a client sends ends it: a datagram that is not a request, a
  malformed one, one for a group it does not serve, one from an interface it
  does not serve is dropped and counted by reason (:class:`ResponderCounters`).
- Resources are bounded: each client address gets at most
  :data:`ANSWERS_PER_SECOND` answers a second (a burst of as many), tracked for
  at most :data:`MAX_CLIENTS` clients at once (the stalest are forgotten);
  replies that would block are dropped and counted, never queued.
"""

from __future__ import annotations

import collections
import errno
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from ipv6 import Result, counts_text
from ipv6.sockopts import IP_PKTINFO, SO_RXQ_OVFL, drop_count, packet_info, send_from

from .._errors import McastError
from ..wire._wirecommon import MalformedPacket
from . import _mping

ANSWERS_PER_SECOND = 10
MAX_CLIENTS = 4096
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IP_MULTICAST_ALL = 49  # Linux; Python 3.11 has no name for it


@dataclass
class ResponderCounters(Result):
    """What the responder did and refused."""

    requests: int = 0
    unicast_replies: int = 0
    multicast_replies: int = 0
    ignored: collections.Counter[str] = field(default_factory=collections.Counter)
    send_failed: collections.Counter[str] = field(default_factory=collections.Counter)
    kernel_dropped: int = 0

    def line(self) -> str:
        ignored = counts_text(self.ignored, "none")
        failed = counts_text(self.send_failed, "none")
        return (
            f"requests {self.requests}; replies: unicast {self.unicast_replies}, "
            f"multicast {self.multicast_replies}; ignored: {ignored}; send failures: {failed}; "
            f"dropped by the kernel {self.kernel_dropped}"
        )


class Responder:
    """Answers multicast pings on ``port`` (4321), IPv4 and IPv6.

    ``interfaces``: the interface indexes served (None: all). ``accepts``: which
    groups it sends to (ssmpingd's rule by default). ``clients``: the only
    addresses answered (None: any). ``on_request`` is called with (client
    address, client port, group) for each request answered.
    """

    _sockets: list[socket.socket]

    def __init__(
        self,
        *,
        port: int = _mping.PORT,
        interfaces: set[int] | None = None,
        accepts: Callable[[IPAddress], bool] = _mping.ssmpingd_accepts,
        version: str = "mcast-ipv6-toolkit",
        on_request: Callable[[str, int, IPAddress], None] | None = None,
        clients: set[IPAddress] | None = None,
    ) -> None:
        self.port = port
        self.clients = clients  # None: anyone; else only these (a matrix's peers)
        self.interfaces = interfaces
        self.accepts = accepts
        self.version = version
        self.on_request = on_request
        self.counters = ResponderCounters()
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._sockets = []

    def open(self) -> None:
        """Bind the IPv4 and IPv6 sockets now (in the caller's network namespace:
        a lab host's, inside ``host.inside()``); :meth:`serve` does it otherwise."""
        if self._sockets:
            return
        v4 = self._socket(socket.AF_INET)
        try:
            v6 = self._socket(socket.AF_INET6)
        except OSError:
            v4.close()
            raise
        self._sockets = [v4, v6]

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Answer until cancelled; started once both sockets are bound."""
        self.open()
        try:
            async with trio.open_nursery() as nursery:
                for sock in self._sockets:
                    nursery.start_soon(self._answer_loop, sock)
                task_status.started()
        finally:
            for sock in self._sockets:
                trio.lowlevel.notify_closing(sock)
                sock.close()
            self._sockets = []

    def _socket(self, family: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)  # no SO_REUSEADDR: one responder a port
        if SO_RXQ_OVFL is not None:
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, _mping.HOPS)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, _mping.HOPS)
            sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
            address: tuple[Any, ...] = ("0.0.0.0", self.port)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, _mping.HOPS)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, _mping.HOPS)
            address = ("::", self.port)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise McastError(
                    f"port {self.port} is taken: another responder (ssmpingd?) runs here"
                ) from None
            raise
        sock.setblocking(False)
        return sock

    async def _answer_loop(self, sock: socket.socket) -> None:
        family = 4 if sock.family == socket.AF_INET else 6
        while True:
            try:
                received = sock.recvmsg(2048, 256)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                continue
            except OSError as exc:  # an ICMP error queued by an earlier reply
                self.counters.ignored[
                    f"receive_{errno.errorcode.get(exc.errno or 0, 'error')}"
                ] += 1
                await trio.lowlevel.checkpoint()
                continue
            self._answer(sock, family, received)
            await trio.lowlevel.checkpoint()  # a flood shares the run loop

    def _answer(self, sock: socket.socket, family: int, received: tuple[Any, ...]) -> None:
        data, ancillary, flags, peer = received
        counters = self.counters
        local, ifindex = None, 0
        for level, kind, value in ancillary:
            info = packet_info(level, kind, value)
            if info is not None:
                local, ifindex = ipaddress.ip_address(info[0]), info[1]
            dropped = drop_count(level, kind, value)
            if dropped is not None:
                counters.kernel_dropped = dropped
        if flags & _TRUNC:
            counters.ignored["oversized"] += 1
            return
        try:
            ping = _mping.decode_untrusted(data)
        except MalformedPacket:
            counters.ignored["malformed"] += 1
            return
        if ping.kind != "request":
            counters.ignored["not_a_request"] += 1
            return
        if self.interfaces is not None and ifindex not in self.interfaces:
            counters.ignored["other_interface"] += 1
            return
        group = _mping.reply_group(ping, family)
        if group.version != family or not self.accepts(group):
            counters.ignored["group_refused"] += 1
            return
        client = str(peer[0])
        if self.clients is not None and _unscoped(client) not in self.clients:
            counters.ignored["not_a_peer"] += 1
            return
        if not self._allowed(client):
            counters.ignored["rate_limited"] += 1
            return
        counters.requests += 1
        reply = _mping.reply_to(data, ping, self.version)
        source = [send_from(local, 0)] if local is not None else []
        if self._send(sock, reply, source, peer):
            counters.unicast_replies += 1
        # To the group at the client's port, out of the interface the request came in on.
        scope = ifindex if family == 6 else 0
        there = (str(group), peer[1], 0, scope) if family == 6 else (str(group), peer[1])
        out = [send_from(local, ifindex)] if local is not None else []
        if self._send(sock, reply, out, there):
            counters.multicast_replies += 1
        if self.on_request is not None:
            self.on_request(client, int(peer[1]), group)

    def _send(self, sock: socket.socket, reply: bytes, ancillary: list[Any], to: Any) -> bool:
        try:
            sock.sendmsg([reply], ancillary, socket.MSG_DONTWAIT, to)
        except OSError as exc:  # a full queue, no route, a host gone: that reply is lost
            self.counters.send_failed[errno.errorcode.get(exc.errno or 0, "error")] += 1
            return False
        return True

    def _allowed(self, client: str) -> bool:
        """A token bucket per client address; the stalest clients are forgotten."""
        now = trio.current_time()
        tokens, then = self._buckets.pop(client, (float(ANSWERS_PER_SECOND), now))
        tokens = min(float(ANSWERS_PER_SECOND), tokens + (now - then) * ANSWERS_PER_SECOND)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return allowed


_TRUNC = int(socket.MSG_TRUNC)


def _unscoped(text: str) -> IPAddress:
    """A peer's address without its zone (a link-local peer's names its link)."""
    return ipaddress.ip_address(text.split("%", 1)[0])
