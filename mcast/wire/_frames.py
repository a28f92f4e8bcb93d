"""From Ethernet frames to IGMP and MLD messages, and back.

Rules of this module:
- Pure: an Ethernet frame in, a :class:`WireMessage` (or None for traffic that
  is not IGMP or MLD) out; :class:`MalformedPacket` for bytes that claim to be
  IGMP or MLD and are not.
- IPv4: IHL and options are honoured; the Router Alert option (RFC 2113) is
  reported. IPv6: extension headers are walked to ICMPv6; a Hop-by-Hop
  Router Alert (RFC 2711, value 0 for MLD) is reported.
- Encoders build what a host or router sends: IGMP with TTL 1 and Router
  Alert, MLD with hop limit 1, a link-local source and a Hop-by-Hop header
  carrying Router Alert, as RFC 3376 and RFC 3810 require.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ._igmp import IPPROTO_IGMP, IgmpMessage, decode_igmp_untrusted, encode_igmp
from ._mld import IPPROTO_ICMPV6, MLD_TYPES, MldMessage, decode_mld_untrusted, encode_mld
from ._wirecommon import MalformedPacket, checksum, need, untrusted

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q = 0x0800, 0x86DD, 0x8100
_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
ROUTER_ALERT_V4 = b"\x94\x04\x00\x00"
HOP_BY_HOP, ROUTING, FRAGMENT, DESTINATION = 0, 43, 44, 60


@dataclass(frozen=True)
class WireMessage:
    """An IGMP or MLD message with what the IP header said about it."""

    protocol: str  # "igmp" or "mld"
    source: IPAddress
    destination: IPAddress
    ttl: int  # TTL or hop limit
    router_alert: bool
    message: IgmpMessage | MldMessage
    source_mac: str = ""

    @property
    def version(self) -> int:
        from ._igmp import IgmpQuery, IgmpV1Report, IgmpV3Report
        from ._mld import MldQuery, MldV2Report

        msg = self.message
        if isinstance(msg, IgmpQuery | MldQuery):
            return msg.version
        if isinstance(msg, IgmpV1Report):
            return 1
        if isinstance(msg, IgmpV3Report):
            return 3
        if isinstance(msg, MldV2Report):
            return 2
        return 2 if self.protocol == "igmp" else 1


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


@untrusted
def decode_frame_untrusted(frame: bytes) -> WireMessage | None:
    """The IGMP or MLD message in an Ethernet frame, or None if there is none."""
    need(frame, 0, 14, "an Ethernet header")
    _, source_mac, ethertype = _ETH.unpack_from(frame, 0)
    offset = 14
    while ethertype == ETH_P_8021Q:
        need(frame, offset, 4, "a VLAN tag")
        (ethertype,) = struct.unpack_from("!H", frame, offset + 2)
        offset += 4
    if ethertype == ETH_P_IP:
        found = decode_ipv4_untrusted(frame[offset:])
    elif ethertype == ETH_P_IPV6:
        found = decode_ipv6_untrusted(frame[offset:])
    else:
        return None
    if found is None:
        return None
    return WireMessage(
        found.protocol,
        found.source,
        found.destination,
        found.ttl,
        found.router_alert,
        found.message,
        _mac(source_mac),
    )


@untrusted
def decode_ipv4_untrusted(packet: bytes) -> WireMessage | None:
    """The IGMP message an IPv4 packet carries (None: not IGMP); MalformedPacket,
    with the offset, when the bytes are not what they claim."""
    need(packet, 0, 20, "an IPv4 header")
    first, _, total, _, frag, ttl, proto, _, src, dst = _IPV4.unpack_from(packet, 0)
    if first >> 4 != 4:
        raise MalformedPacket(f"IP version {first >> 4} in an IPv4 frame", 0)
    if proto != IPPROTO_IGMP:
        return None
    header = (first & 0x0F) * 4
    if header < 20 or total < header:
        raise MalformedPacket(f"IPv4 header length {header} or total length {total}", 0)
    need(packet, 0, total, "the IPv4 packet its header announces")
    if frag & 0x3FFF:
        return None  # a fragment: IGMP is never fragmented, leave it alone
    alert = _has_v4_router_alert(packet[20:header])
    message = decode_igmp_untrusted(packet[header:total])
    return WireMessage(
        "igmp", ipaddress.IPv4Address(src), ipaddress.IPv4Address(dst), ttl, alert, message
    )


def _has_v4_router_alert(options: bytes) -> bool:
    offset = 0
    while offset < len(options):
        kind = options[offset]
        if kind == 0:  # end of options
            return False
        if kind == 1:  # no-op
            offset += 1
            continue
        if offset + 1 >= len(options) or options[offset + 1] < 2:
            raise MalformedPacket("a truncated IPv4 option", 20 + offset)
        if kind == 0x94:
            return True
        offset += options[offset + 1]
    return False


@untrusted
def decode_ipv6_untrusted(packet: bytes) -> WireMessage | None:
    """The MLD message an IPv6 packet carries past its extension headers (None: not
    MLD); MalformedPacket, with the offset, when the bytes are not what they claim."""
    need(packet, 0, 40, "an IPv6 header")
    first, length, next_header, hops, src_raw, dst_raw = _IPV6.unpack_from(packet, 0)
    if first >> 28 != 6:
        raise MalformedPacket(f"IP version {first >> 28} in an IPv6 frame", 0)
    need(packet, 40, length, "the IPv6 payload its header announces")
    end = 40 + length
    offset = 40
    alert = False
    while next_header in (HOP_BY_HOP, ROUTING, DESTINATION, FRAGMENT):
        need(packet, offset, 8, "an extension header")
        following, size = packet[offset], (packet[offset + 1] + 1) * 8
        if next_header == FRAGMENT:
            return None
        need(packet, offset, size, "an extension header")
        if next_header == HOP_BY_HOP:
            alert = _has_v6_router_alert(packet[offset + 2 : offset + size], offset + 2)
        next_header, offset = following, offset + size
    if next_header != IPPROTO_ICMPV6 or offset >= end or packet[offset] not in MLD_TYPES:
        return None
    source, destination = ipaddress.IPv6Address(src_raw), ipaddress.IPv6Address(dst_raw)
    message = decode_mld_untrusted(packet[offset:end], source, destination)
    return WireMessage("mld", source, destination, hops, alert, message)


def _has_v6_router_alert(options: bytes, base: int) -> bool:
    offset = 0
    while offset < len(options):
        kind = options[offset]
        if kind == 0:  # Pad1
            offset += 1
            continue
        if offset + 1 >= len(options):
            raise MalformedPacket("a truncated Hop-by-Hop option", base + offset)
        if kind == 5:
            return True
        offset += 2 + options[offset + 1]
    return False


# --- encoding (for queriers, tests and tshark comparisons) ------------------------


def encode_ipv4_igmp(
    message: IgmpMessage,
    source: ipaddress.IPv4Address,
    destination: ipaddress.IPv4Address,
    *,
    ttl: int = 1,
    router_alert: bool = True,
    ident: int = 0,
) -> bytes:
    """An IGMP message as the IPv4 packet a host sends it in: TTL 1 and the Router
    Alert option (RFC 2113) by default, the checksums computed."""
    payload = encode_igmp(message)
    options = ROUTER_ALERT_V4 if router_alert else b""
    header_len = 20 + len(options)
    header = (
        _IPV4.pack(
            0x40 | header_len // 4,
            0xC0,
            header_len + len(payload),
            ident,
            0x4000,
            ttl,
            IPPROTO_IGMP,
            0,
            source.packed,
            destination.packed,
        )
        + options
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


# encode_ipv6_mld parallels encode_ipv4_igmp: the two IP headers differ (options
# and checksum in IPv4, an extension header and pseudo-header in IPv6).
def encode_ipv6_mld(
    message: MldMessage,
    source: ipaddress.IPv6Address,
    destination: ipaddress.IPv6Address,
    *,
    hop_limit: int = 1,
    router_alert: bool = True,
) -> bytes:
    """An MLD message as the IPv6 packet a host sends it in: hop limit 1 and a
    Hop-by-Hop header with Router Alert (RFC 2711) by default, the checksum computed."""
    payload = encode_mld(message, source, destination)
    if router_alert:
        # Hop-by-Hop: next header ICMPv6, length 0 (8 bytes), Router Alert (MLD), PadN.
        extension = bytes([IPPROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0])
        first_next = HOP_BY_HOP
    else:
        extension, first_next = b"", IPPROTO_ICMPV6
    header = _IPV6.pack(
        6 << 28,
        len(extension) + len(payload),
        first_next,
        hop_limit,
        source.packed,
        destination.packed,
    )
    return header + extension + payload


def multicast_mac(destination: IPAddress) -> bytes:
    """The Ethernet address a packet to ``destination`` goes to (RFC 1112, RFC 2464)."""
    if isinstance(destination, ipaddress.IPv4Address):
        return (
            bytes([0x01, 0x00, 0x5E])
            + bytes([destination.packed[1] & 0x7F])
            + destination.packed[2:]
        )
    return b"\x33\x33" + destination.packed[12:]


def ethernet(
    packet: bytes, destination: IPAddress, source_mac: bytes = b"\x02\x00\x00\x00\x00\x01"
) -> bytes:
    ethertype = ETH_P_IP if isinstance(destination, ipaddress.IPv4Address) else ETH_P_IPV6
    return _ETH.pack(multicast_mac(destination), source_mac, ethertype) + packet


def pcap(frames: list[bytes]) -> bytes:
    """A pcap file (Ethernet link type) holding ``frames``, one a microsecond apart."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000, i, len(frame), len(frame)) + frame
    return out
