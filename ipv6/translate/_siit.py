"""IP/ICMP translation (SIIT, RFC 7915) as pure byte work: one IPv4 packet in,
its IPv6 translation out, and back. Pure.

What a packet's addresses and ports become is a :class:`Mapper`'s decision
(``_mapping``): the stateless one (RFC 6052 prefixes and explicit address
mappings, RFC 7757), or the stateful NAT64 of ``_nat64`` (RFC 6146), whose
memory between packets (fragments, held SYNs) is ``_memory``'s. The
translator owns everything else: the headers (``_headers``), ICMP and ICMPv6
with the packet inside an error (``_icmpxlate``), checksums moved between
pseudo-headers (RFC 1624, never recomputed, so a corrupt packet stays
corrupt), fragments, the MTU rules, and what a router sends itself: time
exceeded, a source route, a routing header, a packet too big for its next hop,
an error for a packet it would not translate (RFC 7915 4.4, 5.4, rate limited),
and the answer to a packet for one of its own addresses, which it never
translates back into itself.

Every call returns an :class:`Out`: the packets to hand to the kernel (of
either family: the TUN device takes both) and, when the packet was not
translated, the reason, which the service counts.
"""

from __future__ import annotations

import random
from collections import Counter

from .._checksum import checksum
from . import _fastpath
from ._fastpath import FlowCache
from ._headers import (
    DF,
    DF_LIMIT,
    EXTENSION_HEADERS,
    ICMPV4_ERROR_LIMIT,
    IPV6_MIN_MTU,
    MF,
    Buffer,
    Out,
    checksum_at,
    dropped,
    dst4,
    emit6,
    ipv4_header,
    pseudo6_bytes,
    rewrite_ports,
    source_routed,
    text4,
    text6,
    walk6,
)
from ._icmpown import ErrorBudget
from ._icmpxlate import IcmpTranslation
from ._mapping import ICMP, ICMPV6, TCP, UDP, Mapped, Mapper
from ._memory import FRAGMENT_MEMORY, FragmentKey, Nat64Memory

SYN_HELD_FOR = ("no_binding", "filtered")  # a mapper's reasons that hold a SYN, not drop it
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
__all__ = ["ICMPV4_ERROR_LIMIT", "Buffer", "Out", "Translator", "dropped", "text4", "text6"]


def _ports(proto: int, payload: bytes | memoryview) -> tuple[int, int] | None:
    """(source, destination) ports or ICMP query ids, None if they cannot be read."""
    if proto in (TCP, UDP):
        if len(payload) < (20 if proto == TCP else 8):
            return None
        return (payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3]
    return 0, 0


ICMP_ERROR_RATE = 100.0  # the translator's own ICMP errors a second, at most (by default)


