"""The ICMP messages a translator sends itself (RFC 7915 4.4, 5.4; RFC 4443
2.4, RFC 1812 4.3.2.7 say when it may not): the errors for packets it will not
translate, rate limited, the Fragmentation Needed of a packet too big for its
next hop, the answers to packets for its own addresses, which it never
translates back into itself, and RFC 6791's sources for ICMPv6 errors from
routers with no IPv4 form. Pure.

:class:`OwnMessages` is that part of a translator (``_icmpxlate``'s
:class:`IcmpTranslation`, and so :class:`._siit.Translator`, inherit it).
"""

from __future__ import annotations

import random
import struct
from collections import Counter

from .._checksum import checksum
from ._headers import (
    ICMPV4_ERROR_LIMIT,
    IPV6_MIN_MTU,
    MF,
    Out,
    dropped,
    ipv4_header,
    ipv6_header,
    is_icmp6_error,
    next_header_at,
    pseudo6_bytes,
)
from ._mapping import ICMP, ICMPV6, TCP, UDP, Mapper

V4_QUOTE = ICMPV4_ERROR_LIMIT - 28  # what an ICMPv4 error quotes, at most
V6_QUOTE = IPV6_MIN_MTU - 48  # what an ICMPv6 error quotes, at most (RFC 4443 2.4 (c))

# Why a packet was not translated -> the error its sender gets (type, code). RFC 7915
# 4.4 and 5.4 make "communication administratively prohibited" the default; RFC 6146
# 3.5.1.1 says "address unreachable" when no IPv4 transport address can be had. A
# reason not here (a malformed packet, a TCP segment of no session) gets nothing.
REFUSALS4 = {
    "destination_unmapped": (3, 13), "source_unmapped": (3, 13), "no_binding": (3, 1),
    "filtered": (3, 13), "session_limit": (3, 13), "udp_zero_checksum_fragment": (3, 13),
    "protocol_unsupported": (3, 2), "protocol_wrong_family": (3, 2),
}  # fmt: skip
REFUSALS6 = {
    "destination_unmapped": (1, 1), "source_unmapped": (1, 1), "pool_exhausted": (1, 3),
    "session_limit": (1, 3), "fragment_then_extension": (1, 1),
    "protocol_unsupported": (4, 1), "protocol_wrong_family": (4, 1),
}  # fmt: skip


