"""What both directions of a translation share (RFC 7915): the headers as
bytes, pseudo-header sums, an IPv6 packet's extension headers walked, the
IPv6 packet (or fragments) an IPv4 payload becomes, a transport header's
ports rewritten with its checksum moved (RFC 1624, never recomputed), and
the :class:`Out` every translation returns. Pure.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .._checksum import adjust, checksum
from ._mapping import ICMPV6, TCP, UDP

HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTIONS = 0, 43, 44, 60
# IPv6 extension headers (IANA's list, ESP left out: RFC 7915 5.1 excepts it).
EXTENSION_HEADERS = frozenset({HOP_BY_HOP, ROUTING, FRAGMENT, 51, DEST_OPTIONS, 135, 139, 140,
                               253, 254})  # fmt: skip
IPV6_MIN_MTU = 1280
DF, MF = 0x4000, 0x2000
DF_LIMIT = 1260  # RFC 7915 5.1: a translated IPv4 packet up to this size leaves with DF clear
ICMPV4_ERROR_LIMIT = 576  # RFC 1812 4.3.2.3

_V6 = struct.Struct("!IHBB16s16s")
_V4 = struct.Struct("!BBHHHBBH4s4s")
FRAGMENT_HEADER = struct.Struct("!BBHI")

Buffer = bytes | bytearray | memoryview


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


def checksum_at(proto: int) -> int:
    """Where a TCP or UDP header's checksum is."""
    return 16 if proto == TCP else 6


def rewrite_ports(payload: bytes, proto: int, sport: int, dport: int, delta: int) -> bytes:
    """A TCP or UDP payload with new ports, its checksum moved by ``delta`` (the new
    addresses' and ports' sum less the old): the one place a translation changes a
    transport header. A checksum the payload is too short to hold is left out; a
    UDP checksum of zero (none, in IPv4) stays zero."""
    where = checksum_at(proto)
    out = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + payload[4:]
    if len(out) < where + 2:
        return out
    old = (out[where] << 8) | out[where + 1]
    if proto == UDP and old == 0:
        return out
    return out[:where] + adjust(old, delta).to_bytes(2, "big") + out[where + 2 :]


def ipv4_header(
    tos: int, ident: int, flags_offset: int, ttl: int, proto: int, src: int, dst: int, total: int
) -> bytes:
    """A 20-byte IPv4 header with its checksum."""
    header = _V4.pack(0x45, tos, total, ident, flags_offset, ttl, proto, 0,
                      src.to_bytes(4, "big"), dst.to_bytes(4, "big"))  # fmt: skip
    return header[:10] + checksum(header).to_bytes(2, "big") + header[12:]


def ipv6_header(tclass: int, hop: int, nh: int, src: int, dst: int, payload_length: int) -> bytes:
    return _V6.pack(
        0x60000000 | tclass << 20, payload_length, nh, hop, src.to_bytes(16, "big"),
        dst.to_bytes(16, "big"),
    )  # fmt: skip


def traffic_class(packet: bytes) -> int:
    return ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)


def pseudo6(src: int, dst: int, length: int, nh: int = ICMPV6) -> int:
    """What an IPv6 pseudo-header adds to a ones' complement sum (mod 0xFFFF)."""
    return (src + dst + length + nh) % 0xFFFF


def pseudo6_bytes(src: int, dst: int, length: int, nh: int = ICMPV6) -> bytes:
    return src.to_bytes(16, "big") + dst.to_bytes(16, "big") + struct.pack("!I3xB", length, nh)


def dst4(packet: Buffer) -> int:
    return int.from_bytes(packet[16:20], "big")


def source_routed(options: bytes) -> bool:
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


def walk6(
    packet: bytes, *, truncated: bool = False
) -> tuple[int, int, tuple[int, int, bool] | None] | int | str:
    """(upper-layer protocol, its offset, (id, offset, more) of a Fragment header or
    None); the offset of Segments Left of a routing header that still has segments;
    or why the packet is not translated: ``ipv6_malformed`` when the headers do
    not add up, ``fragment_then_extension`` when a Fragment header is followed by
    another extension header (RFC 7915 5.1: such a packet SHOULD be dropped)."""
    nh, offset, frag = packet[6], 40, None
    while nh in (HOP_BY_HOP, ROUTING, DEST_OPTIONS, FRAGMENT):
        if offset + 8 > len(packet):
            return "ipv6_malformed"
        if nh == FRAGMENT:
            if packet[offset] in EXTENSION_HEADERS:
                return "fragment_then_extension"
            word = (packet[offset + 2] << 8) | packet[offset + 3]
            ident = int.from_bytes(packet[offset + 4 : offset + 8], "big")
            frag = (ident, word & 0xFFF8, bool(word & 1))
            nh, offset = packet[offset], offset + 8
            break  # what follows is the upper layer (or a later fragment's payload)
        if nh == ROUTING and packet[offset + 3] and not truncated:
            return offset + 3
        nh, offset = packet[offset], offset + (packet[offset + 1] + 1) * 8
    if offset > len(packet):
        return "ipv6_malformed"
    return nh, offset, frag


def next_header_at(packet: bytes) -> int:
    """Where the Next Header field naming a packet's upper layer is (the pointer of
    a Parameter Problem, code 1): the header's own, or its last extension header's."""
    nh, at, offset = packet[6], 6, 40
    while nh in (HOP_BY_HOP, ROUTING, DEST_OPTIONS, FRAGMENT) and offset + 8 <= len(packet):
        size = 8 if nh == FRAGMENT else (packet[offset + 1] + 1) * 8
        nh, at = packet[offset], offset
        offset += size
    return at


def is_icmp6_error(packet: bytes) -> bool:
    walked = walk6(packet, truncated=True)
    if not isinstance(walked, tuple):
        return False
    nh, offset, _ = walked
    return nh == ICMPV6 and offset < len(packet) and packet[offset] < 128


def text4(address: int) -> str:
    return str(IPv4Address(address))


def text6(address: int) -> str:
    return str(IPv6Address(address))


def emit6(
    packet: bytes, nh: int, src6: int, dst6: int, payload: bytes, fragment: bool,
    flags_offset: int, mtu6: int,
) -> tuple[bytes, ...]:  # fmt: skip
    """The IPv6 packet(s) an IPv4 ``packet``'s ``payload`` becomes: a Fragment header
    when the IPv4 packet was a fragment, and fragments of at most ``mtu6`` (the
    lowest IPv6 MTU) when DF was clear."""
    tos, hop = packet[1], packet[8] - 1
    df = flags_offset & DF
    if not fragment and (df or 40 + len(payload) <= mtu6):
        return (ipv6_header(tos, hop, nh, src6, dst6, len(payload)) + payload,)
    ident = (packet[4] << 8) | packet[5]
    offset = (flags_offset & 0x1FFF) * 8
    more = bool(flags_offset & MF)
    room = (mtu6 - 48) // 8 * 8
    out = []
    for start in range(0, max(len(payload), 1), room):
        piece = payload[start : start + room]
        last = start + room >= len(payload)
        m = 1 if (more or not last) else 0
        frag = FRAGMENT_HEADER.pack(nh, 0, (offset + start) | m, ident)
        out.append(ipv6_header(tos, hop, FRAGMENT, src6, dst6, 8 + len(piece)) + frag + piece)
    return tuple(out)
