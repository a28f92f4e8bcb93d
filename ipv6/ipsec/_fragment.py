"""IPv6 fragmentation by the source (RFC 8200 section 4.5), for packets that the
AH made too big for the link: pure, a packet in and fragments out.

The unfragmentable part (the IPv6 header, hop-by-hop options, and routing
headers with the destination options before them) is repeated in each
fragment; a Fragment header follows it; the rest (the AH first) is cut in
multiples of 8 octets. The caller picks the identification (one per packet,
never reused soon) and sends the fragments in order.
"""

from __future__ import annotations

import struct

NH_HOP_BY_HOP, NH_ROUTING, NH_DEST_OPTIONS, NH_FRAGMENT = 0, 43, 60, 44
FRAGMENT = struct.Struct("!BBHI")  # next header, reserved, offset << 3 | M, identification
IPV6_MIN_MTU = 1280


def unfragmentable_length(packet: bytes) -> tuple[int, int]:
    """(length of the unfragmentable part, offset of the next-header octet that
    names the first fragmentable header)."""
    at, next_at, kind = 40, 6, packet[6]
    while kind in (NH_HOP_BY_HOP, NH_ROUTING) or (
        kind == NH_DEST_OPTIONS and packet[at] == NH_ROUTING  # options for the routers on the way
    ):
        next_at, kind, at = at, packet[at], at + (packet[at + 1] + 1) * 8
    return at, next_at


def fragment(packet: bytes, mtu: int, identification: int) -> list[bytes]:
    """``packet`` as fragments of at most ``mtu`` octets each."""
    mtu = max(mtu, IPV6_MIN_MTU)
    split, next_at = unfragmentable_length(packet)
    first_kind = packet[next_at]
    head = bytearray(packet[:split])
    head[next_at] = NH_FRAGMENT
    rest = packet[split:]
    room = (mtu - split - FRAGMENT.size) & ~7
    out = []
    for offset in range(0, len(rest), room):
        chunk = rest[offset : offset + room]
        more = offset + room < len(rest)
        header = FRAGMENT.pack(first_kind, 0, offset | more, identification)
        piece = bytearray(head + header + chunk)
        struct.pack_into("!H", piece, 4, len(piece) - 40)
        out.append(bytes(piece))
    return out