class ErrorBudget:
    """How many ICMP errors a translator sends a second: a token bucket of ``rate``
    tokens a second holding a second's worth (RFC 7915 4.4 and 5.4: the errors
    may be rate limited, or not sent: a rate of 0)."""

    __slots__ = ("burst", "rate", "then", "tokens")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = self.tokens = max(1.0, rate)
        self.then: float | None = None

    def allow(self, now: float) -> bool:
        if self.rate <= 0:
            return False
        if self.then is not None and now > self.then:
            self.tokens = min(self.burst, self.tokens + (now - self.then) * self.rate)
        self.then = now if self.then is None else max(self.then, now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def is_error4(kind: int) -> bool:
    return kind in (3, 4, 5, 11, 12)


class OwnMessages:
    """What a translator sends itself."""

    mapper: Mapper
    own4: int  # where the translator's own ICMP errors come from
    own6: int
    mtu: int  # the next hop's MTU, both ways (the translator's device)
    budget: ErrorBudget
    icmp_sources: tuple[int, int]  # RFC 6791's pool (first address, how many); none: (0, 0)
    rng: random.Random
    icmp_errors: Counter[str]  # the translator's own errors: sent, rate_limited, off

    def _next_ident(self) -> int:
        raise NotImplementedError  # the translator's

    def _rfc6791(self) -> int:
        """An IPv4 source for an ICMPv6 error whose source has no IPv4 form: from the
        pool set aside for them, at random (RFC 6791 2), or the translator's own."""
        first, count = self.icmp_sources
        return first + self.rng.randrange(count) if count else self.own4

    def _may_send_error(self, now: float) -> bool:
        """Whether an error may go now (the budget), counted either way."""
        if self.budget.rate <= 0:
            self.icmp_errors["off"] += 1
            return False
        if not self.budget.allow(now):
            self.icmp_errors["rate_limited"] += 1
            return False
        self.icmp_errors["sent"] += 1
        return True

    def _icmp6_error(
        self, invoking: bytes, to: int, kind: int, code: int, word: int, *, now: float,
        source: int | None = None,
    ) -> bytes | None:  # fmt: skip
        """An ICMPv6 error from the translator (or ``source``), or None where RFC 4443
        2.4 forbids one or the budget has none left."""
        if to >> 120 == 0xFF or to == 0 or is_icmp6_error(invoking):
            return None
        if not self._may_send_error(now):
            return None
        src = self.own6 if source is None else source
        body = bytearray(struct.pack("!BBHI", kind, code, 0, word) + invoking[:V6_QUOTE])
        body[2:4] = checksum(pseudo6_bytes(src, to, len(body)) + body).to_bytes(2, "big")
        return ipv6_header(0, 255, ICMPV6, src, to, len(body)) + bytes(body)

    def _icmp4_error(
        self, invoking: bytes, to: int, kind: int, code: int, word: int, *, now: float
    ) -> bytes | None:
        """An ICMP error from the translator, or None where RFC 1812 4.3.2.7 forbids one
        or the budget has none left."""
        flags_offset = (invoking[6] << 8) | invoking[7]
        if (
            to >> 28 in (0xE, 0xF) or to >> 24 in (0, 127) or to >> 16 == 0xA9FE
            or flags_offset & 0x1FFF
            or (invoking[9] == ICMP and is_error4(invoking[(invoking[0] & 0x0F) * 4]))
        ):  # fmt: skip
            return None
        if not self._may_send_error(now):
            return None
        body = bytearray(struct.pack("!BBHI", kind, code, 0, word))
        body += invoking[:V4_QUOTE]
        body[2:4] = checksum(body).to_bytes(2, "big")
        ident, total = self._next_ident(), 20 + len(body)
        return ipv4_header(0xC0, ident, 0, 64, ICMP, self.own4, to, total) + bytes(body)

    def _refuse6(self, out: Out, packet: bytes, src: int, now: float) -> Out:
        """``out``, an IPv6 packet's drop, with the ICMPv6 error its reason calls for
        (REFUSALS6); the packet is not an ICMPv6 message (the caller's to know)."""
        pair = REFUSALS6.get(out.drop or "")
        if pair is None or out.packets:
            return out
        word = next_header_at(packet) if pair == (4, 1) else 0
        return dropped(out.drop or "", self._icmp6_error(packet, src, *pair, word, now=now))

    def _refuse4(self, out: Out, packet: bytes, src: int, now: float) -> Out:
        """``out``, an IPv4 packet's drop, with the ICMP error its reason calls for; a
        stateful translator's TCP segments get none (RFC 6146 3.5.2.2's states say
        what becomes of them: a SYN no session takes is answered after 6 s)."""
        pair = REFUSALS4.get(out.drop or "")
        if pair is None or out.packets or (self.mapper.stateful and packet[9] == TCP):
            return out
        return dropped(out.drop or "", self._icmp4_error(packet, src, *pair, 0, now=now))

    def _too_big4(self, packet: bytes, src: int, flags_offset: int, now: float) -> Out:
        """RFC 7915 4.1: a packet with DF whose translation is more than the next hop's
        MTU (the caller's to see) is refused with Fragmentation Needed, whose MTU is
        what the IPv4 side may send: the next hop's less the headers' difference."""
        mtu4 = self.mtu - (28 if flags_offset & (MF | 0x1FFF) else 20)
        return dropped("too_big", self._icmp4_error(packet, src, 3, 4, mtu4, now=now))

    def _to_translator6(
        self, packet: bytes, walked: tuple[int, int, tuple[int, int, bool] | None], src: int,
        dst: int, now: float,
    ) -> Out:  # fmt: skip
        """An IPv6 packet for one of the translator's own addresses, never translated
        back into itself: an echo request is answered, a UDP datagram or TCP segment
        refused with a port unreachable and another protocol with a Parameter Problem
        (RFC 4443 3.1, 3.4), both from the address asked; the rest is dropped."""
        nh, offset, frag = walked
        payload = packet[offset:]
        if frag is not None:
            return dropped("to_translator")
        if nh == ICMPV6:
            if len(payload) < 8 or payload[0] != 128 or payload[1] != 0:
                return dropped("to_translator")
            if checksum(pseudo6_bytes(src, dst, len(payload)) + payload):
                return dropped("icmp_bad_checksum")
            body = bytearray(payload)
            body[0], body[2:4] = 129, b"\0\0"
            body[2:4] = checksum(pseudo6_bytes(dst, src, len(body)) + body).to_bytes(2, "big")
            answer = ipv6_header(0, 64, ICMPV6, dst, src, len(body)) + bytes(body)
            return Out((answer,), "to_translator_echo")
        if nh in (TCP, UDP):
            kind, code, word = 1, 4, 0
        else:
            kind, code, word = 4, 1, next_header_at(packet)
        reply = self._icmp6_error(packet, src, kind, code, word, now=now, source=dst)
        return dropped("to_translator", reply)

    def _to_translator4(self, packet: bytes, ihl: int, src: int, now: float) -> Out:
        """An IPv4 packet for the translator's own address, never translated back into
        itself: an echo request is answered, a UDP datagram or TCP segment refused
        with a port unreachable, another protocol with a protocol unreachable (RFC
        1812 4.3.2, RFC 792); the rest is dropped."""
        if ((packet[6] << 8) | packet[7]) & (MF | 0x1FFF):
            return dropped("to_translator")
        proto, payload = packet[9], packet[ihl:]
        if proto == ICMP:
            if len(payload) < 8 or payload[0] != 8 or payload[1] != 0:
                return dropped("to_translator")
            if checksum(payload):
                return dropped("icmp_bad_checksum")
            body = bytearray(payload)
            body[0], body[2:4] = 0, b"\0\0"
            body[2:4] = checksum(body).to_bytes(2, "big")
            header = ipv4_header(0, self._next_ident(), 0, 64, ICMP, self.own4, src, 20 + len(body))
            return Out((header + bytes(body),), "to_translator_echo")
        code = 3 if proto in (TCP, UDP) else 2
        return dropped("to_translator", self._icmp4_error(packet, src, 3, code, 0, now=now))
