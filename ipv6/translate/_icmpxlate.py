"""ICMP and ICMPv6 translated (RFC 7915 4.2, 4.3, 5.2, 5.3): queries with their
identifiers mapped, errors with the packet inside them translated too (its
addresses and ports mapped the other way round), the type, code, pointer and
MTU tables, and ICMP extensions (RFC 4884) carried with their length attribute
rewritten. Pure.

:class:`IcmpTranslation` is the translator's ICMP half (:class:`._siit.Translator`
inherits it): it reads the mapper and the translator's own addresses, asks the
translator for the IPv4 identifiers it hands out and for hairpinning, and
sends what a translator sends itself through ``_icmpown``.
"""

from __future__ import annotations

import struct

from .._checksum import adjust, checksum
from ._headers import (
    DF,
    DF_LIMIT,
    FRAGMENT,
    FRAGMENT_HEADER,
    IPV6_MIN_MTU,
    MF,
    Out,
    dropped,
    emit6,
    ipv4_header,
    ipv6_header,
    pseudo6,
    pseudo6_bytes,
    rewrite_ports,
    traffic_class,
    walk6,
)
from ._icmpown import V4_QUOTE, V6_QUOTE, OwnMessages, is_error4
from ._mapping import ICMP, ICMPV6, TCP, UDP

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
ORIGINAL_MIN = 128  # RFC 4884: with an extension, the quoted datagram is at least this


def _plateau6(total_length: int) -> int:
    """RFC 7915 4.2, for a Fragmentation Needed without an MTU (a router older than
    RFC 1191): the greatest plateau below the packet's total length that is at
    least 1280, as the ICMPv6 Packet Too Big's MTU."""
    return next((p for p in _PLATEAUS if IPV6_MIN_MTU <= p < total_length), IPV6_MIN_MTU)


def split_extension(body: bytes, length: int) -> tuple[bytes, bytes]:
    """An ICMP error's body after its 8-byte header as (the quoted datagram, the
    extension structure), by its RFC 4884 length attribute in bytes. No length,
    or one the body cannot hold: no extension, all of it is the datagram."""
    if 0 < length < len(body):
        return body[:length], body[length:]
    return body, b""


