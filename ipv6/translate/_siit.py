"""IP/ICMP translation (SIIT, RFC 7915) as pure byte work: one IPv4 packet in,
its IPv6 translation out, and back. Pure.

What a packet's addresses and ports become is a :class:`Mapper`'s decision
(``_mapping``): the stateless one (RFC 6052 prefixes and explicit address
mappings, RFC 7757), or the stateful NAT64 of ``_nat64`` (RFC 6146). The
translator owns everything else: the headers, ICMP and ICMPv6 with the
packet inside an error, checksums moved between pseudo-headers (RFC 1624,
never recomputed, so a corrupt packet stays corrupt), fragments, the MTU
rules, and the ICMP errors a router sends itself (time exceeded, a source
route, a routing header).

Every call returns an :class:`Out`: the packets to hand to the kernel (of
either family: the TUN device takes both) and, when the packet was not
translated, the reason, which the service counts.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .._checksum import adjust, checksum
from . import _fastpath
from ._fastpath import Entry, FlowCache
from ._mapping import ICMP, ICMPV6, TCP, UDP, Mapped, Mapper

HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTIONS = 0, 43, 44, 60
IPV6_MIN_MTU = 1280
DF, MF = 0x4000, 0x2000
DF_LIMIT = 1260  # RFC 7915 5.1: a translated IPv4 packet up to this size leaves with DF clear
ICMPV4_ERROR_LIMIT = 576  # RFC 1812 4.3.2.3
FRAGMENT_MEMORY = 4096  # fragmented datagrams whose mapping is remembered
FRAGMENT_TIMEOUT = 2.0  # RFC 6146 4: FRAGMENT_MIN
HELD_FRAGMENTS = 64  # fragments held until the first of their datagram arrives
HELD_SYNS = 256  # unsolicited IPv4 SYNs held for a simultaneous open (RFC 6146 3.5.2.2)
SYN_HELD_FOR = ("no_binding", "filtered")  # a mapper's reasons that hold a SYN, not drop it
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

_V6 = struct.Struct("!IHBB16s16s")
_V4 = struct.Struct("!BBHHHBBH4s4s")
_FRAG = struct.Struct("!BBHI")
_WORD = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class Out:
    """What one packet became: packets for the kernel, and why it was not translated."""

    packets: tuple[bytes | bytearray, ...] = ()  # bytearrays from the fast path
    drop: str | None = None


DROPPED: dict[str, Out] = {}  # reason -> Out, made once: a drop allocates nothing


def dropped(reason: str, reply: bytes | None = None) -> Out:
    if reply is not None:
        return Out((reply,), reason)
    out = DROPPED.get(reason)
    if out is None:
        out = DROPPED[reason] = Out((), reason)
    return out


Buffer = bytes | bytearray | memoryview


# --- ICMP type and code tables (RFC 7915 4.2 and 5.2) ------------------------------------------

# ICMPv4 Destination Unreachable code -> ICMPv6 (type, code); absent: dropped.
_UNREACH_4TO6 = {
    0: (1, 0), 1: (1, 0), 2: (4, 1), 3: (1, 4), 4: (2, 0), 5: (1, 0), 6: (1, 0), 7: (1, 0),
    8: (1, 0), 9: (1, 1), 10: (1, 1), 11: (1, 0), 12: (1, 0), 13: (1, 1), 15: (1, 1),
}  # fmt: skip
_UNREACH_6TO4 = {0: (3, 1), 1: (3, 10), 2: (3, 1), 3: (3, 1), 4: (3, 3)}
# Parameter Problem pointers (RFC 7915 Figures 3 and 6); absent: dropped.
_POINTER_4TO6 = {0: 0, 1: 1, 2: 4, 3: 4, 8: 7, 9: 6, **dict.fromkeys(range(12, 16), 8)}
_POINTER_4TO6 |= dict.fromkeys(range(16, 20), 24)
_POINTER_6TO4 = {0: 0, 1: 1, 4: 2, 5: 2, 6: 9, 7: 8, **dict.fromkeys(range(8, 24), 12)}
_POINTER_6TO4 |= dict.fromkeys(range(24, 40), 16)
# RFC 1191 section 7: the plateaus, for a router that reports no MTU.
_PLATEAUS = (65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68)


def _plateau(total_length: int) -> int:
    return next((p for p in _PLATEAUS if p < total_length), 68)


def _is_error4(kind: int) -> bool:
    return kind in (3, 4, 5, 11, 12)


def _ports(proto: int, payload: bytes | memoryview) -> tuple[int, int] | None:
    """(source, destination) ports or ICMP query ids, None if they cannot be read."""
    if proto in (TCP, UDP):
        if len(payload) < (20 if proto == TCP else 8):
            return None
        return (payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3]
    return 0, 0


class Translator:
    """One translator: a mapper, the addresses its own errors come from, the
    lowest IPv6 MTU (RFC 7915 4: packets without DF are fragmented to fit it)."""

    def __init__(
        self, mapper: Mapper, own4: int, own6: int, *, mtu6: int = IPV6_MIN_MTU,
        fragment_memory: int = FRAGMENT_MEMORY,
    ) -> None:  # fmt: skip
        self.mapper, self.own4, self.own6, self.mtu6 = mapper, own4, own6, mtu6
        self._ident = 0
        # (family, src, dst, id, proto) -> (expires, mapping) of a fragmented datagram
        self._fragments: OrderedDict[tuple[int, int, int, int, int], tuple[float, Mapped]] = (
            OrderedDict()
        )
        self._fragment_limit = fragment_memory
        self._held: OrderedDict[tuple[int, int, int, int, int], list[tuple[float, bytes]]] = (
            OrderedDict()
        )
        # Held fragments (``fragment_held``, not yet a fate): released with their
        # datagram's first fragment, or expired when it never came.
        self.released_fragments = 0
        self.expired_fragments = 0
        # (src4, sport, dst4, dport) -> (until, packet): an IPv4 SYN no session took,
        # held TCP_INCOMING_SYN for a simultaneous open from the IPv6 side.
        self._syns: OrderedDict[tuple[int, int, int, int], tuple[float, bytes]] = OrderedDict()
        self.syns_simultaneous = 0  # held SYNs an IPv6 SYN of their session made moot
        self.syns_unanswered = 0  # held SYNs answered, in the end, by a port unreachable
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
        return _fastpath.to6(self.flows, packet, now, self.mtu6)

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
        if packet[7] <= 1:
            return dropped("hop_limit_exceeded", self._icmp6_error(packet, src, 3, 0, 0))
        walked = _walk6(packet)
        if isinstance(walked, int):  # a routing header with segments left: its pointer
            reply = self._icmp6_error(packet, src, 4, 0, walked)
            return dropped("routing_header", reply)
        if walked is None:
            return dropped("ipv6_malformed")
        nh, offset, frag = walked
        payload = packet[offset:]
        if nh == ICMPV6:
            if frag is not None:
                return dropped("icmp_fragmented")
            return self._icmp6_in(packet, src, dst, payload, now)
        if self.mapper.stateful and nh not in (TCP, UDP):
            return dropped("protocol_unsupported")
        first = frag is None or frag[1] == 0
        ident = None if frag is None else frag[0]
        found = self._mapping(6, nh, src, dst, payload, first, ident, packet, now)
        if isinstance(found, Out):
            return found
        mapped, ports = found
        out = self._to4(packet, nh, payload, frag, mapped, ports, first)
        if isinstance(out, Out):
            return out
        if frag is None and offset == 40 and not self.mapper.hairpin(mapped[2]):
            self._remember_flow(self.flows.to4, packet[8:44], mapped, 4, src + dst + sum(ports))
        if frag is not None and first and self.mapper.stateful:
            held = self._release((6, src, dst, frag[0], nh), now)
            return self._hairpin(Out((out, *held)), now)
        return self._hairpin(Out((out,)), now)

    def from_v4(self, packet: Buffer, now: float) -> Out:
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
        if packet[8] <= 1:
            return dropped("ttl_exceeded", self._icmp4_error(packet, src, 11, 0, 0))
        if ihl > 20 and _source_routed(packet[20:ihl]):
            return dropped("source_route", self._icmp4_error(packet, src, 3, 5, 0))
        proto = packet[9]
        flags_offset = (packet[6] << 8) | packet[7]
        fragment = bool(flags_offset & (MF | 0x1FFF))
        first = not flags_offset & 0x1FFF
        payload = packet[ihl:]
        if proto == ICMP:
            if fragment:
                return dropped("icmp_fragmented")
            return self._icmp4_in(packet, src, dst, payload, now)
        if self.mapper.stateful and proto not in (TCP, UDP):
            return dropped("protocol_unsupported")
        ident = (packet[4] << 8) | packet[5]
        found = self._mapping(
            4, proto, src, dst, payload, first, ident if fragment else None, packet, now
        )
        if isinstance(found, Out):
            return found
        mapped, ports = found
        out = self._to6(packet, ihl, proto, payload, mapped, ports, first)
        if isinstance(out, Out):
            return out
        if ihl == 20 and not fragment and len(out) == 1:
            self._remember_flow(self.flows.to6, packet[12:24], mapped, 16, src + dst + sum(ports))
        if fragment and first and self.mapper.stateful:
            return Out((*out, *self._release((4, src, dst, ident, proto), now)))
        return Out(out)

    def _mapping(
        self, version: int, proto: int, src: int, dst: int, payload: bytes, first: bool,
        ident: int | None, packet: bytes, now: float,
    ) -> tuple[Mapped, tuple[int, int]] | Out:  # fmt: skip
        """The mapping a packet from the IPv``version`` side takes, and its ports: its
        session's, found or made by the packet (a datagram's first fragment); for a
        later fragment (``ident`` its datagram's), the first fragment's, remembered
        (it is held until the first comes) where the mapper keeps state, and the
        mapping of its addresses alone where it does not."""
        direction = self.mapper.outbound if version == 6 else self.mapper.inbound
        ports = (0, 0)
        if first:
            found = _ports(proto, payload)
            if found is None:
                return dropped("transport_truncated")
            ports = found
            flags = payload[13] if proto == TCP else 0
            made = direction((proto, src, ports[0], dst, ports[1]), flags, now, create=True)
            if isinstance(made, str):
                if (
                    version == 4 and proto == TCP and flags & (SYN | ACK | RST | FIN) == SYN
                    and made in SYN_HELD_FOR and self.mapper.syn_hold > 0
                ):  # fmt: skip
                    return self._hold_syn((src, ports[0], dst, ports[1]), packet, made, now)
                return dropped(made)
            mapped = made
            held = (mapped[2], mapped[3], mapped[0], mapped[1])  # as an IPv4 SYN's key
            if self._syns and version == 6 and flags & SYN and held in self._syns:
                del self._syns[held]  # RFC 6146 3.5.2.2: the held one is dropped
                self.syns_simultaneous += 1
        if ident is not None and self.mapper.stateful:
            key = (version, src, dst, ident, proto)
            if first:
                self._remember(key, mapped, now)
            else:
                recalled = self._recall(key, now)
                if recalled is None:
                    return self._hold(key, packet, now)
                mapped = recalled
        elif not first:
            stateless = direction((proto, src, 0, dst, 0), 0, now, create=False)
            if isinstance(stateless, str):
                return dropped(stateless)
            mapped = stateless
        return mapped, ports

    def expire(self, now: float) -> list[bytes]:
        """Forget fragment mappings and held fragments past their time, and the mapper's.
        What to send: a port unreachable for each held IPv4 SYN whose time ran out."""
        unanswered: list[bytes] = []
        while self._syns:
            syn_key, (until, syn) = next(iter(self._syns.items()))
            if until > now:
                break
            del self._syns[syn_key]
            self.syns_unanswered += 1
            reply = self._icmp4_error(syn, syn_key[0], 3, 3, 0)
            if reply is not None:
                unanswered.append(reply)
        while self._fragments:
            key, (expires, _) = next(iter(self._fragments.items()))
            if expires > now:
                break
            del self._fragments[key]
        while self._held:
            key, held = next(iter(self._held.items()))
            if held[0][0] + FRAGMENT_TIMEOUT > now:
                break
            self.expired_fragments += len(held)
            del self._held[key]
        self.mapper.expire(now)
        return unanswered

    def _hold_syn(
        self, key: tuple[int, int, int, int], packet: bytes, reason: str, now: float
    ) -> Out:
        """RFC 6146 3.5.2.2: an IPv4 SYN that no session takes (no binding for its
        destination, or filtered) is held TCP_INCOMING_SYN seconds. An IPv6 SYN of
        the same session in that time (a simultaneous open) makes it moot; otherwise
        :meth:`expire` answers it with a port unreachable. A repeated SYN is dropped
        (the first is held, with its time); past ``HELD_SYNS`` a SYN is dropped for
        ``reason`` at once."""
        if key in self._syns:
            return dropped("tcp_syn_repeated")
        if len(self._syns) >= HELD_SYNS:
            return dropped(reason)
        # Only what its port unreachable will quote: 256 held SYNs stay within 150 KB.
        self._syns[key] = (now + self.mapper.syn_hold, bytes(packet[:ICMPV4_ERROR_LIMIT]))
        return dropped("tcp_syn_held")

    @property
    def held_syns(self) -> int:
        return len(self._syns)

    def _remember_flow(
        self, table: dict[bytes, Entry], key: bytes, mapped: Mapped, width: int, before: int
    ) -> None:
        """A TCP or UDP flow that went the full way, for its next packets (``_fastpath``)."""
        session = getattr(self.mapper, "touched", None)
        lifetime = 0.0
        if self.mapper.stateful:
            if session is None or session.state not in ("ESTABLISHED", ""):
                return
            lifetime = self.mapper.lifetime_of(session)  # type: ignore[attr-defined]
        src, sport, dst, dport = mapped
        entry = (
            session, src.to_bytes(width, "big"), dst.to_bytes(width, "big"),
            sport.to_bytes(2, "big") + dport.to_bytes(2, "big"),
            src + dst + sport + dport - before, lifetime,
        )  # fmt: skip
        self.flows.remember(table, bytes(key), entry)

    # -- fragments of a stateful translation --

    def _remember(self, key: tuple[int, int, int, int, int], mapped: Mapped, now: float) -> None:
        self._fragments[key] = (now + FRAGMENT_TIMEOUT, mapped)
        self._fragments.move_to_end(key)
        if len(self._fragments) > self._fragment_limit:
            self._fragments.popitem(last=False)

    def _recall(self, key: tuple[int, int, int, int, int], now: float) -> Mapped | None:
        found = self._fragments.get(key)
        if found is None or found[0] <= now:
            return None
        return found[1]

    def _hold(self, key: tuple[int, int, int, int, int], packet: bytes, now: float) -> Out:
        """A fragment ahead of its datagram's first: kept (bounded) until the first comes."""
        held = self._held.get(key)
        if held is None:
            if len(self._held) >= HELD_FRAGMENTS:
                return dropped("fragment_memory_full")
            held = self._held[key] = []
        if len(held) >= HELD_FRAGMENTS:
            return dropped("fragment_memory_full")
        held.append((now, packet))
        return dropped("fragment_held")

    @property
    def held_fragments(self) -> int:
        return sum(len(held) for held in self._held.values())

    def _release(self, key: tuple[int, int, int, int, int], now: float) -> list[bytes | bytearray]:
        out: list[bytes | bytearray] = []
        for _, packet in self._held.pop(key, ()):
            self.released_fragments += 1
            result = self.from_v6(packet, now) if key[0] == 6 else self.from_v4(packet, now)
            out.extend(result.packets)
        return out

    def _hairpin(self, out: Out, now: float) -> Out:
        """IPv4 packets for the translator's own pool go straight back in (RFC 6146 3.8)."""
        if not any(p[0] >> 4 == 4 and self.mapper.hairpin(_dst4(p)) for p in out.packets):
            return out
        packets: list[bytes | bytearray] = []
        for p in out.packets:
            if p[0] >> 4 == 4 and self.mapper.hairpin(_dst4(p)):
                again = self.from_v4(p, now)
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
            where = 16 if nh == TCP else 6
            old = (payload[where] << 8) | payload[where + 1]
            if nh == UDP and old == 0:
                return dropped("udp_zero_checksum")  # invalid in IPv6 (RFC 8200 8.1)
            delta = src4 + dst4 + sport + dport - src6 - dst6 - ports[0] - ports[1]
            csum = adjust(old, delta)
            payload = (
                sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + payload[4:where]
                + csum.to_bytes(2, "big") + payload[where + 2 :]
            )  # fmt: skip
        total = 20 + len(payload)
        if frag is None:
            ident, flags = self._next_ident(), DF if total > DF_LIMIT else 0
        else:
            ident, flags = frag[0] & 0xFFFF, (MF if frag[2] else 0) | frag[1] // 8
        traffic_class = ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)
        return _ipv4(traffic_class, ident, flags, packet[7] - 1, nh, src4, dst4, total) + payload

    def _icmp6_in(self, packet: bytes, src: int, dst: int, payload: bytes, now: float) -> Out:
        if len(payload) < 8:
            return dropped("icmp_truncated")
        kind, code = payload[0], payload[1]
        if kind in (128, 129):  # echo request and reply
            ident = (payload[4] << 8) | payload[5]
            mapped = self.mapper.outbound((ICMP, src, ident, dst, ident), 0, now, create=True)
            if isinstance(mapped, str):
                return dropped(mapped)
            src4, ident4, dst4, _ = mapped
            kind4 = 8 if kind == 128 else 0
            old = (payload[2] << 8) | payload[3]
            # ICMPv6 sums a pseudo-header and ICMP does not: take it out with the type change.
            delta = (kind4 << 8) - (kind << 8) + ident4 - ident - _pseudo6(src, dst, len(payload))
            body = (
                bytes((kind4, code)) + adjust(old, delta).to_bytes(2, "big")
                + ident4.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
            total = 20 + len(body)
            flags = DF if total > DF_LIMIT else 0
            v4 = _ipv4(
                _tclass(packet), self._next_ident(), flags, packet[7] - 1, ICMP, src4, dst4, total
            )
            return self._hairpin(Out((v4 + body,)), now)
        if kind >= 128:
            return dropped("icmp_untranslatable")  # ND, MLD and the rest stay on their link
        if kind == 1:
            pair = _UNREACH_6TO4.get(code)
            word = 0
        elif kind == 2:
            pair, word = (3, 4), None
        elif kind == 3:
            pair, word = (11, code), 0
        elif kind == 4 and code == 0:
            pointer = _POINTER_6TO4.get(int.from_bytes(payload[4:8], "big"))
            pair = None if pointer is None else (12, 0)
            word = (pointer or 0) << 24
        elif kind == 4 and code == 1:
            pair, word = (3, 2), 0
        else:
            pair = None
        if pair is None:
            return dropped("icmp_untranslatable")
        inner = self._inner6to4(payload[8:], now)
        if isinstance(inner, str):
            return dropped(inner)
        inner4, inner_src6, inner_dst6, had_fragment = inner
        if word is None:  # Packet Too Big: the MTU less the headers' difference
            mtu6 = int.from_bytes(payload[4:8], "big")
            word = max(68, min(mtu6 - (28 if had_fragment else 20), 0xFFFF))
        # The outer source: the host that the inner packet went to, or a router on the way.
        if src == inner_dst6:
            src4 = int.from_bytes(inner4[16:20], "big")
        else:
            src4 = self.mapper.address4(src) or self.own4
        dst4 = int.from_bytes(inner4[12:16], "big")
        if dst != inner_src6:
            return dropped("icmp_inner_mismatch")
        message = bytearray(struct.pack("!BBHI", pair[0], pair[1], 0, word))
        message += inner4
        message[2:4] = checksum(message).to_bytes(2, "big")
        ident, total = self._next_ident(), 20 + len(message)
        v4 = _ipv4(_tclass(packet), ident, 0, packet[7] - 1, ICMP, src4, dst4, total)
        return Out((v4 + bytes(message),))

    def _inner6to4(self, inner: bytes, now: float) -> tuple[bytes, int, int, bool] | str:
        """The IPv6 packet inside an ICMPv6 error, as the IPv4 packet it stands for."""
        if len(inner) < 40 or inner[0] >> 4 != 6:
            return "icmp_inner_malformed"
        src6 = int.from_bytes(inner[8:24], "big")
        dst6 = int.from_bytes(inner[24:40], "big")
        walked = _walk6(inner, truncated=True)
        if not isinstance(walked, tuple):
            return "icmp_inner_malformed"
        nh, offset, frag = walked
        payload = inner[offset:]
        proto = ICMP if nh == ICMPV6 else nh
        sport, dport, flags = 0, 0, 0
        if nh in (TCP, UDP, ICMPV6) and len(payload) >= 8 and (frag is None or frag[1] == 0):
            sport = (payload[0] << 8) | payload[1]
            dport = (payload[2] << 8) | payload[3]
            if nh == ICMPV6:
                if payload[0] not in (128, 129):
                    return "icmp_inner_untranslatable"  # no error about an error
                sport = dport = (payload[4] << 8) | payload[5]
        # The inner packet went from the IPv4 side to the IPv6 side: swap, look up, swap back.
        mapped = self.mapper.outbound((proto, dst6, dport, src6, sport), flags, now, create=False)
        if isinstance(mapped, str):
            return f"icmp_inner_{mapped}"
        dst4, dport4, src4, sport4 = mapped
        payload_length = (inner[4] << 8) | inner[5]
        total = 20 + payload_length - (offset - 40)
        if nh == ICMPV6 and len(payload) >= 8:
            kind4 = 8 if payload[0] == 128 else 0
            old = (payload[2] << 8) | payload[3]
            delta = (
                (kind4 << 8) - (payload[0] << 8) + sport4 - sport
                - _pseudo6(src6, dst6, payload_length - (offset - 40))
            )  # fmt: skip
            payload = (
                bytes((kind4, payload[1])) + adjust(old, delta).to_bytes(2, "big")
                + sport4.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
        elif nh in (TCP, UDP) and sport | dport:
            where = 16 if nh == TCP else 6
            payload = sport4.to_bytes(2, "big") + dport4.to_bytes(2, "big") + payload[4:]
            if len(payload) >= where + 2:
                old = (payload[where] << 8) | payload[where + 1]
                if old or nh == TCP:
                    delta = src4 + dst4 + sport4 + dport4 - src6 - dst6 - sport - dport
                    payload = (
                        payload[:where] + adjust(old, delta).to_bytes(2, "big")
                        + payload[where + 2 :]
                    )  # fmt: skip
        if frag is None:
            ident, flags_offset = 0, DF if total > DF_LIMIT else 0
        else:
            ident, flags_offset = frag[0] & 0xFFFF, (MF if frag[2] else 0) | frag[1] // 8
        header = _ipv4(_tclass(inner), ident, flags_offset, inner[7], proto, src4, dst4, total)
        return header + payload, src6, dst6, frag is not None

    def _icmp6_error(
        self, invoking: bytes, to: int, kind: int, code: int, word: int
    ) -> bytes | None:
        """An ICMPv6 error from the translator itself, or None where RFC 4443 2.4 forbids one."""
        if to >> 120 == 0xFF or to == 0 or _is_icmp6_error(invoking):
            return None
        body = bytearray(struct.pack("!BBHI", kind, code, 0, word) + invoking[: IPV6_MIN_MTU - 48])
        body[2:4] = checksum(_pseudo6_bytes(self.own6, to, len(body)) + body).to_bytes(2, "big")
        return _ipv6(0, 255, ICMPV6, self.own6, to, len(body)) + bytes(body)

    # -- IPv4 to IPv6 --

    def _to6(
        self, packet: bytes, ihl: int, proto: int, payload: bytes, mapped: Mapped,
        ports: tuple[int, int], first: bool,
    ) -> tuple[bytes, ...] | Out:  # fmt: skip
        src6, sport, dst6, dport = mapped
        src4 = int.from_bytes(packet[12:16], "big")
        dst4 = int.from_bytes(packet[16:20], "big")
        flags_offset = (packet[6] << 8) | packet[7]
        fragment = bool(flags_offset & (MF | 0x1FFF))
        if first and proto in (TCP, UDP):
            where = 16 if proto == TCP else 6
            old = (payload[where] << 8) | payload[where + 1]
            if proto == UDP and old == 0:
                if fragment:
                    return dropped("udp_zero_checksum_fragment")  # RFC 7915 4.5
                csum = checksum(
                    _pseudo6_bytes(src6, dst6, len(payload), UDP)
                    + sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + payload[4:6]
                    + b"\0\0" + payload[8:]
                ) or 0xFFFF  # fmt: skip
            else:
                delta = src6 + dst6 + sport + dport - src4 - dst4 - ports[0] - ports[1]
                csum = adjust(old, delta)
            payload = (
                sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + payload[4:where]
                + csum.to_bytes(2, "big") + payload[where + 2 :]
            )  # fmt: skip
        nh = ICMPV6 if proto == ICMP else proto
        return self._emit6(packet, nh, src6, dst6, payload, fragment, flags_offset)

    def _emit6(
        self, packet: bytes, nh: int, src6: int, dst6: int, payload: bytes, fragment: bool,
        flags_offset: int,
    ) -> tuple[bytes, ...]:  # fmt: skip
        """The IPv6 packet(s) for ``payload``: a Fragment header when the IPv4 packet
        was a fragment, and fragments of at most the lowest IPv6 MTU when DF was clear."""
        tos, hop = packet[1], packet[8] - 1
        df = flags_offset & DF
        if not fragment and (df or 40 + len(payload) <= self.mtu6):
            return (_ipv6(tos, hop, nh, src6, dst6, len(payload)) + payload,)
        ident = (packet[4] << 8) | packet[5]
        offset = (flags_offset & 0x1FFF) * 8
        more = bool(flags_offset & MF)
        room = (self.mtu6 - 48) // 8 * 8
        out = []
        for start in range(0, max(len(payload), 1), room):
            piece = payload[start : start + room]
            last = start + room >= len(payload)
            m = 1 if (more or not last) else 0
            frag = _FRAG.pack(nh, 0, (offset + start) | m, ident)
            out.append(_ipv6(tos, hop, FRAGMENT, src6, dst6, 8 + len(piece)) + frag + piece)
        return tuple(out)

    def _icmp4_in(self, packet: bytes, src: int, dst: int, payload: bytes, now: float) -> Out:
        if len(payload) < 8:
            return dropped("icmp_truncated")
        if checksum(payload):
            return dropped("icmp_bad_checksum")
        kind, code = payload[0], payload[1]
        if kind in (0, 8):
            ident = (payload[4] << 8) | payload[5]
            mapped = self.mapper.inbound((ICMP, src, ident, dst, ident), 0, now, create=True)
            if isinstance(mapped, str):
                return dropped(mapped)
            src6, ident6, dst6, _ = mapped
            kind6 = 128 if kind == 8 else 129
            old = (payload[2] << 8) | payload[3]
            delta = (kind6 << 8) - (kind << 8) + ident6 - ident + _pseudo6(src6, dst6, len(payload))
            body = (
                bytes((kind6, code)) + adjust(old, delta).to_bytes(2, "big")
                + ident6.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
            return Out(self._emit6(packet, ICMPV6, src6, dst6, body, False, DF))
        if not _is_error4(kind):
            return dropped("icmp_untranslatable")
        word = 0
        if kind == 3:
            pair = _UNREACH_4TO6.get(code)
            if pair == (4, 1):
                word = 6  # the pointer to the Next Header field
            elif pair == (2, 0):
                word = -1  # the MTU, worked out once the inner packet is read
        elif kind == 11:
            pair = (3, code)
        elif kind == 12 and code in (0, 2):
            pointer = _POINTER_4TO6.get(payload[4])
            pair = None if pointer is None else (4, 0)
            word = pointer or 0
        else:
            pair = None  # source quench, redirects: nothing in IPv6 to say
        if pair is None:
            return dropped("icmp_untranslatable")
        inner = self._inner4to6(payload[8:], now)
        if isinstance(inner, str):
            return dropped(inner)
        inner6, inner_src4, _, inner_total = inner
        if word == -1:
            mtu4 = (payload[6] << 8) | payload[7] or _plateau(inner_total)
            word = max(IPV6_MIN_MTU, mtu4 + 20)  # RFC 7915 4.2, and no IPv6 link is smaller
        from6 = self.mapper.address6(src)
        if from6 is None:
            return dropped("icmp_source_unmapped")
        if dst != inner_src4:
            return dropped("icmp_inner_mismatch")
        to6 = int.from_bytes(inner6[8:24], "big")
        message = bytearray(struct.pack("!BBHI", pair[0], pair[1], 0, word))
        message += inner6[: IPV6_MIN_MTU - 48]
        message[2:4] = checksum(_pseudo6_bytes(from6, to6, len(message)) + message).to_bytes(
            2, "big"
        )
        header = _ipv6(packet[1], packet[8] - 1, ICMPV6, from6, to6, len(message))
        return Out((header + bytes(message),))

    def _inner4to6(self, inner: bytes, now: float) -> tuple[bytes, int, int, int] | str:
        """The IPv4 packet inside an ICMP error, as the IPv6 packet it stands for."""
        if len(inner) < 20 or inner[0] >> 4 != 4:
            return "icmp_inner_malformed"
        ihl = (inner[0] & 0x0F) * 4
        if ihl < 20 or len(inner) < ihl:
            return "icmp_inner_malformed"
        total = (inner[2] << 8) | inner[3]
        src4 = int.from_bytes(inner[12:16], "big")
        dst4 = int.from_bytes(inner[16:20], "big")
        proto = inner[9]
        payload = inner[ihl:]
        flags_offset = (inner[6] << 8) | inner[7]
        first = not flags_offset & 0x1FFF
        sport = dport = 0
        if first and proto in (TCP, UDP, ICMP) and len(payload) >= 8:
            sport = (payload[0] << 8) | payload[1]
            dport = (payload[2] << 8) | payload[3]
            if proto == ICMP:
                if payload[0] not in (0, 8):
                    return "icmp_inner_untranslatable"
                sport = dport = (payload[4] << 8) | payload[5]
        # The inner packet went from the IPv6 side to the IPv4 side: swap, look up, swap back.
        mapped = self.mapper.inbound((proto, dst4, dport, src4, sport), 0, now, create=False)
        if isinstance(mapped, str):
            return f"icmp_inner_{mapped}"
        dst6, dport6, src6, sport6 = mapped
        length = max(0, total - ihl)
        if proto == ICMP and len(payload) >= 8:
            kind6 = 128 if payload[0] == 8 else 129
            old = (payload[2] << 8) | payload[3]
            delta = (kind6 << 8) - (payload[0] << 8) + sport6 - sport + _pseudo6(src6, dst6, length)
            payload = (
                bytes((kind6, payload[1])) + adjust(old, delta).to_bytes(2, "big")
                + sport6.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
        elif proto in (TCP, UDP) and sport | dport:
            where = 16 if proto == TCP else 6
            payload = sport6.to_bytes(2, "big") + dport6.to_bytes(2, "big") + payload[4:]
            if len(payload) >= where + 2:
                old = (payload[where] << 8) | payload[where + 1]
                if old or proto == TCP:
                    delta = src6 + dst6 + sport6 + dport6 - src4 - dst4 - sport - dport
                    payload = (
                        payload[:where] + adjust(old, delta).to_bytes(2, "big")
                        + payload[where + 2 :]
                    )  # fmt: skip
        nh = ICMPV6 if proto == ICMP else proto
        if flags_offset & (MF | 0x1FFF):
            frag = _FRAG.pack(nh, 0, (flags_offset & 0x1FFF) * 8 | bool(flags_offset & MF), 0)
            frag = frag[:4] + ((inner[4] << 8) | inner[5]).to_bytes(4, "big")
            header = _ipv6(inner[1], inner[8], FRAGMENT, src6, dst6, length + 8) + frag
        else:
            header = _ipv6(inner[1], inner[8], nh, src6, dst6, length)
        return header + payload, src4, dst4, total

    def _icmp4_error(
        self, invoking: bytes, to: int, kind: int, code: int, word: int
    ) -> bytes | None:
        """An ICMP error from the translator itself, or None where RFC 1812 4.3.2.7 forbids one."""
        flags_offset = (invoking[6] << 8) | invoking[7]
        if (
            to >> 28 in (0xE, 0xF) or to >> 24 in (0, 127) or flags_offset & 0x1FFF
            or (invoking[9] == ICMP and _is_error4(invoking[(invoking[0] & 0x0F) * 4]))
        ):  # fmt: skip
            return None
        body = bytearray(struct.pack("!BBHI", kind, code, 0, word))
        body += invoking[: ICMPV4_ERROR_LIMIT - 28]
        body[2:4] = checksum(body).to_bytes(2, "big")
        ident, total = self._next_ident(), 20 + len(body)
        return _ipv4(0xC0, ident, 0, 64, ICMP, self.own4, to, total) + bytes(body)


# --- headers -----------------------------------------------------------------------------------


def _ipv4(
    tos: int, ident: int, flags_offset: int, ttl: int, proto: int, src: int, dst: int, total: int
) -> bytes:
    """A 20-byte IPv4 header with its checksum."""
    header = _V4.pack(0x45, tos, total, ident, flags_offset, ttl, proto, 0,
                      src.to_bytes(4, "big"), dst.to_bytes(4, "big"))  # fmt: skip
    return header[:10] + checksum(header).to_bytes(2, "big") + header[12:]


def _ipv6(tclass: int, hop: int, nh: int, src: int, dst: int, payload_length: int) -> bytes:
    return _V6.pack(
        0x60000000 | tclass << 20, payload_length, nh, hop, src.to_bytes(16, "big"),
        dst.to_bytes(16, "big"),
    )  # fmt: skip


def _tclass(packet: bytes) -> int:
    return ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)


def _pseudo6(src: int, dst: int, length: int, nh: int = ICMPV6) -> int:
    """What an IPv6 pseudo-header adds to a ones' complement sum (mod 0xFFFF)."""
    return (src + dst + length + nh) % 0xFFFF


def _pseudo6_bytes(src: int, dst: int, length: int, nh: int = ICMPV6) -> bytes:
    return src.to_bytes(16, "big") + dst.to_bytes(16, "big") + struct.pack("!I3xB", length, nh)


def _dst4(packet: Buffer) -> int:
    return int.from_bytes(packet[16:20], "big")


def _source_routed(options: bytes) -> bool:
    """Whether IPv4 options hold an unexpired loose or strict source route (RFC 7915 4.1)."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            return False
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            return False
        length = options[i + 1]
        if kind in (131, 137) and i + 2 < len(options) and options[i + 2] <= length:
            return True  # the pointer has not run past the route's end
        i += length
    return False


def _walk6(
    packet: bytes, *, truncated: bool = False
) -> tuple[int, int, tuple[int, int, bool] | None] | int | None:
    """(upper-layer protocol, its offset, (id, offset, more) of a Fragment header or None),
    the offset of Segments Left of a routing header that still has segments, or None
    when the headers do not add up."""
    nh, offset, frag = packet[6], 40, None
    while nh in (HOP_BY_HOP, ROUTING, DEST_OPTIONS, FRAGMENT):
        if offset + 8 > len(packet):
            return None
        if nh == FRAGMENT:
            word = (packet[offset + 2] << 8) | packet[offset + 3]
            ident = int.from_bytes(packet[offset + 4 : offset + 8], "big")
            frag = (ident, word & 0xFFF8, bool(word & 1))
            nh, offset = packet[offset], offset + 8
            if frag[1]:  # a later fragment: the rest is payload
                break
            continue
        if nh == ROUTING and packet[offset + 3] and not truncated:
            return offset + 3
        nh, offset = packet[offset], offset + (packet[offset + 1] + 1) * 8
    if offset > len(packet):
        return None
    return nh, offset, frag


def _is_icmp6_error(packet: bytes) -> bool:
    walked = _walk6(packet, truncated=True)
    if not isinstance(walked, tuple):
        return False
    nh, offset, _ = walked
    return nh == ICMPV6 and offset < len(packet) and packet[offset] < 128


def text4(address: int) -> str:
    return str(IPv4Address(address))


def text6(address: int) -> str:
    return str(IPv6Address(address))
