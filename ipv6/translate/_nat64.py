"""Stateful NAT64 (RFC 6146) as a mapper for the translator: the binding
information bases, the sessions with their timers, and TCP's session states.
Pure: the clock is the caller's (``now``), and every table is bounded.

- A binding pairs an IPv6 transport address with one of the pool's (the
  port preserved when it is free; one pool address per IPv6 host while it
  has room, RFC 4787's paired pooling). Endpoint-independent mapping.
- A session is one binding talking to one IPv4 remote. Filtering is
  endpoint-independent (a binding accepts any remote, as Jool's default) or
  address-dependent (only remotes the host has sent to, RFC 6146 3.5.2).
- An IPv4 packet for a pool address with no binding is dropped and counted:
  the pool is the hosts' only, and no inbound mapping is ever made up.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Network

from ._mapping import ICMP, TCP, UDP, Flow, Mapped, Prefix64, forwardable4

FIN, SYN, RST = 0x01, 0x02, 0x04
MAX_SESSIONS = 65536
FILTERINGS = ("endpoint-independent", "address-dependent")

# RFC 6146 3.5.2.2's states.
V4_INIT, V6_INIT, ESTABLISHED = "V4_INIT", "V6_INIT", "ESTABLISHED"
V4_FIN, V6_FIN, BOTH_FIN, TRANS = "V4_FIN_RCV", "V6_FIN_RCV", "V4_FIN_V6_FIN_RCV", "TRANS"


@dataclass(frozen=True)
class Timeouts:
    """RFC 6146 section 4's timers, in seconds (its defaults)."""

    udp: float = 300.0  # UDP_DEFAULT; RFC 6146 says no less than 120 (UDP_MIN)
    tcp_established: float = 7440.0  # TCP_EST: 2 hours 4 minutes
    tcp_transitory: float = 240.0  # TCP_TRANS
    tcp_incoming_syn: float = 6.0  # TCP_INCOMING_SYN
    icmp: float = 60.0  # ICMP_DEFAULT


class Binding:
    __slots__ = ("addr4", "host", "hport", "port4", "proto", "sessions")

    def __init__(self, proto: int, host: int, hport: int, addr4: int, port4: int) -> None:
        self.proto, self.host, self.hport, self.addr4, self.port4 = (
            proto, host, hport, addr4, port4,
        )  # fmt: skip
        self.sessions: dict[tuple[int, int], Session] = {}  # (remote, remote port) -> session


class Session:
    __slots__ = ("binding", "expires", "packets_in", "packets_out", "remote", "rport", "state")

    def __init__(self, binding: Binding, remote: int, rport: int, state: str, expires: float):
        self.binding, self.remote, self.rport = binding, remote, rport
        self.state, self.expires = state, expires
        self.packets_out = self.packets_in = 0


@dataclass(frozen=True)
class SessionRow:
    """One session as status shows it."""

    protocol: str
    ipv6_host: tuple[int, int]
    ipv6_remote: tuple[int, int]
    ipv4_pool: tuple[int, int]
    ipv4_remote: tuple[int, int]
    state: str
    expires_in: float
    packets_out: int
    packets_in: int


PROTOCOL_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}