def quote(inner: bytes, extension: bytes, unit: int, room: int) -> tuple[bytes, int]:
    """What an ICMP error carries after its header, in ``room`` bytes at most: the
    packet in error, and the extension structure that came with it (RFC 7915 4.2
    and 5.2: its length attribute adjusted), with the attribute to write (in
    ``unit``-byte words; 0 without an extension).

    With an extension, the datagram is zero-padded to a whole word and at least
    128 bytes (RFC 4884); it gives way first when room runs short, and the
    extension, which a cut would leave with a wrong checksum (RFC 4884), goes
    whole when even 128 bytes of the datagram leave it no room."""
    if extension:
        space = room - len(extension)
        if space >= ORIGINAL_MIN:
            kept = inner[: space // unit * unit]
            padded = max(ORIGINAL_MIN, -(-len(kept) // unit) * unit)
            return kept.ljust(padded, b"\0") + extension, padded // unit
    return inner[:room], 0


class IcmpTranslation(OwnMessages):
    """The ICMP half of a translator."""

    mtu6: int  # the lowest IPv6 MTU: what IPv4 packets without DF are fragmented to

    def _hairpin(self, out: Out, now: float) -> Out:
        raise NotImplementedError  # the translator's

    # -- ICMPv6 to ICMP --

    def _icmp6_in(self, packet: bytes, src: int, dst: int, payload: bytes, now: float) -> Out:
        if len(payload) < 8:
            return dropped("icmp_truncated")
        kind, code = payload[0], payload[1]
        if kind in (128, 129):  # echo request and reply
            ident = (payload[4] << 8) | payload[5]
            mapped = self.mapper.outbound((ICMP, src, ident, dst, ident), 0, now, create=True)
            if isinstance(mapped, str):
                return dropped(mapped)  # no error about an ICMPv6 message (RFC 7915 5.4)
            src4, ident4, dst4, _ = mapped
            kind4 = 8 if kind == 128 else 0
            old = (payload[2] << 8) | payload[3]
            # ICMPv6 sums a pseudo-header and ICMP does not: take it out with the type change.
            delta = (kind4 << 8) - (kind << 8) + ident4 - ident - pseudo6(src, dst, len(payload))
            body = (
                bytes((kind4, code)) + adjust(old, delta).to_bytes(2, "big")
                + ident4.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
            total = 20 + len(body)
            flags = DF if total > DF_LIMIT else 0
            v4 = ipv4_header(traffic_class(packet), self._next_ident(), flags, packet[7] - 1,
                             ICMP, src4, dst4, total)  # fmt: skip
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
        # Destination Unreachable and Time Exceeded say how long the datagram they
        # quote is, in 8-byte words, when an extension follows it (RFC 4884).
        length = payload[4] * 8 if kind in (1, 3) else 0
        original, extension = split_extension(payload[8:], length)
        inner = self._inner6to4(original, now)
        if isinstance(inner, str):
            return dropped(inner)
        inner4, inner_src6, inner_dst6, had_fragment = inner
        if word is None:  # Packet Too Big: RFC 7915 5.2's minimum(MTU-20, v4 next hop,
            # v6 next hop-20), the translator's device being both next hops.
            mtu6 = int.from_bytes(payload[4:8], "big")
            word = max(68, min(mtu6 - (28 if had_fragment else 20), self.mtu - 20, 0xFFFF))
        # The outer source: the host that the inner packet went to, or a router on the
        # way: its IPv4 form, or (RFC 6791) one of the addresses kept for the purpose.
        if src == inner_dst6:
            src4 = int.from_bytes(inner4[16:20], "big")
        else:
            found = self.mapper.address4(src)
            src4 = found if found is not None else self._rfc6791()
        dst4 = int.from_bytes(inner4[12:16], "big")
        if dst != inner_src6:
            return dropped("icmp_inner_mismatch")
        quoted, units = quote(inner4, extension, 4, V4_QUOTE)
        message = bytearray(struct.pack("!BBHI", pair[0], pair[1], 0, word | units << 16))
        message += quoted
        message[2:4] = checksum(message).to_bytes(2, "big")
        ident, total = self._next_ident(), 20 + len(message)
        v4 = ipv4_header(traffic_class(packet), ident, 0, packet[7] - 1, ICMP, src4, dst4, total)
        return Out((v4 + bytes(message),))

    def _inner6to4(self, inner: bytes, now: float) -> tuple[bytes, int, int, bool] | str:
        """The IPv6 packet inside an ICMPv6 error, as the IPv4 packet it stands for."""
        if len(inner) < 40 or inner[0] >> 4 != 6:
            return "icmp_inner_malformed"
        inner = inner[: 40 + ((inner[4] << 8) | inner[5])]  # no padding after it
        src6 = int.from_bytes(inner[8:24], "big")
        dst6 = int.from_bytes(inner[24:40], "big")
        walked = walk6(inner, truncated=True)
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
                - pseudo6(src6, dst6, payload_length - (offset - 40))
            )  # fmt: skip
            payload = (
                bytes((kind4, payload[1])) + adjust(old, delta).to_bytes(2, "big")
                + sport4.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
        elif nh in (TCP, UDP) and sport | dport:
            delta = src4 + dst4 + sport4 + dport4 - src6 - dst6 - sport - dport
            payload = rewrite_ports(payload, nh, sport4, dport4, delta)
        if frag is None:
            ident, flags_offset = 0, DF if total > DF_LIMIT else 0
        else:
            ident, flags_offset = frag[0] & 0xFFFF, (MF if frag[2] else 0) | frag[1] // 8
        header = ipv4_header(
            traffic_class(inner), ident, flags_offset, inner[7], proto, src4, dst4, total
        )
        return header + payload, src6, dst6, frag is not None

    # -- ICMP to ICMPv6 --

    def _icmp4_in(
        self, packet: bytes, src: int, dst: int, payload: bytes, now: float, *,
        hairpinned: bool = False,
    ) -> Out:  # fmt: skip
        if len(payload) < 8:
            return dropped("icmp_truncated")
        if checksum(payload):
            return dropped("icmp_bad_checksum")
        kind, code = payload[0], payload[1]
        if kind in (0, 8):
            ident = (payload[4] << 8) | payload[5]
            flow = (ICMP, src, ident, dst, ident)
            mapped = self.mapper.inbound(flow, 0, now, create=True, hairpinned=hairpinned)
            if isinstance(mapped, str):
                return self._refuse4(dropped(mapped), packet, src, now)
            src6, ident6, dst6, _ = mapped
            kind6 = 128 if kind == 8 else 129
            old = (payload[2] << 8) | payload[3]
            delta = (kind6 << 8) - (kind << 8) + ident6 - ident + pseudo6(src6, dst6, len(payload))
            body = (
                bytes((kind6, code)) + adjust(old, delta).to_bytes(2, "big")
                + ident6.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
            flags_offset = (packet[6] << 8) | packet[7]
            if flags_offset & DF and 40 + len(body) > self.mtu:
                return self._too_big4(packet, src, flags_offset, now)
            return Out(emit6(packet, ICMPV6, src6, dst6, body, False, flags_offset, self.mtu6))
        if not is_error4(kind):
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
        # All three carry the quoted datagram's length in 4-byte words (RFC 4884).
        original, extension = split_extension(payload[8:], payload[5] * 4)
        inner = self._inner4to6(original, now)
        if isinstance(inner, str):
            return dropped(inner)
        inner6, inner_src4, _, inner_total = inner
        if word == -1:  # RFC 7915 4.2: minimum(MTU+20, v6 next hop, v4 next hop+20)
            mtu4 = (payload[6] << 8) | payload[7]
            word = max(IPV6_MIN_MTU, min(mtu4 + 20 if mtu4 else _plateau6(inner_total), self.mtu))
        from6 = self.mapper.address6(src)  # an illegal source too, for trouble shooting (4.1)
        if from6 is None:
            return dropped("icmp_source_unmapped")
        if dst != inner_src4:
            return dropped("icmp_inner_mismatch")
        to6 = int.from_bytes(inner6[8:24], "big")
        # ICMPv6's Destination Unreachable and Time Exceeded have a length attribute (in
        # 8-byte words); Packet Too Big and Parameter Problem none, so no extension.
        carries = pair[0] in (1, 3)
        quoted, units = quote(inner6, extension if carries else b"", 8, V6_QUOTE)
        message = bytearray(struct.pack("!BBHI", pair[0], pair[1], 0, word | units << 24))
        message += quoted
        message[2:4] = checksum(pseudo6_bytes(from6, to6, len(message)) + message).to_bytes(
            2, "big"
        )
        header = ipv6_header(packet[1], packet[8] - 1, ICMPV6, from6, to6, len(message))
        return Out((header + bytes(message),))

    def _inner4to6(self, inner: bytes, now: float) -> tuple[bytes, int, int, int] | str:
        """The IPv4 packet inside an ICMP error, as the IPv6 packet it stands for."""
        if len(inner) < 20 or inner[0] >> 4 != 4:
            return "icmp_inner_malformed"
        ihl = (inner[0] & 0x0F) * 4
        if ihl < 20 or len(inner) < ihl:
            return "icmp_inner_malformed"
        total = (inner[2] << 8) | inner[3]
        if total >= ihl:
            inner = inner[:total]  # no padding after it
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
            delta = (kind6 << 8) - (payload[0] << 8) + sport6 - sport + pseudo6(src6, dst6, length)
            payload = (
                bytes((kind6, payload[1])) + adjust(old, delta).to_bytes(2, "big")
                + sport6.to_bytes(2, "big") + payload[6:]
            )  # fmt: skip
        elif proto in (TCP, UDP) and sport | dport:
            delta = src6 + dst6 + sport6 + dport6 - src4 - dst4 - sport - dport
            payload = rewrite_ports(payload, proto, sport6, dport6, delta)
        nh = ICMPV6 if proto == ICMP else proto
        if flags_offset & (MF | 0x1FFF):
            frag = FRAGMENT_HEADER.pack(
                nh, 0, (flags_offset & 0x1FFF) * 8 | bool(flags_offset & MF), 0
            )
            frag = frag[:4] + ((inner[4] << 8) | inner[5]).to_bytes(4, "big")
            header = ipv6_header(inner[1], inner[8], FRAGMENT, src6, dst6, length + 8) + frag
        else:
            header = ipv6_header(inner[1], inner[8], nh, src6, dst6, length)
        return header + payload, src4, dst4, total
