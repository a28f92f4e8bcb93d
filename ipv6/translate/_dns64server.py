"""The DNS64 resolver of a lab, on Trio: UDP and TCP on port 53 (or another),
answers from a zone file and from an upstream resolver, AAAA records made
by the rules of ``_dns64``.

Bounded: at most ``max_in_flight`` queries are worked on at once (more are
dropped and counted as ``busy``), at most ``max_tcp`` TCP connections, each
closed after ``tcp_idle`` seconds without a query. A message that does not
parse is counted and dropped; an upstream that does not answer makes a
SERVFAIL, counted. Nothing a client sends ends the server.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.zone
import trio

from .._errors import BadInput, Ipv6Error
from .._result import Result
from ._dns64 import AAAA, PTR, A, Dns64, ipv4only_answer, zone_answer
from ._mapping import Prefix64

MAX_IN_FLIGHT = 256
MAX_TCP = 64
TCP_IDLE = 10.0
UDP_LIMIT = 512  # without EDNS (RFC 1035 4.2.1)


class Dns64Error(Ipv6Error):
    """The DNS64 resolver could not start (its port taken, its zone unreadable)."""


@dataclass
class Dns64Config:
    """What a DNS64 resolver answers with; checked when made (BadInput, one line)."""

    prefix: str
    listen: list[tuple[str, int]] = field(default_factory=lambda: [("::", 53)])
    zone_file: str | None = None
    origin: str | None = None
    upstream: list[tuple[str, int]] = field(default_factory=list)
    timeout: float = 2.0
    max_in_flight: int = MAX_IN_FLIGHT

    def __post_init__(self) -> None:
        import ipaddress

        Prefix64.parse(self.prefix)
        for what, pairs in (("listen", self.listen), ("upstream", self.upstream)):
            for host, port in pairs:
                try:
                    ipaddress.ip_address(host)
                except ValueError:
                    raise BadInput(f"{what} {host!r}: not an IPv4 or IPv6 address") from None
                if not 0 <= port <= 65535:
                    raise BadInput(f"{what} {host}: port {port} is not a port (0 to 65535)")
        if not 0 < self.timeout <= 3600:
            raise BadInput(f"timeout {self.timeout:g}: more than 0 and at most 3600 seconds")
        if self.max_in_flight < 1:
            raise BadInput("max_in_flight: at least 1")


@dataclass
class Dns64Counters(Result):
    queries: int = 0
    answered: int = 0
    synthesized: int = 0
    from_zone: int = 0
    forwarded: int = 0
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)


def load_zone(path: str, origin: str | None) -> dns.zone.Zone:
    try:
        return dns.zone.from_file(path, origin=origin, relativize=False)
    except OSError as exc:
        raise BadInput(f"zone file {path}: {exc.strerror}") from None
    except dns.exception.DNSException as exc:
        raise BadInput(f"zone file {path}: {exc}") from None


class Resolver:
    """Answers one query at a time: the zone, ipv4only.arpa, then the upstream."""

    def __init__(self, config: Dns64Config, counters: Dns64Counters) -> None:
        self.dns64 = Dns64(Prefix64.parse(config.prefix))
        self.zone = load_zone(config.zone_file, config.origin) if config.zone_file else None
        self.upstream = config.upstream
        self.timeout = config.timeout
        self.counters = counters
        self.backend = dns.asyncbackend.get_backend("trio")

    async def answer(self, query: dns.message.Message) -> dns.message.Message:
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.NOTIMP if query.question else dns.rcode.FORMERR)
            return response
        question = query.question[0]
        target = self.dns64.ptr_target(query)
        if target is not None:
            return self.dns64.ptr_answer(query, await self.resolve(query, target, PTR))
        if not self.dns64.wants_synthesis(query):
            return await self.resolve(query, question.name, question.rdtype)
        aaaa = await self.resolve(query, question.name, AAAA)
        if self.dns64.aaaa_is_enough(aaaa):
            return self.dns64.filtered(query, aaaa)
        a = await self.resolve(query, question.name, A)
        response = self.dns64.synthesize(query, aaaa, a)
        if any(r.rdtype == AAAA for r in response.answer):
            self.counters.synthesized += 1
        return response

    async def resolve(
        self, query: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        """The answer for (name, rdtype), as a response to ``query``."""
        asked = dns.message.make_query(name, rdtype)
        asked.id = query.id
        local = ipv4only_answer(asked)
        if local is not None:
            return local
        if self.zone is not None:
            found = zone_answer(self.zone, query, name, rdtype)
            if found is not None:
                self.counters.from_zone += 1
                return found
        if not self.upstream:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.REFUSED)  # neither our zone nor anyone's to ask
            return response
        for host, port in self.upstream:
            try:
                got = await dns.asyncquery.udp(
                    asked, host, timeout=self.timeout, port=port, backend=self.backend
                )
                if got.flags & dns.flags.TC:
                    got = await dns.asyncquery.tcp(
                        asked, host, timeout=self.timeout, port=port, backend=self.backend
                    )
            except (dns.exception.DNSException, OSError):
                self.counters.dropped["upstream_failed"] += 1
                continue
            self.counters.forwarded += 1
            got.id = query.id
            return got
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response


class Server:
    """A DNS64 server's state: its resolver, counters, and where it answers
    (``addresses``, once :func:`serve` has every socket listening)."""

    def __init__(self, config: Dns64Config) -> None:
        self.config = config
        self.counters = Dns64Counters()
        self.resolver = Resolver(config, self.counters)
        self.in_flight = 0
        self.tcp_open = 0
        self.addresses: list[tuple[str, int]] = []  # where it answers, once it does

    async def handle(self, wire: bytes, limit: int | None) -> bytes | None:
        """The reply to one message, or None when it is dropped (counted)."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # dnspython raises many kinds for bad bytes; all are malformed
            self.counters.dropped["malformed"] += 1
            return None
        if query.flags & dns.flags.QR:
            self.counters.dropped["not_a_query"] += 1
            return None
        self.counters.queries += 1
        try:
            response = await self.resolver.answer(query)
        except Exception:  # whatever a query leads to, the server goes on: SERVFAIL, counted
            self.counters.dropped["answer_failed"] += 1
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        if limit is not None:
            limit = max(UDP_LIMIT, query.payload) if query.edns >= 0 else UDP_LIMIT
        self.counters.answered += 1
        try:
            return response.to_wire(max_size=limit or 65535)
        except dns.exception.TooBig:
            short = dns.message.make_response(query)
            short.flags |= dns.flags.TC  # the client asks again over TCP
            return short.to_wire()
        except Exception:  # an answer that cannot be written: counted, nothing sent
            self.counters.dropped["answer_failed"] += 1
            return None

    async def serve_udp(self, sock: trio.socket.SocketType) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    wire, peer = await sock.recvfrom(65535)
                except OSError:  # an error queued on the socket (an ICMP error, say)
                    self.counters.dropped["receive_error"] += 1
                    continue
                if self.in_flight >= self.config.max_in_flight:
                    self.counters.dropped["busy"] += 1
                    continue
                self.in_flight += 1
                nursery.start_soon(self._one_udp, sock, wire, peer)

    async def _one_udp(self, sock: trio.socket.SocketType, wire: bytes, peer: Any) -> None:
        try:
            reply = await self.handle(wire, UDP_LIMIT)
            if reply is not None:
                try:
                    await sock.sendto(reply, peer)
                except OSError:
                    self.counters.dropped["send_failed"] += 1
        finally:
            self.in_flight -= 1

    async def serve_tcp(self, stream: trio.SocketStream) -> None:
        if self.tcp_open >= MAX_TCP:
            self.counters.dropped["tcp_busy"] += 1
            await stream.aclose()
            return
        self.tcp_open += 1
        try:
            buffer = b""
            while True:
                with trio.move_on_after(TCP_IDLE) as idle:
                    data = await stream.receive_some(65536)
                if idle.cancelled_caught or not data:
                    return
                buffer += data
                if len(buffer) > 2 * 65537:
                    self.counters.dropped["tcp_overlong"] += 1
                    return
                while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
                    size = int.from_bytes(buffer[:2], "big")
                    wire, buffer = buffer[2 : 2 + size], buffer[2 + size :]
                    reply = await self.handle(wire, None)
                    if reply is not None:
                        await stream.send_all(len(reply).to_bytes(2, "big") + reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.counters.dropped["tcp_reset"] += 1
        finally:
            self.tcp_open -= 1
            await stream.aclose()


async def serve(
    config: Dns64Config, *, started: Callable[[Server], Awaitable[None] | None] | None = None
) -> Server:
    """Answer until cancelled; ``started(server)`` once every socket listens."""
    server = Server(config)
    sockets = []
    listeners = []
    try:
        for host, port in config.listen:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            udp = trio.socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # bursts wait, not drop
            await udp.bind((host, port))
            sockets.append(udp)
            bound = udp.getsockname()[1]  # port 0: the one the kernel chose, TCP's too
            listeners += await trio.open_tcp_listeners(bound, host=host)
            server.addresses.append((host, bound))
    except OSError as exc:
        for s in sockets:
            s.close()
        for listener in listeners:
            await listener.aclose()
        where = ", ".join(f"[{h}]:{p}" for h, p in config.listen)
        raise Dns64Error(f"cannot listen on {where}: {exc.strerror}") from None
    async with trio.open_nursery() as nursery:
        for udp in sockets:
            nursery.start_soon(server.serve_udp, udp)
        nursery.start_soon(trio.serve_listeners, server.serve_tcp, listeners)
        if started is not None:
            maybe = started(server)
            if maybe is not None:
                await maybe
    return server