class Nat64Mapper:
    """The stateful mapping of one NAT64: ``prefix`` for the IPv4 Internet,
    ``pool`` for the hosts' IPv4 transport addresses."""

    stateful = True

    @property
    def syn_hold(self) -> float:
        """RFC 6146 3.5.2.2: an IPv4 SYN no session takes waits TCP_INCOMING_SYN."""
        return self.timeouts.tcp_incoming_syn

    def __init__(
        self, prefix: Prefix64, pool: IPv4Network, *, timeouts: Timeouts | None = None,
        max_sessions: int = MAX_SESSIONS, filtering: str = FILTERINGS[0],
        ports: tuple[int, int] = (1024, 65535), reserved: frozenset[int] = frozenset(),
    ) -> None:  # fmt: skip
        self.prefix, self.timeouts, self.max_sessions = prefix, timeouts or Timeouts(), max_sessions
        self.address_dependent = filtering == "address-dependent"
        self.pool_first, self.pool_size = int(pool.network_address), pool.num_addresses
        self.ports, self.reserved = ports, reserved  # reserved: pool addresses not to hand out
        self.bib6: dict[tuple[int, int, int], Binding] = {}
        self.bib4: dict[tuple[int, int, int], Binding] = {}
        self.sessions = 0
        self._heap: list[tuple[float, int, Session]] = []
        self._serial = 0
        self._cursor: dict[tuple[int, int], int] = {}
        self._paired: dict[int, int] = {}  # IPv6 host -> its pool address, while it has bindings
        self._host_bindings: Counter[int] = Counter()
        self.events: Counter[str] = Counter()  # sessions and bindings made and expired
        self.touched: Session | None = None  # the session the last created mapping used

    # -- the mapper interface --

    def address4(self, v6: int) -> int | None:
        return self.prefix.extract(v6)

    def address6(self, v4: int) -> int | None:
        return self.prefix.embed_any(v4)

    def paired4(self, v6: int) -> int | None:
        return None  # no explicit mappings in a NAT64

    def hairpin(self, v4: int) -> bool:
        return 0 <= v4 - self.pool_first < self.pool_size

    def outbound(self, flow: Flow, flags: int, now: float, *, create: bool) -> Mapped | str:
        proto, src, sport, dst, dport = flow
        remote = self.prefix.extract(dst)
        if remote is None or not forwardable4(remote):
            return "destination_unmapped"
        rport = 0 if proto == ICMP else dport
        binding = self.bib6.get((proto, src, sport))
        if not create:
            if binding is None:
                return "no_binding"
        else:
            if binding is None:
                if proto == TCP and not flags & SYN:
                    return "tcp_not_syn"  # RFC 6146 3.5.2.2: no session starts otherwise
                made = self._bind(proto, src, sport)
                if isinstance(made, str):
                    return made
                binding = made
            session = binding.sessions.get((remote, rport))
            if session is None:
                if proto == TCP and not flags & SYN:
                    return "tcp_not_syn"
                if self.sessions >= self.max_sessions:
                    self._unbind_if_idle(binding)
                    return "session_limit"
                state = V6_INIT if proto == TCP else ""
                lifetime = self._lifetime(proto, state)
                session = self._open(binding, remote, rport, state, lifetime=lifetime, now=now)
            else:
                self._advance(session, flags, outbound=True, now=now)
            session.packets_out += 1
            self.touched = session
        if proto == ICMP:
            return binding.addr4, binding.port4, remote, binding.port4
        return binding.addr4, binding.port4, remote, dport

    def inbound(
        self, flow: Flow, flags: int, now: float, *, create: bool, hairpinned: bool = False
    ) -> Mapped | str:
        proto, src, sport, dst, dport = flow
        binding = self.bib4.get((proto, dst, dport))
        if binding is None:
            return "no_binding"
        src6 = self.prefix.embed(src) if forwardable4(src) else None
        if src6 is None:
            return "source_unmapped"
        if create:
            rport = 0 if proto == ICMP else sport
            session = binding.sessions.get((src, rport))
            if session is None:
                if self.address_dependent and not any(r == src for r, _ in binding.sessions):
                    return "filtered"
                if proto == TCP and not flags & SYN:
                    return "tcp_not_syn"
                if self.sessions >= self.max_sessions:
                    return "session_limit"
                state = V4_INIT if proto == TCP else ""
                lifetime = (
                    self.timeouts.tcp_incoming_syn if proto == TCP else self._lifetime(proto, state)
                )
                session = self._open(binding, src, rport, state, lifetime=lifetime, now=now)
            else:
                self._advance(session, flags, outbound=False, now=now)
            session.packets_in += 1
            self.touched = session
        if proto == ICMP:
            return src6, binding.hport, binding.host, binding.hport
        return src6, sport, binding.host, binding.hport

    def expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, session = heapq.heappop(heap)
            if session.binding.sessions.get((session.remote, session.rport)) is not session:
                continue  # closed already
            if session.expires > now:  # refreshed since: back in line at its new time
                self._serial += 1
                heapq.heappush(heap, (session.expires, self._serial, session))
                continue
            self._close(session)
            self.events[f"{PROTOCOL_NAMES[session.binding.proto]}_sessions_expired"] += 1

    # -- what status shows --

    def rows(self, now: float, limit: int | None = None) -> list[SessionRow]:
        out: list[SessionRow] = []
        for binding in self.bib6.values():
            for session in binding.sessions.values():
                remote6 = self.prefix.embed(session.remote) or 0
                rport = binding.hport if binding.proto == ICMP else session.rport
                out.append(
                    SessionRow(
                        protocol=PROTOCOL_NAMES[binding.proto],
                        ipv6_host=(binding.host, binding.hport),
                        ipv6_remote=(remote6, rport),
                        ipv4_pool=(binding.addr4, binding.port4),
                        ipv4_remote=(
                            session.remote,
                            binding.port4 if binding.proto == ICMP else rport,
                        ),
                        state=session.state or "OPEN",
                        expires_in=max(0.0, session.expires - now),
                        packets_out=session.packets_out,
                        packets_in=session.packets_in,
                    )
                )
                if limit is not None and len(out) >= limit:
                    return out
        return out

    # -- tables --

    def last_flow(self) -> tuple[object, float] | None:
        """The session the last mapping used, if established (a fast path's)."""
        session = self.touched
        if session is None or session.state not in ("ESTABLISHED", ""):
            return None
        return session, self.lifetime_of(session)

    def lifetime_of(self, session: Session) -> float:
        """How long a packet of this session, in its state, keeps it."""
        return self._lifetime(session.binding.proto, session.state)

    def _lifetime(self, proto: int, state: str) -> float:
        t = self.timeouts
        if proto == UDP:
            return t.udp
        if proto == ICMP:
            return t.icmp
        return t.tcp_established if state in (ESTABLISHED, V4_FIN, V6_FIN) else t.tcp_transitory

    def _bind(self, proto: int, host: int, hport: int) -> Binding | str:
        low, high = (0, 65535) if proto == ICMP else self.ports
        if proto != ICMP and hport < 1024:
            low, high = 1, 1023  # a well-known port stays well-known (RFC 6146 3.5.1.1)
        paired = self._paired.get(host)
        start = paired - self.pool_first if paired is not None else hash(host) % self.pool_size
        for step in range(self.pool_size):
            addr4 = self.pool_first + (start + step) % self.pool_size
            if addr4 in self.reserved:
                continue
            port4 = self._free_port(proto, addr4, hport, low, high)
            if port4 is not None:
                binding = Binding(proto, host, hport, addr4, port4)
                self.bib6[proto, host, hport] = binding
                self.bib4[proto, addr4, port4] = binding
                self._paired.setdefault(host, addr4)
                self._host_bindings[host] += 1
                self.events[f"{PROTOCOL_NAMES[proto]}_bindings_made"] += 1
                return binding
        return "pool_exhausted"

    def _free_port(self, proto: int, addr4: int, wanted: int, low: int, high: int) -> int | None:
        """The port asked for when it is free; else a free one of its parity (RFC 6146
        3.5.1.1 and RFC 4787 4.2.2: odd stays odd, even stays even), else any."""
        bib4 = self.bib4
        if low <= wanted <= high and (proto, addr4, wanted) not in bib4:
            return wanted
        span = high - low + 1
        cursor = self._cursor.get((proto, addr4), 0)
        parity = wanted & 1 if proto != ICMP else None
        for same in (True, False) if parity is not None else (False,):
            for i in range(span):
                port = low + (cursor + i) % span
                if same and port & 1 != parity:
                    continue
                if (proto, addr4, port) not in bib4:
                    self._cursor[proto, addr4] = (cursor + i + 1) % span
                    return port
        return None

    def _open(
        self, binding: Binding, remote: int, rport: int, state: str, *, lifetime: float, now: float
    ) -> Session:
        session = Session(binding, remote, rport, state, now + lifetime)
        binding.sessions[remote, rport] = session
        self.sessions += 1
        self._serial += 1
        heapq.heappush(self._heap, (session.expires, self._serial, session))
        self.events[f"{PROTOCOL_NAMES[binding.proto]}_sessions_made"] += 1
        return session

    def _close(self, session: Session) -> None:
        binding = session.binding
        del binding.sessions[session.remote, session.rport]
        session.state = "CLOSED"  # a remembered fast-path flow sees it is gone
        self.sessions -= 1
        self._unbind_if_idle(binding)

    def _unbind_if_idle(self, binding: Binding) -> None:
        if binding.sessions:
            return
        del self.bib6[binding.proto, binding.host, binding.hport]
        del self.bib4[binding.proto, binding.addr4, binding.port4]
        host = binding.host
        self._host_bindings[host] -= 1
        if not self._host_bindings[host]:
            del self._host_bindings[host]
            self._paired.pop(host, None)

    def _advance(self, session: Session, flags: int, *, outbound: bool, now: float) -> None:
        """RFC 6146 3.5.2.2: a packet of an existing session moves its state and timer."""
        proto = session.binding.proto
        if proto != TCP:
            session.expires = now + self._lifetime(proto, "")
            return
        t, state = self.timeouts, session.state
        mine_init, their_init = (V6_INIT, V4_INIT) if outbound else (V4_INIT, V6_INIT)
        mine_fin, their_fin = (V6_FIN, V4_FIN) if outbound else (V4_FIN, V6_FIN)
        if state == mine_init:
            if flags & SYN:
                session.expires = now + (t.tcp_transitory if outbound else t.tcp_incoming_syn)
        elif state == their_init:
            if flags & SYN:
                session.state, session.expires = ESTABLISHED, now + t.tcp_established
        elif state == ESTABLISHED:
            if flags & RST:
                session.state, session.expires = TRANS, now + t.tcp_transitory
            else:
                if flags & FIN:
                    session.state = mine_fin
                session.expires = now + t.tcp_established
        elif state == their_fin:
            if flags & FIN:
                session.state, session.expires = BOTH_FIN, now + t.tcp_transitory
            else:
                session.expires = now + t.tcp_established
        elif state == mine_fin:
            session.expires = now + t.tcp_established
        elif state == TRANS and not flags & RST:
            session.state, session.expires = ESTABLISHED, now + t.tcp_established
