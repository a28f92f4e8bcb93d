"""IPv4 and IPv6 headers as the tunnel sees them, and the ICMPv6 errors it
returns: pure byte work, shared by the data plane, the tests and the spoofer.

Addresses stay integers on the hot path (a packet's checks are a handful of
integer masks); ``ipaddress`` objects appear only at the edges.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .._checksum import checksum
from .._errors import Ipv6Error

PROTO_IPV6 = 41  # IPv6-in-IPv4 (RFC 4213)
ICMPV6 = 58
IPV6_HEADER = 40
IPV6_MIN_MTU = 1280

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")


Packet = bytes | bytearray | memoryview  # the plane hands views of its buffers, never copies


class Malformed(Ipv6Error, ValueError):
    """Bytes that are not the packet they claim to be."""


class Outer(NamedTuple):
    """What the tunnel needs from an IPv4 header: its addresses and payload (a tuple:
    made for every packet, and a frozen dataclass costs a microsecond to make)."""

    src: int
    dst: int
    payload: Packet


def parse_ipv4(packet: Packet) -> Outer:
    """An IPv4 packet carrying protocol 41, as a raw socket hands it over."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise Malformed("not an IPv4 packet")
    ihl = (packet[0] & 0x0F) * 4
    total = int.from_bytes(packet[2:4], "big")
    if ihl < 20 or total < ihl or len(packet) < total:
        raise Malformed("IPv4 header lengths do not add up")
    if packet[9] != PROTO_IPV6:
        raise Malformed(f"IPv4 protocol {packet[9]} is not 41")
    src = int.from_bytes(packet[12:16], "big")
    dst = int.from_bytes(packet[16:20], "big")
    return Outer(src, dst, packet[ihl:total])


def ipv4_header(src: int, dst: int, payload_length: int, *, ttl: int = 64, ident: int = 0) -> bytes:
    """An IPv4 header for protocol 41 with DF clear (RFC 3056 section 5.2)."""
    header = _IPV4.pack(
        0x45, 0, 20 + payload_length, ident, 0, ttl, PROTO_IPV6, 0,
        src.to_bytes(4, "big"), dst.to_bytes(4, "big"),
    )  # fmt: skip
    csum = checksum(header)
    return header[:10] + csum.to_bytes(2, "big") + header[12:]


def ipv6_addresses(packet: Packet) -> tuple[int, int]:
    """(source, destination) of an IPv6 packet whose lengths add up."""
    if len(packet) < IPV6_HEADER or packet[0] >> 4 != 6:
        raise Malformed("not an IPv6 packet")
    if IPV6_HEADER + int.from_bytes(packet[4:6], "big") != len(packet):
        raise Malformed("IPv6 payload length does not match the packet")
    return int.from_bytes(packet[8:24], "big"), int.from_bytes(packet[24:40], "big")


def ipv6_packet(
    src: int, dst: int, next_header: int, payload: bytes, *, hop_limit: int = 64
) -> bytes:
    """An IPv6 packet: a fixed header (no extension headers) and ``payload``."""
    return (
        _IPV6.pack(
            6 << 28,
            len(payload),
            next_header,
            hop_limit,
            src.to_bytes(16, "big"),
            dst.to_bytes(16, "big"),
        )
        + payload
    )


def icmpv6(src: int, dst: int, kind: int, code: int, *, word: int, invoking: Packet) -> bytes:
    """An ICMPv6 error about ``invoking``, no longer than the IPv6 minimum MTU."""
    room = IPV6_MIN_MTU - IPV6_HEADER - 8
    body = struct.pack("!BBHI", kind, code, 0, word) + invoking[:room]
    pseudo = (
        src.to_bytes(16, "big") + dst.to_bytes(16, "big") + struct.pack("!I3xB", len(body), ICMPV6)
    )
    csum = checksum(pseudo + body)
    return ipv6_packet(
        src, dst, ICMPV6, body[:2] + csum.to_bytes(2, "big") + body[4:], hop_limit=255
    )


def packet_too_big(router: int, invoking: Packet, mtu: int) -> bytes:
    """ICMPv6 Packet Too Big (type 2) back to the sender of ``invoking``."""
    return icmpv6(router, int.from_bytes(invoking[8:24], "big"), 2, 0, word=mtu, invoking=invoking)


def no_route(router: int, invoking: Packet) -> bytes:
    """ICMPv6 Destination Unreachable, no route to destination (type 1 code 0)."""
    return icmpv6(router, int.from_bytes(invoking[8:24], "big"), 1, 0, word=0, invoking=invoking)