class Translator(IcmpTranslation):
    """One translator: a mapper, the addresses its own errors come from, the
    lowest IPv6 MTU (RFC 7915 4: packets without DF are fragmented to fit it),
    its next hop's MTU (its device's, both ways), how many ICMP errors of its own
    it sends a second (0: none), RFC 6791's pool for the sources of ICMPv6 errors
    that have no IPv4 form (first address, how many), and whether it refuses
    protocol numbers of the other family (ICMPv6 in IPv4, ICMP and IPv6
    extension headers' numbers the wrong way), which RFC 7915 would copy."""

    def __init__(
        self, mapper: Mapper, own4: int, own6: int, *, mtu6: int = IPV6_MIN_MTU,
        mtu: int = 1500, fragment_memory: int = FRAGMENT_MEMORY,
        icmp_error_rate: float = ICMP_ERROR_RATE, icmp_sources: tuple[int, int] = (0, 0),
        strict_protocols: bool = False, rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        self.mapper, self.own4, self.own6, self.mtu6 = mapper, own4, own6, mtu6
        self.mtu = max(mtu, mtu6)
        self.budget = ErrorBudget(icmp_error_rate)
        self.icmp_sources = icmp_sources
        self.rng = rng or random.Random()
        self.icmp_errors: Counter[str] = Counter()
        self.strict_protocols = strict_protocols
        # What IPv6 packets for the translator itself go to: its own IPv6 address and
        # the prefix's form of its IPv4 one (which would otherwise come straight back),
        # but not a host's address that a mapping pairs (a CLAT's errors come from the
        # address it translates the host's IPv4 to: its packets are the host's).
        own = {own6, mapper.prefix.embed_any(own4)}
        self.own6s = frozenset(a for a in own if mapper.paired4(a) is None)
        self._ident = 0
        # A stateful translation's memory between packets: fragments, held SYNs.
        self.memory = Nat64Memory(fragment_memory)
        self.flows = FlowCache()

    # -- the two directions --

    def fast_from_v6(self, packet: Buffer, now: float) -> bytearray | None:
        """A remembered flow's packet translated (``_fastpath``), or None: use from_v6."""
        ident = (self._ident + 1) & 0xFFFF
        fast = _fastpath.to4(self.flows, packet, now, ident)
        if fast is not None:
            self._ident = ident
        return fast

    def fast_from_v4(self, packet: Buffer, now: float) -> bytearray | None:
        """A remembered flow's packet translated (``_fastpath``), or None: use from_v4."""
        return _fastpath.to6(self.flows, packet, now, self.mtu6, self.mtu)

    def from_v6(self, packet: Buffer, now: float) -> Out:
        fast = self.fast_from_v6(packet, now)
        if fast is not None:
            return Out((fast,))
        n = len(packet)
        if n < 40 or packet[0] >> 4 != 6:
            return dropped("ipv6_malformed")
        end = 40 + ((packet[4] << 8) | packet[5])
        if end > n:
            return dropped("ipv6_malformed")
        packet = bytes(packet[:end])
        src = int.from_bytes(packet[8:24], "big")
        dst = int.from_bytes(packet[24:40], "big")
        if dst >> 120 == 0xFF:
            return dropped("ipv6_multicast")  # no IPv4 counterpart (the device's own MLD, say)
        walked = walk6(packet)
        if isinstance(walked, int):  # a routing header with segments left: its pointer
            reply = self._icmp6_error(packet, src, 4, 0, walked, now=now)
            return dropped("routing_header", reply)
        if isinstance(walked, str):
            if packet[6] != ICMPV6 and walked == "fragment_then_extension":
                return self._refuse6(dropped(walked), packet, src, now)
            return dropped(walked)
        if dst in self.own6s:
            return self._to_translator6(packet, walked, src, dst, now)
        if packet[7] <= 1:
            return dropped("hop_limit_exceeded", self._icmp6_error(packet, src, 3, 0, 0, now=now))
        nh, offset, frag = walked
        payload = packet[offset:]
        if nh == ICMPV6:
            if frag is not None:
                return dropped("icmp_fragmented")
            return self._icmp6_in(packet, src, dst, payload, now)
        if self.strict_protocols and nh == ICMP:
            return self._refuse6(dropped("protocol_wrong_family"), packet, src, now)
        if self.mapper.stateful and nh not in (TCP, UDP):
            return self._refuse6(dropped("protocol_unsupported"), packet, src, now)
        first = frag is None or frag[1] == 0
        ident = None if frag is None else frag[0]
        found = self._mapping(6, nh, src, dst, payload, first, ident, packet, now)
        if isinstance(found, Out):
            return self._refuse6(found, packet, src, now)
        mapped, ports = found
        if mapped[2] == self.own4:  # the translator's own IPv4 address, by another name
            return self._to_translator6(packet, walked, src, dst, now)
        out = self._to4(packet, nh, payload, frag, mapped, ports, first)
        if isinstance(out, Out):
            return self._refuse6(out, packet, src, now)
        if frag is None and offset == 40 and not self.mapper.hairpin(mapped[2]):
            self._remember_flow(True, nh, packet[8:44], mapped, 4, src + dst + sum(ports))
        if frag is not None and first and self.mapper.stateful:
            held = self._release((6, src, dst, frag[0], nh), now)
            return self._hairpin(Out((out, *held)), now)
        return self._hairpin(Out((out,)), now)

    def from_v4(self, packet: Buffer, now: float, *, hairpinned: bool = False) -> Out:
        """``hairpinned``: a packet this translator made from an IPv6 one, for an IPv4
        address that stands for a host on the IPv6 side (see :meth:`_hairpin`)."""
        if not hairpinned:
            fast = self.fast_from_v4(packet, now)
            if fast is not None:
                return Out((fast,))
        n = len(packet)
        if n < 20 or packet[0] >> 4 != 4:
            return dropped("ipv4_malformed")
        ihl = (packet[0] & 0x0F) * 4
        total = (packet[2] << 8) | packet[3]
        if ihl < 20 or total < ihl or total > n:
            return dropped("ipv4_malformed")
        packet = bytes(packet[:total])
        if checksum(packet[:ihl]):
            return dropped("ipv4_bad_checksum")
        src = int.from_bytes(packet[12:16], "big")
        dst = int.from_bytes(packet[16:20], "big")
        if dst >> 28 == 0xE or dst == 0xFFFFFFFF:
            return dropped("ipv4_multicast")
        if dst == self.own4:
            return self._to_translator4(packet, ihl, src, now)
        if packet[8] <= 1:
            return dropped("ttl_exceeded", self._icmp4_error(packet, src, 11, 0, 0, now=now))
        if ihl > 20 and source_routed(packet[20:ihl]):
            return dropped("source_route", self._icmp4_error(packet, src, 3, 5, 0, now=now))
        proto = packet[9]
        flags_offset = (packet[6] << 8) | packet[7]
        fragment = bool(flags_offset & (MF | 0x1FFF))
        first = not flags_offset & 0x1FFF
        payload = packet[ihl:]
        if proto == ICMP:
            if fragment:
                return dropped("icmp_fragmented")
            return self._icmp4_in(packet, src, dst, payload, now, hairpinned=hairpinned)
        if self.strict_protocols and (proto == ICMPV6 or proto in EXTENSION_HEADERS):
            return self._refuse4(dropped("protocol_wrong_family"), packet, src, now)
        if self.mapper.stateful and proto not in (TCP, UDP):
            return self._refuse4(dropped("protocol_unsupported"), packet, src, now)
        ident = (packet[4] << 8) | packet[5]
        found = self._mapping(
            4, proto, src, dst, payload, first, ident if fragment else None, packet, now,
            hairpinned,
        )  # fmt: skip
        if isinstance(found, Out):
            return self._refuse4(found, packet, src, now)
        mapped, ports = found
        out = self._to6(packet, ihl, proto, payload, mapped, ports, first, now)
        if isinstance(out, Out):
            return self._refuse4(out, packet, src, now)
        if ihl == 20 and not fragment and len(out) == 1 and not hairpinned:
            self._remember_flow(False, proto, packet[12:24], mapped, 16, src + dst + sum(ports))
        if fragment and first and self.mapper.stateful:
            return Out((*out, *self._release((4, src, dst, ident, proto), now)))
        return Out(out)

    def _mapping(
        self, version: int, proto: int, src: int, dst: int, payload: bytes, first: bool,
        ident: int | None, packet: bytes, now: float, hairpinned: bool = False,
    ) -> tuple[Mapped, tuple[int, int]] | Out:  # fmt: skip
        """The mapping a packet from the IPv``version`` side takes, and its ports: its
        session's, found or made by the packet (a datagram's first fragment); for a
        later fragment (``ident`` its datagram's), the first fragment's, remembered
        (it is held until the first comes) where the mapper keeps state, and the
        mapping of its addresses alone where it does not."""
        mapper = self.mapper
        ports = (0, 0)
        if first:
            found = _ports(proto, payload)
            if found is None:
                return dropped("transport_truncated")
            ports = found
            flags = payload[13] if proto == TCP else 0
            flow = (proto, src, ports[0], dst, ports[1])
            if version == 6:
                made = mapper.outbound(flow, flags, now, create=True)
            else:
                made = mapper.inbound(flow, flags, now, create=True, hairpinned=hairpinned)
            if isinstance(made, str):
                if (
                    version == 4 and proto == TCP and flags & (SYN | ACK | RST | FIN) == SYN
                    and made in SYN_HELD_FOR and self.mapper.syn_hold > 0
                ):  # fmt: skip
                    # RFC 6146 3.5.2.2: held TCP_INCOMING_SYN for a simultaneous open.
                    until = now + self.mapper.syn_hold
                    key4 = (src, ports[0], dst, ports[1])
                    return dropped(self.memory.hold_syn(key4, packet, made, until))
                return dropped(made)
            mapped = made
            if version == 6 and flags & SYN:  # a held IPv4 SYN of this session is moot
                self.memory.simultaneous_open((mapped[2], mapped[3], mapped[0], mapped[1]))
        if ident is not None and self.mapper.stateful:
            key = (version, src, dst, ident, proto)
            if first:
                self.memory.remember(key, mapped, now)
            else:
                recalled = self.memory.recall(key, now)
                if recalled is None:
                    return dropped(self.memory.hold(key, packet, now))
                mapped = recalled
        elif not first:
            flow = (proto, src, 0, dst, 0)
            if version == 6:
                stateless = mapper.outbound(flow, 0, now, create=False)
            else:
                stateless = mapper.inbound(flow, 0, now, create=False, hairpinned=hairpinned)
            if isinstance(stateless, str):
                return dropped(stateless)
            mapped = stateless
        return mapped, ports

    def expire(self, now: float) -> list[bytes]:
        """Forget fragment mappings and held fragments past their time, and the mapper's.
        What to send: a port unreachable for each held IPv4 SYN whose time ran out."""
        unanswered = []
        for key, syn in self.memory.expire(now):
            reply = self._icmp4_error(syn, key[0], 3, 3, 0, now=now)
            if reply is not None:
                unanswered.append(reply)
        self.mapper.expire(now)
        return unanswered

    def _remember_flow(
        self, to4: bool, proto: int, key: bytes, mapped: Mapped, width: int, before: int
    ) -> None:
        """A TCP or UDP flow that went the full way, for its next packets (``_fastpath``)."""
        remembered = self.mapper.last_flow()
        if remembered is None:
            return
        session, lifetime = remembered
        src, sport, dst, dport = mapped
        entry = (
            session, src.to_bytes(width, "big"), dst.to_bytes(width, "big"),
            sport.to_bytes(2, "big") + dport.to_bytes(2, "big"),
            src + dst + sport + dport - before, lifetime,
        )  # fmt: skip
        self.flows.remember(to4, proto, bytes(key), entry)

    def _release(self, key: FragmentKey, now: float) -> list[bytes | bytearray]:
        """The held fragments of a datagram whose first was just translated, translated."""
        out: list[bytes | bytearray] = []
        for packet in self.memory.release(key):
            result = self.from_v6(packet, now) if key[0] == 6 else self.from_v4(packet, now)
            out.extend(result.packets)
        return out

    def _hairpin(self, out: Out, now: float) -> Out:
        """IPv4 packets for an address that stands for an IPv6 host go straight back
        in: a NAT64's pool (RFC 6146 3.8), a SIIT's pairs (RFC 7757 4)."""
        if not any(p[0] >> 4 == 4 and self.mapper.hairpin(dst4(p)) for p in out.packets):
            return out
        packets: list[bytes | bytearray] = []
        for p in out.packets:
            if p[0] >> 4 == 4 and self.mapper.hairpin(dst4(p)):
                again = self.from_v4(p, now, hairpinned=True)
                if again.drop is not None and not again.packets:
                    return dropped(again.drop)
                packets.extend(again.packets)
            else:
                packets.append(p)
        return Out(tuple(packets))

    # -- IPv6 to IPv4 --

    def _next_ident(self) -> int:
        self._ident = (self._ident + 1) & 0xFFFF
        return self._ident

    def _to4(
        self, packet: bytes, nh: int, payload: bytes, frag: tuple[int, int, bool] | None,
        mapped: Mapped, ports: tuple[int, int], first: bool,
    ) -> bytes | Out:  # fmt: skip
        src4, sport, dst4, dport = mapped
        src6 = int.from_bytes(packet[8:24], "big")
        dst6 = int.from_bytes(packet[24:40], "big")
        if first and nh in (TCP, UDP):
            where = checksum_at(nh)
            if nh == UDP and not payload[where] | payload[where + 1]:
                return dropped("udp_zero_checksum")  # invalid in IPv6 (RFC 8200 8.1)
            delta = src4 + dst4 + sport + dport - src6 - dst6 - ports[0] - ports[1]
            payload = rewrite_ports(payload, nh, sport, dport, delta)
        total = 20 + len(payload)
        if frag is None:
            ident, flags = self._next_ident(), DF if total > DF_LIMIT else 0
        else:
            ident, flags = frag[0] & 0xFFFF, (MF if frag[2] else 0) | frag[1] // 8
        traffic_class = ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)
        return (
            ipv4_header(traffic_class, ident, flags, packet[7] - 1, nh, src4, dst4, total) + payload
        )

    def _to6(
        self, packet: bytes, ihl: int, proto: int, payload: bytes, mapped: Mapped,
        ports: tuple[int, int], first: bool, now: float,
    ) -> tuple[bytes, ...] | Out:  # fmt: skip
        src6, sport, dst6, dport = mapped
        src4 = int.from_bytes(packet[12:16], "big")
        dst4 = int.from_bytes(packet[16:20], "big")
        flags_offset = (packet[6] << 8) | packet[7]
        fragment = bool(flags_offset & (MF | 0x1FFF))
        if flags_offset & DF and 40 + len(payload) + (8 if fragment else 0) > self.mtu:
            return self._too_big4(packet, src4, flags_offset, now)
        if first and proto in (TCP, UDP):
            where = checksum_at(proto)
            if proto == UDP and not payload[where] | payload[where + 1]:
                if fragment:
                    return dropped("udp_zero_checksum_fragment")  # RFC 7915 4.5
                # No checksum in IPv4, one in IPv6 (RFC 8200 8.1): computed afresh.
                rest = payload[4:6] + b"\0\0" + payload[8:]
                ports6 = sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
                csum = checksum(pseudo6_bytes(src6, dst6, len(payload), UDP) + ports6 + rest)
                payload = ports6 + payload[4:6] + (csum or 0xFFFF).to_bytes(2, "big") + payload[8:]
            else:
                delta = src6 + dst6 + sport + dport - src4 - dst4 - ports[0] - ports[1]
                payload = rewrite_ports(payload, proto, sport, dport, delta)
        nh = ICMPV6 if proto == ICMP else proto
        return emit6(packet, nh, src6, dst6, payload, fragment, flags_offset, self.mtu6)
