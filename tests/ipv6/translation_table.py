"""The translator's conformance table: every MUST and SHOULD of RFC 7915
sections 4 and 5, RFC 7757's explicit mappings and hairpinning, RFC 6146
section 3, RFC 6052 and RFC 6791 (with the router rules of RFC 1812, RFC 3927
and RFC 4443 a translator inherits), each with the packets that show it.

Each case gives the packet sent and the packets that must come out, both
built here with scapy from the RFC's text (scapy computes every length and
checksum itself), never taken from the translator. tests/ipv6/
test_translate_conformance.py runs them byte by byte, runs them again through
the fast path for remembered flows, and has tshark read every ICMP error
they make; docs/translation.md carries the table as the compliance statement
(``python -m tests.ipv6.translation_table --write`` rewrites it; a test fails
when it is stale).

Conventions of the cases (the translators are built from a checked
``TranslatorSpec``, as ``ipv6 nat64 add`` builds them, fresh for each case):

- The IPv4 identification a translator writes is its own counter, from 1 in
  a fresh translator (RFC 6864 allows any value for a packet that will not be
  fragmented; RFC 7915 5.1 would have zero: see the table's deviations).
- Its own ICMP errors leave with TTL 64 and TOS 0xC0 (IPv4), hop limit 255
  (IPv6), from its own address unless said otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.packet import Packet, Raw
from scapy.utils import checksum as inet_checksum

# --- addresses ------------------------------------------------------------------------------

P = "64:ff9b:1::/96"  # RFC 8215's local-use prefix: carries any IPv4 address
WKP = "64:ff9b::/96"  # RFC 6052's well-known prefix: global IPv4 only


def embed(v4: str, prefix: str = P) -> str:
    """RFC 6052 2.2, Figure 1: the IPv4 octets at their places for the prefix's
    length, byte 8 (bits 64 to 71) left zero, the suffix zero."""
    net = ipaddress.IPv6Network(prefix)
    out = bytearray(net.network_address.packed)
    places = [i for i in range(net.prefixlen // 8, 16) if i != 8][:4]
    for octet, place in zip(ipaddress.IPv4Address(v4).packed, places, strict=True):
        out[place] = octet
    return str(ipaddress.IPv6Address(bytes(out)))


OWN4 = "192.0.2.1"  # the SIIT translator's own IPv4 address
OWN6 = embed(OWN4)
H4 = "192.0.2.5"  # an IPv6 host with an IPv4-translatable address
H6 = embed(H4)
S4 = "198.51.100.7"  # an IPv4 server
S6 = embed(S4)
R4 = "198.51.100.254"  # an IPv4 router on the way
R6 = embed(R4)
A4, A6 = "203.0.113.8", "2001:db8:a::8"  # IPv6 hosts with explicit mappings (RFC 7757)
B4, B6 = "203.0.113.9", "2001:db8:a::9"
X6 = "2001:db8:ffff::1"  # an IPv6 router with no IPv4 form
V6 = "2001:db8:6::10"  # an IPv6 host behind a NAT64
POOL4 = "203.0.113.5"  # the NAT64's one pool address that it hands out
NAT_OWN4 = "203.0.113.4"
NAT_OWN6 = embed(NAT_OWN4)

SIIT: dict[str, Any] = {
    "mode": "siit", "prefix": P, "pool": "192.0.2.0/24", "ipv4_address": OWN4,
    "pairs": {A4: A6, B4: B6},
}  # fmt: skip
NAT64: dict[str, Any] = {"mode": "nat64", "prefix": P, "pool": "203.0.113.4/31"}


def cfg(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


# --- what a case is ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    family: str  # "4" or "6": which side the packet comes from
    packet: Packet | bytes
    at: float = 0.0


@dataclass(frozen=True)
class Case:
    """Packets through a fresh translator: ``before`` (state: their output unchecked),
    then ``send``, whose output must be ``expect`` exactly (then, with
    ``expire_at``, what the translator sends when its timers run at that time),
    and whose drop reason must be ``drop``."""

    name: str
    send: Send
    expect: tuple[Packet | bytes, ...] = ()
    drop: str | None = None
    config: dict[str, Any] = field(default_factory=lambda: SIIT)
    before: tuple[Send, ...] = ()
    expire_at: float | None = None
    subnets: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """A configuration the translator refuses before anything starts."""

    name: str
    config: dict[str, Any]
    why: str


@dataclass(frozen=True)
class Routed:
    """What a configuration routes into the translator's device."""

    name: str
    config: dict[str, Any]
    routes: tuple[str, ...]
    subnets: dict[str, list[str]] = field(default_factory=dict)


Check = Case | Refusal | Routed


@dataclass(frozen=True)
class Req:
    ref: str  # "RFC 7915 4.1"
    level: str  # MUST, SHOULD, MAY, MUST NOT, SHOULD NOT; "-" for a statement of scope
    text: str  # the requirement, in short
    behaviour: str  # what the translator does
    checks: tuple[Check, ...]
    status: str = "yes"  # yes, partly, deviates (deliberately, allowed by another RFC)


def sent(family: str, packet: Packet | bytes, at: float = 0.0) -> Send:
    return Send(family, packet, at)


def octets(packet: Packet | bytes) -> bytes:
    return packet if isinstance(packet, bytes) else raw(packet)


def extension(data: bytes = b"\x00\x01\x41\x01") -> bytes:
    """An ICMP extension structure (RFC 4884): version 2, its checksum, and one
    object (an MPLS label stack entry, RFC 4950: class 1, C-type 1)."""
    objects = struct.pack("!HBB", 4 + len(data), 1, 1) + data
    header = bytearray(b"\x20\x00\x00\x00")
    header[2:4] = inet_checksum(bytes(header) + objects).to_bytes(2, "big")
    return bytes(header) + objects


def err6(to: str, kind: Any, inner: bytes, src: str = OWN6) -> Any:
    """An ICMPv6 error the translator sends itself (RFC 4443: hop limit its own)."""
    return IPv6(src=src, dst=to, hlim=255) / kind / Raw(inner[:1232])


def err4(to: str, kind: Any, inner: bytes, ident: int, src: str = OWN4) -> Any:
    """An ICMP error the translator sends itself (RFC 1812 4.3.2.3: 576 bytes at most)."""
    return IP(src=src, dst=to, ttl=64, tos=0xC0, id=ident, flags=0) / kind / Raw(inner[:548])


# --- the packets the cases share ------------------------------------------------------------

UDP6 = IPv6(src=H6, dst=S6, hlim=30, tc=0x28, fl=77) / UDP(sport=4000, dport=53) / b"question"
UDP6_AS4 = (
    IP(src=H4, dst=S4, ttl=29, tos=0x28, id=1, flags=0) / UDP(sport=4000, dport=53) / (b"question")
)
UDP4 = IP(src=S4, dst=H4, ttl=20, tos=0xB8, id=77) / UDP(sport=53, dport=4000) / b"answer"
UDP4_AS6 = IPv6(src=S6, dst=H6, hlim=19, tc=0xB8, fl=0) / UDP(sport=53, dport=4000) / b"answer"
TCP6 = IPv6(src=H6, dst=S6, hlim=30) / TCP(sport=40000, dport=80, flags="A", seq=5) / b"data"
TCP6_AS4 = IP(src=H4, dst=S4, ttl=29, id=1, flags=0) / TCP(sport=40000, dport=80, flags="A", seq=5)
TCP6_AS4 = TCP6_AS4 / b"data"
# What the IPv6 host sent and the IPv4 server got (an ICMP error quotes the latter).
SENT6 = IPv6(src=H6, dst=S6, hlim=9) / UDP(sport=4000, dport=53) / (b"q" * 300)
GOT4 = IP(src=H4, dst=S4, ttl=8, id=0, flags=0) / UDP(sport=4000, dport=53) / (b"q" * 300)
SENT6_AS_GOT4 = IPv6(src=H6, dst=S6, hlim=8) / UDP(sport=4000, dport=53) / (b"q" * 300)


def unreach4(code: int, inner: Packet | bytes, **kw: Any) -> Any:
    """An ICMP error from an IPv4 router about what the IPv6 host sent."""
    return IP(src=R4, dst=H4, ttl=40) / ICMP(type=3, code=code, **kw) / Raw(octets(inner))


def error6(kind: Any, inner: Packet | bytes) -> Any:
    """An ICMPv6 error from the IPv6 host about what the IPv4 server sent."""
    return IPv6(src=H6, dst=S6, hlim=40) / kind / Raw(octets(inner))


# What the IPv4 server sent and the IPv6 host got.
SENT4 = IP(src=S4, dst=H4, ttl=9, id=321) / TCP(sport=80, dport=40000, flags="SA") / (b"r" * 300)
GOT6 = IPv6(src=S6, dst=H6, hlim=8) / TCP(sport=80, dport=40000, flags="SA") / (b"r" * 300)
GOT6_AS_SENT4 = IP(src=S4, dst=H4, ttl=8, id=0, flags=0) / TCP(sport=80, dport=40000, flags="SA")
GOT6_AS_SENT4 = GOT6_AS_SENT4 / (b"r" * 300)


def icmp6_from4(kind: Any, inner: Packet | bytes, src: str = R6, hlim: int = 39) -> Any:
    """What an ICMP error from R4 about SENT6 becomes for the IPv6 host."""
    return IPv6(src=src, dst=H6, hlim=hlim) / kind / Raw(octets(inner)[:1232])


def icmp4_from6(kind: Any, inner: Packet | bytes, ident: int = 1) -> Any:
    """What an ICMPv6 error from H6 about GOT6 becomes for the IPv4 server."""
    return IP(src=H4, dst=S4, ttl=39, id=ident, flags=0) / kind / Raw(octets(inner)[:548])


def big6(size: int, **kw: Any) -> Any:
    """An IPv6 TCP segment of ``size`` bytes in all, from H6 to S6."""
    return (
        IPv6(src=H6, dst=S6, hlim=30, **kw)
        / TCP(sport=1, dport=2, flags="A")
        / (b"b" * (size - 60))
    )


def big4(size: int, **kw: Any) -> Any:
    return (
        IP(src=S4, dst=H4, ttl=30, id=99, **kw)
        / TCP(sport=2, dport=1, flags="A")
        / (b"b" * (size - 40))
    )


# --- helpers for whole datagrams sent in fragments -------------------------------------------


def udp4(src: str, dst: str, sport: int, dport: int, data: bytes, **ip: Any) -> Any:
    return IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport) / data


def udp6(src: str, dst: str, sport: int, dport: int, data: bytes, **ip: Any) -> Any:
    return IPv6(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport) / data


def transport(packet: Packet) -> bytes:
    """What follows a packet's IP header (scapy's checksums for its addresses)."""
    return raw(packet)[40:] if packet.haslayer(IPv6) else raw(packet)[20:]


BIG4 = transport(udp4(S4, H4, 53, 4000, b"f" * 992))  # a 1,000-byte UDP datagram
BIG4_AS6 = transport(udp6(S6, H6, 53, 4000, b"f" * 992))
BIG6 = transport(udp6(V6, S6, 5000, 53, b"h" * 992))
BIG6_AS4 = transport(udp4(POOL4, S4, 5000, 53, b"h" * 992))
BIG4_TCP6 = transport(IPv6(src=S6, dst=H6) / TCP(sport=2, dport=1, flags="A") / (b"b" * 1221))


def ext_error4(kind: int, code: int, inner: bytes, ext: bytes, **kw: Any) -> Any:
    """An ICMP error with an extension: the datagram padded to 4-byte words (at
    least 128 bytes), its length in words (RFC 4884)."""
    padded = inner.ljust(max(128, -(-len(inner) // 4) * 4), b"\0")
    message = ICMP(type=kind, code=code, length=len(padded) // 4, **kw)
    return IP(src=R4, dst=H4, ttl=40) / message / Raw(padded + ext)


def ext_pad6(inner: bytes) -> bytes:
    return inner.ljust(max(128, -(-len(inner) // 8) * 8), b"\0")


EXT = extension()
ECHO6 = b"\x80\x00\x00\x00\x00\x00\x00\x00"  # an ICMPv6 echo request's header, as bytes
BIG_EXT = extension(b"\xab" * 1100)  # 1,112 bytes: with 128 of datagram, over 1,232

# --- the table ----------------------------------------------------------------------------------

TABLE: list[Req] = [
    # RFC 7915 1.4 and 4: IPv4 to IPv6 ----------------------------------------------------------
    Req("RFC 7915 1.4", "MUST", "The translator behaves as a router: a packet larger than the "
        "next hop's MTU is fragmented, or refused with Packet Too Big / Fragmentation Needed",
        "the next hop is the translator's device (its MTU, --mtu, both ways): IPv4 without DF "
        "is fragmented; with DF, refused with Fragmentation Needed",
        (Case("4to6 DF, 1,501 bytes out for a 1,500-byte next hop: Fragmentation Needed 1480",
              sent("4", big4(1481, flags="DF")),
              (err4(S4, ICMP(type=3, code=4, nexthopmtu=1480), raw(big4(1481, flags="DF")), 1),),
              "too_big"),
         Case("4to6 DF, 1,500 bytes out: fits, one packet",
              sent("4", big4(1480, flags="DF")),
              (IPv6(src=S6, dst=H6, hlim=29) / TCP(sport=2, dport=1, flags="A") / (b"b" * 1440),)),
         )),
    Req("RFC 7915 4.1", "MUST", "With DF set and a next hop MTU below the total length plus 20, "
        "send Fragmentation Needed to the IPv4 source",
        "as required; a fragment with DF is told an MTU with room for the Fragment header too",
        (Case("4to6 DF fragment too big: Fragmentation Needed 1472",
              sent("4", big4(1481, flags="DF+MF")),
              (err4(S4, ICMP(type=3, code=4, nexthopmtu=1472), raw(big4(1481, flags="DF+MF")),
                    1),), "too_big"),
         Case("4to6 DF, 2,000 bytes, a 9,000-byte next hop: one packet",
              sent("4", big4(2000, flags="DF")),
              (IPv6(src=S6, dst=H6, hlim=29) / TCP(sport=2, dport=1, flags="A") / (b"b" * 1960),),
              config=cfg(SIIT, mtu=9000)),
         )),
    Req("RFC 7915 4.1", "SHOULD", "Without DF, a packet whose translation exceeds the lowest IPv6 "
        "MTU (1280 by default) is fragmented to fit it", "as required",
        (Case("4to6 no DF, 1,281 bytes out: fragments of at most 1,280",
              sent("4", big4(1261)),
              (IPv6(src=S6, dst=H6, hlim=29) / IPv6ExtHdrFragment(nh=6, offset=0, m=1, id=99)
               / Raw(BIG4_TCP6[:1232]),
               IPv6(src=S6, dst=H6, hlim=29) / IPv6ExtHdrFragment(nh=6, offset=154, m=0, id=99)
               / Raw(BIG4_TCP6[1232:]))),
         )),
    Req("RFC 7915 4.1", "MUST", "The lowest IPv6 MTU can be set above 1280", "--ipv6-mtu",
        (Case("4to6 no DF, 1,400 bytes, lowest IPv6 MTU 1500: one packet",
              sent("4", big4(1400)),
              (IPv6(src=S6, dst=H6, hlim=29) / TCP(sport=2, dport=1, flags="A") / (b"b" * 1360),),
              config=cfg(SIIT, ipv6_mtu=1500)),
         )),
    Req("RFC 7915 4.1", "MUST NOT", "A packet without DF that is no fragment and fits gets no "
        "Fragment header", "as required",
        (Case("4to6 no DF, small: no Fragment header", sent("4", UDP4), (UDP4_AS6,)),)),
    Req("RFC 7915 4.1", "MUST", "The header: version 6, traffic class from TOS, flow label 0, "
        "payload length, next header from protocol (ICMP: 58), hop limit TTL - 1, addresses "
        "by the mapping", "as required",
        (Case("4to6 UDP", sent("4", UDP4), (UDP4_AS6,)),
         Case("4to6 TCP", sent("4", SENT4), (GOT6,)),
         Case("4to6 echo request: 8 to 128, the ICMPv6 checksum with its pseudo-header",
              sent("4", IP(src=S4, dst=H4, ttl=5) / ICMP(type=8, id=99, seq=3) / b"ping"),
              (IPv6(src=S6, dst=H6, hlim=4) / ICMPv6EchoRequest(id=99, seq=3, data=b"ping"),)),
         Case("4to6 echo reply: 0 to 129",
              sent("4", IP(src=S4, dst=H4, ttl=5) / ICMP(type=0, id=7, seq=1) / b"pong"),
              (IPv6(src=S6, dst=H6, hlim=4) / ICMPv6EchoReply(id=7, seq=1, data=b"pong"),)),
         )),
    Req("RFC 7915 4.1", "MUST", "A TTL that reaches zero: the packet is dropped and the source "
        "told Time Exceeded", "as required",
        (Case("4to6 TTL 1: Time Exceeded",
              sent("4", udp4(S4, H4, 53, 4000, b"x", ttl=1)),
              (err4(S4, ICMP(type=11, code=0), raw(udp4(S4, H4, 53, 4000, b"x", ttl=1)), 1),),
              "ttl_exceeded"),)),
    Req("RFC 7915 4.1", "MUST", "IPv4 options are not translated", "left out, the packet "
        "translated",
        (Case("4to6 no-op and record route options",
              sent("4", IP(src=S4, dst=H4, ttl=20, tos=0xB8, id=77,
                         options=b"\x01\x07\x07\x04\x00\x00\x00\x00")
                 / UDP(sport=53, dport=4000) / b"answer"), (UDP4_AS6,)),)),
    Req("RFC 7915 4.1", "MUST", "An unexpired source route option: discarded, and the sender "
        "SHOULD be told Source Route Failed", "as required",
        (Case("4to6 loose source route: Source Route Failed",
              sent("4", IP(src=S4, dst=H4, options=b"\x83\x07\x04\xc0\x00\x02\x09\x00")
                 / UDP(sport=53, dport=4000)),
              (err4(S4, ICMP(type=3, code=5), raw(IP(src=S4, dst=H4,
               options=b"\x83\x07\x04\xc0\x00\x02\x09\x00") / UDP(sport=53, dport=4000)), 1),),
              "source_route"),)),
    Req("RFC 7915 4.1", "MUST", "An IPv4 fragment gets a Fragment header: identification, offset "
        "and More Fragments copied", "as required",
        (Case("4to6 first fragment",
              sent("4", IP(src=S4, dst=H4, ttl=20, id=4321, flags="MF", proto=17)
                   / Raw(BIG4[:408])),
              (IPv6(src=S6, dst=H6, hlim=19) / IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=4321)
               / Raw(BIG4_AS6[:408]),)),
         Case("4to6 last fragment",
              sent("4", IP(src=S4, dst=H4, ttl=20, id=4321, frag=51, proto=17) / Raw(BIG4[408:])),
              (IPv6(src=S6, dst=H6, hlim=19) / IPv6ExtHdrFragment(nh=17, offset=51, m=0, id=4321)
               / Raw(BIG4_AS6[408:]),)),
         )),
    # RFC 7915 4.2 and 4.3: ICMPv4 to ICMPv6 ----------------------------------------------------
    Req("RFC 7915 4.2", "MUST", "Information messages other than echo, redirects, source quench "
        "and unknown types are silently dropped", "as required",
        (Case("4to6 timestamp request dropped",
              sent("4", IP(src=S4, dst=H4) / ICMP(type=13)), (), "icmp_untranslatable"),
         Case("4to6 redirect dropped",
              sent("4", IP(src=R4, dst=H4) / ICMP(type=5, gw=R4) / Raw(raw(GOT4)[:28])), (),
              "icmp_untranslatable"),
         Case("4to6 source quench dropped",
              sent("4", IP(src=R4, dst=H4) / ICMP(type=4) / Raw(raw(GOT4)[:28])), (),
              "icmp_untranslatable"),
         )),
    Req("RFC 7915 4.2", "MUST", "Destination Unreachable: the codes of the RFC's table (port "
        "unreachable 4, protocol unreachable Parameter Problem pointing at Next Header, "
        "administratively prohibited 1, precedence violation dropped)", "as required",
        (Case("4to6 port unreachable", sent("4", unreach4(3, GOT4)),
              (icmp6_from4(ICMPv6DestUnreach(code=4), SENT6_AS_GOT4),)),
         Case("4to6 host unreachable", sent("4", unreach4(1, GOT4)),
              (icmp6_from4(ICMPv6DestUnreach(code=0), SENT6_AS_GOT4),)),
         Case("4to6 protocol unreachable", sent("4", unreach4(2, GOT4)),
              (icmp6_from4(ICMPv6ParamProblem(code=1, ptr=6), SENT6_AS_GOT4),)),
         Case("4to6 communication administratively prohibited", sent("4", unreach4(13, GOT4)),
              (icmp6_from4(ICMPv6DestUnreach(code=1), SENT6_AS_GOT4),)),
         Case("4to6 host precedence violation dropped", sent("4", unreach4(14, GOT4)), (),
              "icmp_untranslatable"),
         )),
    Req("RFC 7915 4.2", "MUST", "Fragmentation Needed becomes Packet Too Big with the MTU "
        "minimum(MTU + 20, IPv6 next hop, IPv4 next hop + 20); with no MTU, RFC 1191's greatest "
        "plateau below the total length that is at least 1280", "as required",
        (Case("4to6 Fragmentation Needed 1400: Packet Too Big 1420",
              sent("4", unreach4(4, GOT4, nexthopmtu=1400)),
              (icmp6_from4(ICMPv6PacketTooBig(mtu=1420), SENT6_AS_GOT4),)),
         Case("4to6 Fragmentation Needed 1500 through a 1,500-byte device: 1500",
              sent("4", unreach4(4, GOT4, nexthopmtu=1500)),
              (icmp6_from4(ICMPv6PacketTooBig(mtu=1500), SENT6_AS_GOT4),)),
         Case("4to6 Fragmentation Needed without MTU, 4,000 bytes: the plateau 2002",
              sent("4", unreach4(4, raw(udp4(H4, S4, 4000, 53, b"q" * 3972, ttl=8, id=0))[:328])),
              (icmp6_from4(ICMPv6PacketTooBig(mtu=2002),
                           raw(udp6(H6, S6, 4000, 53, b"q" * 3972, hlim=8))[:348]),),
              config=cfg(SIIT, mtu=9000)),
         )),
    Req("RFC 7915 5 and 4.2", "MUST", "Packet Too Big never tells an MTU below 1280",
        "as required",
        (Case("4to6 Fragmentation Needed 1000: Packet Too Big 1280",
              sent("4", unreach4(4, GOT4, nexthopmtu=1000)),
              (icmp6_from4(ICMPv6PacketTooBig(mtu=1280), SENT6_AS_GOT4),)),)),
    Req("RFC 7915 4.2", "MUST", "Time Exceeded: type 3, the code kept", "as required",
        (Case("4to6 time exceeded in transit",
              sent("4", IP(src=R4, dst=H4, ttl=40) / ICMP(type=11, code=0) / Raw(raw(GOT4))),
              (icmp6_from4(ICMPv6TimeExceeded(code=0), SENT6_AS_GOT4),)),
         Case("4to6 fragment reassembly time exceeded",
              sent("4", IP(src=R4, dst=H4, ttl=40) / ICMP(type=11, code=1) / Raw(raw(GOT4))),
              (icmp6_from4(ICMPv6TimeExceeded(code=1), SENT6_AS_GOT4),)),
         )),
    Req("RFC 7915 4.2", "MUST", "Parameter Problem (codes 0 and 2): type 4 code 0, the pointer "
        "by the RFC's Figure 3; a pointer not in it, and code 1, dropped", "as required",
        (Case("4to6 pointer 9 (protocol) to 6 (next header)",
              sent("4", IP(src=R4, dst=H4, ttl=40) / ICMP(type=12, code=0, ptr=9) / Raw(raw(GOT4))),
              (icmp6_from4(ICMPv6ParamProblem(code=0, ptr=6), SENT6_AS_GOT4),)),
         Case("4to6 pointer 12 (source) to 8",
              sent("4", IP(src=R4, dst=H4, ttl=40) / ICMP(type=12, code=2, ptr=12)
                   / Raw(raw(GOT4))),
              (icmp6_from4(ICMPv6ParamProblem(code=0, ptr=8), SENT6_AS_GOT4),)),
         Case("4to6 pointer 4 (identification) dropped",
              sent("4", IP(src=R4, dst=H4, ttl=40) / ICMP(type=12, code=0, ptr=4) / Raw(raw(GOT4))),
              (), "icmp_untranslatable"),
         Case("4to6 missing a required option dropped",
              sent("4", IP(src=R4, dst=H4, ttl=40) / ICMP(type=12, code=1) / Raw(raw(GOT4))),
              (), "icmp_untranslatable"),
         )),
    Req("RFC 7915 4.2", "MUST", "An ICMPv4 extension (RFC 4884): its length attribute adjusted "
        "to the translated datagram; an extension too large for the ICMPv6 message SHOULD be "
        "truncated", "the datagram padded to 8-byte words and at least 128 bytes; an extension "
        "that cannot fit whole is left out whole (a cut one would fail its own checksum); "
        "Packet Too Big and Parameter Problem have no length, so no extension",
        (Case("4to6 time exceeded with an extension",
              sent("4", ext_error4(11, 0, raw(GOT4), EXT)),
              (IPv6(src=R6, dst=H6, hlim=39) / ICMPv6TimeExceeded(code=0, length=44)
               / Raw(ext_pad6(raw(SENT6_AS_GOT4)) + EXT),)),
         Case("4to6 a short datagram with an extension: padded to 128",
              sent("4", ext_error4(3, 3, raw(udp4(H4, S4, 4000, 53, b"q" * 20, ttl=8, id=0)), EXT)),
              (IPv6(src=R6, dst=H6, hlim=39) / ICMPv6DestUnreach(code=4, length=16)
               / Raw(ext_pad6(raw(udp6(H6, S6, 4000, 53, b"q" * 20, hlim=8))) + EXT),)),
         Case("4to6 an extension that cannot fit: left out",
              sent("4", ext_error4(3, 3, raw(GOT4), BIG_EXT)),
              (icmp6_from4(ICMPv6DestUnreach(code=4), SENT6_AS_GOT4),)),
         Case("4to6 Parameter Problem has no length: extension left out",
              sent("4", ext_error4(12, 0, raw(GOT4), EXT, ptr=9)),
              (icmp6_from4(ICMPv6ParamProblem(code=0, ptr=6), SENT6_AS_GOT4),)),
         )),
    Req("RFC 7915 4.1", "-", "The source of an ICMPv4 error is translated even when it is not "
        "one a router forwards, for trouble shooting", "as stated",
        (Case("4to6 an error from 127.0.0.1",
              sent("4", IP(src="127.0.0.1", dst=H4, ttl=40) / ICMP(type=3, code=3)
                   / Raw(raw(GOT4))),
              (icmp6_from4(ICMPv6DestUnreach(code=4), SENT6_AS_GOT4, src=embed("127.0.0.1")),)),
         )),
    Req("RFC 7915 4.3", "MUST", "The packet in an error is translated as a packet is, but its "
        "TTL is not decremented; the outer length follows it", "as required; the ICMPv6 error "
        "quotes at most what fits in 1,280 bytes (RFC 4443 2.4 (c))",
        (Case("4to6 an error of 1,500 bytes: 1,280 out",
              sent("4", unreach4(3, udp4(H4, S4, 4000, 53, b"q" * 1444, ttl=8, id=0))),
              (icmp6_from4(ICMPv6DestUnreach(code=4), udp6(H6, S6, 4000, 53, b"q" * 1444,
               hlim=8)),)),
         )),
    Req("RFC 7915 4.3", "MUST", "Translation stops at the first embedded header: an error about "
        "an error is dropped", "as required",
        (Case("4to6 an error quoting an error",
              sent("4", unreach4(3, IP(src=H4, dst=S4) / ICMP(type=3, code=3)
                                 / Raw(raw(GOT4)[:28]))),
              (), "icmp_inner_untranslatable"),)),
    Req("RFC 7915 4.4", "SHOULD", "A discarded IPv4 packet is answered with Destination "
        "Unreachable, communication administratively prohibited (unless RFC 6146 or RFC 7915 "
        "says otherwise, and never for an ICMPv4 error)", "as required (RFC 6146's cases below)",
        (Case("4to6 a private source under the well-known prefix: refused",
              sent("4", udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"a")),
              (err4("10.1.1.1", ICMP(type=3, code=13),
                    raw(udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"a")), 1, src="100.1.2.1"),),
              "source_unmapped",
              config=cfg(SIIT, prefix=WKP, pool="100.1.2.0/24", ipv4_address="100.1.2.1")),
         Case("4to6 an ICMPv4 error that cannot be translated: no error about it",
              sent("4", IP(src=S4, dst=POOL4) / ICMP(type=3, code=3)
                 / Raw(raw(udp4(POOL4, S4, 5000, 53, b"x")))),
              (), "icmp_inner_no_binding", config=NAT64),
         )),
    Req("RFC 7915 4.4 and 5.4", "SHOULD", "Whether the translator's ICMP errors are sent, "
        "rate limited or not sent can be configured", "--icmp-errors N: at most N a second "
        "(100 by default), 0 for none; status counts those sent, rate_limited and off",
        (Case("4to6 errors off: dropped, nothing sent",
              sent("4", udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"a")), (), "source_unmapped",
              config=cfg(SIIT, prefix=WKP, pool="100.1.2.0/24", ipv4_address="100.1.2.1",
                         icmp_error_rate=0)),
         Case("4to6 one error a second: the second in the same second is not sent",
              sent("4", udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"b")), (), "source_unmapped",
              config=cfg(SIIT, prefix=WKP, pool="100.1.2.0/24", ipv4_address="100.1.2.1",
                         icmp_error_rate=1),
              before=(sent("4", udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"a")),)),
         Case("4to6 one error a second: a second later, sent",
              sent("4", udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"b"), at=1.0),
              (err4("10.1.1.1", ICMP(type=3, code=13),
                    raw(udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"b")), 2, src="100.1.2.1"),),
              "source_unmapped",
              config=cfg(SIIT, prefix=WKP, pool="100.1.2.0/24", ipv4_address="100.1.2.1",
                         icmp_error_rate=1),
              before=(sent("4", udp4("10.1.1.1", "100.1.2.5", 53, 4000, b"a")),)),
         )),
    Req("RFC 7915 4.5", "SHOULD", "An IPv4 UDP datagram without checksum: a configuration "
        "chooses between dropping it and computing one", "always computed (no option to drop)",
        (Case("4to6 UDP without checksum: one computed",
              sent("4", IP(src=S4, dst=H4, ttl=20, tos=0xB8) / UDP(sport=53, dport=4000, chksum=0)
                 / b"answer"), (UDP4_AS6,)),), status="partly"),
    Req("RFC 7915 4.5", "SHOULD", "The first fragment of a UDP datagram without checksum is "
        "dropped (a stateless translator cannot compute one) and the event reported",
        "dropped and counted (udp_zero_checksum_fragment), the source told (4.4)",
        (Case("4to6 fragment without UDP checksum",
              sent("4", IP(src=S4, dst=H4, flags="MF", id=5) / UDP(sport=53, dport=4000, chksum=0,
                                                                 len=100) / (b"z" * 16)),
              (err4(S4, ICMP(type=3, code=13), raw(IP(src=S4, dst=H4, flags="MF", id=5)
               / UDP(sport=53, dport=4000, chksum=0, len=100) / (b"z" * 16)), 1),),
              "udp_zero_checksum_fragment"),)),
    Req("RFC 7915 4.5 and 5.5", "MUST", "Other transport protocols are forwarded as they are "
        "(the Next Header / Protocol step)", "as required in stateless mode; a stateful "
        "translator has sessions for TCP, UDP and ICMP only (RFC 6146 3, below)",
        (Case("4to6 DCCP (33) copied",
              sent("4", IP(src=S4, dst=H4, ttl=20, proto=33) / Raw(b"\x00\x07" * 8)),
              (IPv6(src=S6, dst=H6, hlim=19, nh=33) / Raw(b"\x00\x07" * 8),)),
         Case("6to4 DCCP (33) copied",
              sent("6", IPv6(src=H6, dst=S6, hlim=20, nh=33) / Raw(b"\x00\x07" * 8)),
              (IP(src=H4, dst=S4, ttl=19, proto=33, id=1, flags=0) / Raw(b"\x00\x07" * 8),)),
         )),
]  # fmt: skip

TABLE += [
    # RFC 7915 5: IPv6 to IPv4 -------------------------------------------------------------------
    Req("RFC 7915 5", "MUST", "A translated IPv4 packet of at most 1260 bytes leaves with DF "
        "clear, a larger one with DF set", "as required",
        (Case("6to4 1,280 bytes: 1,260 out, DF clear", sent("6", big6(1280)),
              (IP(src=H4, dst=S4, ttl=29, id=1, flags=0) / TCP(sport=1, dport=2, flags="A")
               / (b"b" * 1220),)),
         Case("6to4 1,281 bytes: 1,261 out, DF set", sent("6", big6(1281)),
              (IP(src=H4, dst=S4, ttl=29, id=1, flags="DF") / TCP(sport=1, dport=2, flags="A")
               / (b"b" * 1221),)),
         )),
    Req("RFC 7915 5.1", "MUST", "The header: version 4, IHL 5, TOS from traffic class, total "
        "length, protocol from next header (58: 1), TTL hop limit - 1, a new header checksum, "
        "addresses by the mapping", "as required",
        (Case("6to4 UDP", sent("6", UDP6), (UDP6_AS4,)),
         Case("6to4 TCP", sent("6", TCP6), (TCP6_AS4,)),
         Case("6to4 echo request: 128 to 8, the pseudo-header out of the checksum",
              sent("6", IPv6(src=H6, dst=S6, hlim=7) / ICMPv6EchoRequest(id=5, seq=1, data=b"hi")),
              (IP(src=H4, dst=S4, ttl=6, id=1, flags=0) / ICMP(type=8, id=5, seq=1) / b"hi",)),
         Case("6to4 echo reply: 129 to 0",
              sent("6", IPv6(src=H6, dst=S6, hlim=7) / ICMPv6EchoReply(id=5, seq=2, data=b"ho")),
              (IP(src=H4, dst=S4, ttl=6, id=1, flags=0) / ICMP(type=0, id=5, seq=2) / b"ho",)),
         )),
    Req("RFC 7915 5.1", "MUST", "A hop limit that reaches zero: dropped, the source told Time "
        "Exceeded", "as required",
        (Case("6to4 hop limit 1: Time Exceeded",
              sent("6", udp6(H6, S6, 1, 2, b"x", hlim=1)),
              (err6(H6, ICMPv6TimeExceeded(code=0), raw(udp6(H6, S6, 1, 2, b"x", hlim=1))),),
              "hop_limit_exceeded"),)),
    Req("RFC 7915 5.1", "MUST", "Hop-by-Hop, Destination Options and a Routing header with no "
        "segments left are ignored (not translated; lengths and protocol skip them)",
        "as required",
        (Case("6to4 hop-by-hop, destination options and a spent routing header",
              sent("6", IPv6(src=H6, dst=S6, hlim=30, tc=0x28) / IPv6ExtHdrHopByHop()
                 / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(addresses=[R6], segleft=0)
                 / UDP(sport=4000, dport=53) / b"question"),
              (IP(src=H4, dst=S4, ttl=29, tos=0x28, id=1, flags=0) / UDP(sport=4000, dport=53)
               / b"question",)),)),
    Req("RFC 7915 5.1", "MUST", "A Routing header with segments left: not translated, and the "
        "sender SHOULD get Parameter Problem pointing at Segments Left", "as required",
        (Case("6to4 routing header with a segment left",
              sent("6", IPv6(src=H6, dst=S6) / IPv6ExtHdrRouting(addresses=[R6], segleft=1)
                 / UDP(sport=4000, dport=53)),
              (err6(H6, ICMPv6ParamProblem(code=0, ptr=43), raw(IPv6(src=H6, dst=S6)
               / IPv6ExtHdrRouting(addresses=[R6], segleft=1) / UDP(sport=4000, dport=53))),),
              "routing_header"),)),
    Req("RFC 7915 5.1", "SHOULD", "A packet whose Fragment header is followed by another "
        "extension header (ESP aside) is dropped and logged", "dropped and counted "
        "(fragment_then_extension), the sender told (5.4)",
        (Case("6to4 fragment header then destination options",
              sent("6", IPv6(src=H6, dst=S6) / IPv6ExtHdrFragment(id=9, m=1) / IPv6ExtHdrDestOpt()
                 / UDP(sport=4000, dport=53)),
              (err6(H6, ICMPv6DestUnreach(code=1), raw(IPv6(src=H6, dst=S6)
               / IPv6ExtHdrFragment(id=9, m=1) / IPv6ExtHdrDestOpt()
               / UDP(sport=4000, dport=53))),), "fragment_then_extension"),
         Case("6to4 a later fragment naming hop-by-hop next",
              sent("6", IPv6(src=H6, dst=S6) / IPv6ExtHdrFragment(id=9, offset=4, nh=0)
                 / Raw(b"\x3b\x00" + b"\x00" * 14)),
              (err6(H6, ICMPv6DestUnreach(code=1), raw(IPv6(src=H6, dst=S6)
               / IPv6ExtHdrFragment(id=9, offset=4, nh=0) / Raw(b"\x3b\x00" + b"\x00" * 14))),),
              "fragment_then_extension"),
         )),
    Req("RFC 7915 5.1.1", "MUST", "A Fragment header: the low 16 bits of its identification, "
        "More Fragments copied, DF clear, the offset copied", "as required",
        (Case("6to4 first fragment",
              sent("6", IPv6(src=H6, dst=S6, hlim=30)
                   / IPv6ExtHdrFragment(nh=17, id=0x01020304, m=1)
                 / Raw(transport(udp6(H6, S6, 4000, 53, b"f" * 992))[:408])),
              (IP(src=H4, dst=S4, ttl=29, id=0x0304, flags="MF", proto=17)
               / Raw(transport(udp4(H4, S4, 4000, 53, b"f" * 992))[:408]),)),
         Case("6to4 last fragment",
              sent("6", IPv6(src=H6, dst=S6, hlim=30)
                 / IPv6ExtHdrFragment(nh=17, id=0x01020304, offset=51, m=0)
                 / Raw(transport(udp6(H6, S6, 4000, 53, b"f" * 992))[408:])),
              (IP(src=H4, dst=S4, ttl=29, id=0x0304, flags=0, frag=51, proto=17)
               / Raw(transport(udp4(H4, S4, 4000, 53, b"f" * 992))[408:]),)),
         )),
    # RFC 7915 5.2 and 5.3: ICMPv6 to ICMPv4 ----------------------------------------------------
    Req("RFC 7915 5.2", "MUST", "MLD, neighbour discovery and unknown informational messages are "
        "silently dropped", "as required",
        (Case("6to4 neighbour solicitation dropped",
              sent("6", IPv6(src=H6, dst=S6, hlim=255) / ICMPv6ND_NS(tgt=S6)), (),
              "icmp_untranslatable"),
         Case("6to4 unknown informational type 200 dropped",
              sent("6", IPv6(src=H6, dst=S6, nh=58) / Raw(b"\xc8\x00\x00\x00\x00\x00\x00\x00")), (),
              "icmp_untranslatable"),
         )),
    Req("RFC 7915 5.2", "MUST", "Destination Unreachable: code 0 to 1, 1 to 10, 2 to 1, 3 to 1, "
        "4 to 3 (port unreachable); other codes dropped", "as required",
        (Case("6to4 port unreachable",
              sent("6", error6(ICMPv6DestUnreach(code=4), GOT6)),
              (icmp4_from6(ICMP(type=3, code=3), GOT6_AS_SENT4),)),
         Case("6to4 administratively prohibited",
              sent("6", error6(ICMPv6DestUnreach(code=1), GOT6)),
              (icmp4_from6(ICMP(type=3, code=10), GOT6_AS_SENT4),)),
         Case("6to4 address unreachable",
              sent("6", error6(ICMPv6DestUnreach(code=3), GOT6)),
              (icmp4_from6(ICMP(type=3, code=1), GOT6_AS_SENT4),)),
         Case("6to4 code 5 dropped",
              sent("6", error6(ICMPv6DestUnreach(code=5), GOT6)), (), "icmp_untranslatable"),
         )),
    Req("RFC 7915 5.2", "MUST", "Packet Too Big becomes Fragmentation Needed with the MTU "
        "minimum(MTU - 20, IPv4 next hop, IPv6 next hop - 20), 28 rather than 20 when the "
        "packet in error had a Fragment header", "as required",
        (Case("6to4 Packet Too Big 1400: 1380",
              sent("6", error6(ICMPv6PacketTooBig(mtu=1400), GOT6)),
              (icmp4_from6(ICMP(type=3, code=4, nexthopmtu=1380), GOT6_AS_SENT4),)),
         Case("6to4 Packet Too Big 1600 through a 1,500-byte device: 1480",
              sent("6", error6(ICMPv6PacketTooBig(mtu=1600), GOT6)),
              (icmp4_from6(ICMP(type=3, code=4, nexthopmtu=1480), GOT6_AS_SENT4),)),
         Case("6to4 Packet Too Big 1400 about a fragment: 1372",
              sent("6", error6(ICMPv6PacketTooBig(mtu=1400), IPv6(src=S6, dst=H6, hlim=8)
                 / IPv6ExtHdrFragment(nh=6, id=0x10203, m=1)
                 / Raw(transport(GOT6)[:304]))),
              (icmp4_from6(ICMP(type=3, code=4, nexthopmtu=1372),
                           IP(src=S4, dst=H4, ttl=8, id=0x0203, flags="MF", proto=6)
                           / Raw(transport(SENT4)[:304])),)),
         )),
    Req("RFC 7915 5.2", "MUST", "Time Exceeded: type 11, the code kept", "as required",
        (Case("6to4 time exceeded",
              sent("6", error6(ICMPv6TimeExceeded(code=1), GOT6)),
              (icmp4_from6(ICMP(type=11, code=1), GOT6_AS_SENT4),)),)),
    Req("RFC 7915 5.2", "MUST", "Parameter Problem: code 0 to type 12 with the pointer by Figure "
        "6 (a pointer not in it: dropped); code 1 to protocol unreachable; code 2 dropped",
        "as required",
        (Case("6to4 pointer 7 (hop limit) to 8 (TTL)",
              sent("6", error6(ICMPv6ParamProblem(code=0, ptr=7), GOT6)),
              (icmp4_from6(ICMP(type=12, code=0, ptr=8), GOT6_AS_SENT4),)),
         Case("6to4 pointer 24 (destination) to 16",
              sent("6", error6(ICMPv6ParamProblem(code=0, ptr=24), GOT6)),
              (icmp4_from6(ICMP(type=12, code=0, ptr=16), GOT6_AS_SENT4),)),
         Case("6to4 unrecognised next header to protocol unreachable",
              sent("6", error6(ICMPv6ParamProblem(code=1, ptr=6), GOT6)),
              (icmp4_from6(ICMP(type=3, code=2), GOT6_AS_SENT4),)),
         Case("6to4 pointer 2 (flow label) dropped",
              sent("6", error6(ICMPv6ParamProblem(code=0, ptr=2), GOT6)), (),
              "icmp_untranslatable"),
         Case("6to4 unrecognised option dropped",
              sent("6", error6(ICMPv6ParamProblem(code=2, ptr=42), GOT6)), (),
              "icmp_untranslatable"),
         Case("6to4 unknown error type 42 dropped",
              sent("6", IPv6(src=H6, dst=S6, nh=58)
                 / Raw(b"\x2a\x00\x00\x00\x00\x00\x00\x00" + raw(GOT6))),
              (), "icmp_untranslatable"),
         )),
    Req("RFC 7915 5.2", "MUST", "An ICMPv6 extension (RFC 4884): its length attribute adjusted "
        "to the translated datagram", "the datagram padded to 4-byte words and at least 128 "
        "bytes; within 576 bytes the datagram gives way first, then the extension goes whole",
        (Case("6to4 port unreachable with an extension",
              sent("6", IPv6(src=H6, dst=S6, hlim=40) / ICMPv6DestUnreach(code=4, length=45)
                 / Raw(raw(GOT6) + EXT)),
              (IP(src=H4, dst=S4, ttl=39, id=1, flags=0) / ICMP(type=3, code=3, length=85)
               / Raw(raw(GOT6_AS_SENT4) + EXT),)),
         Case("6to4 a long datagram with an extension: the datagram cut to fit 576",
              sent("6", IPv6(src=H6, dst=S6, hlim=40) / ICMPv6DestUnreach(code=4, length=125)
                 / Raw(raw(IPv6(src=S6, dst=H6, hlim=8) / TCP(sport=80, dport=40000, flags="SA")
                           / (b"r" * 940)) + EXT)),
              (IP(src=H4, dst=S4, ttl=39, id=1, flags=0) / ICMP(type=3, code=3, length=134)
               / Raw(raw(IP(src=S4, dst=H4, ttl=8, id=0, flags=0)
                         / TCP(sport=80, dport=40000, flags="SA") / (b"r" * 940))[:536] + EXT),)),
         )),
    Req("RFC 7915 5.3", "MUST", "The packet in an error is translated as a packet is, but its "
        "hop limit is not decremented; the outer total length follows it", "as required; the "
        "ICMPv4 error stays within 576 bytes (RFC 1812 4.3.2.3)",
        (Case("6to4 an error of 700 bytes: 576 out",
              sent("6", error6(ICMPv6DestUnreach(code=4), IPv6(src=S6, dst=H6, hlim=8)
                 / TCP(sport=80, dport=40000, flags="SA") / (b"r" * 592))),
              (icmp4_from6(ICMP(type=3, code=3), IP(src=S4, dst=H4, ttl=8, id=0, flags=0)
               / TCP(sport=80, dport=40000, flags="SA") / (b"r" * 592)),)),)),
    Req("RFC 7915 5.4", "SHOULD", "A discarded IPv6 packet is answered with Destination "
        "Unreachable, communication administratively prohibited, unless it is an ICMPv6 "
        "message", "as required",
        (Case("6to4 a source with no IPv4 form: refused",
              sent("6", udp6(X6, S6, 4000, 53, b"?")),
              (err6(X6, ICMPv6DestUnreach(code=1), raw(udp6(X6, S6, 4000, 53, b"?"))),),
              "source_unmapped"),
         Case("6to4 an echo request with no IPv4 form: no error",
              sent("6", IPv6(src=X6, dst=S6) / ICMPv6EchoRequest(id=1)), (), "source_unmapped"),
         )),
    # RFC 7757: explicit address mappings -----------------------------------------------------
    Req("RFC 7757 3", "MUST", "An explicit address mapping is used before the RFC 6052 prefix, "
        "both ways", "as required (single addresses, --map V4=V6)",
        (Case("4to6 to an explicitly mapped IPv6 host",
              sent("4", udp4(S4, A4, 53, 4000, b"eam", ttl=20)),
              (udp6(S6, A6, 53, 4000, b"eam", hlim=19),)),
         Case("6to4 from an explicitly mapped IPv6 host",
              sent("6", udp6(A6, S6, 4000, 53, b"eam", hlim=20)),
              (udp4(A4, S4, 4000, 53, b"eam", ttl=19, id=1, flags=0),)),
         ), status="partly"),
    Req("RFC 6877 and RFC 7757 3", "-", "A CLAT translates the host's IPv4 address "
        "(192.0.0.1, RFC 7335) to its own IPv6 one by an explicit mapping: packets to that "
        "IPv6 address are the host's, translated to it", "as stated: the CLAT's own IPv6 "
        "address, being a mapping's, is never taken for the translator's own",
        (Case("6to4 an echo reply for a CLAT's host",
              sent("6", IPv6(src=S6, dst="2001:db8:c1a7::1") / ICMPv6EchoReply(id=5, seq=1)),
              (IP(src=S4, dst="192.0.0.1", ttl=63, id=1, flags=0) / ICMP(type=0, id=5, seq=1),),
              config={"mode": "siit", "prefix": P, "pairs": {"192.0.0.1": "2001:db8:c1a7::1"},
                      "ipv4_address": "192.0.0.2", "ipv6_address": "2001:db8:c1a7::1",
                      "clat": True}),)),
    Req("RFC 7757 4.2", "SHOULD", "Hairpinning: an IPv6 packet whose IPv4 destination is the "
        "IPv4 address of an IPv6 host's mapping goes back to IPv6, its source in the prefix's "
        "form", "as required, the hop limit decremented once each way",
        (Case("6to6 hairpinned between explicitly mapped hosts",
              sent("6", udp6(A6, embed(B4), 4000, 53, b"hairpin", hlim=20)),
              (udp6(embed(A4), B6, 4000, 53, b"hairpin", hlim=18),)),
         Case("6to6 an echo request hairpinned",
              sent("6", IPv6(src=A6, dst=embed(B4), hlim=20) / ICMPv6EchoRequest(id=9, seq=1)),
              (IPv6(src=embed(A4), dst=B6, hlim=18) / ICMPv6EchoRequest(id=9, seq=1),)),
         Case("6to4 to the mapping of an IPv4 host here: not hairpinned",
              sent("6", udp6(A6, "2001:db8:b::9", 4000, 53, b"out", hlim=20)),
              (udp4(A4, B4, 4000, 53, b"out", ttl=19, id=1, flags=0),),
              config=cfg(SIIT, pairs={A4: A6, B4: "2001:db8:b::9"}),
              subnets={"eth1": ["203.0.113.9/32"]}),
         )),
    Req("RFC 7757 3 and RFC 7915 4.6", "MUST", "What the kernel routes into the translator: the "
        "prefix, the pool, and one side of each mapping (an IPv6 host's IPv4 address, or an "
        "IPv4 host's IPv6 one), never both, which would send a translated packet back in",
        "as required: a mapping whose IPv4 address is on a link of this host is the IPv4 host's",
        (Routed("routes: one side of each mapping",
                cfg(SIIT, pairs={A4: A6, "198.51.100.50": "2001:db8:b::50"}),
                ("64:ff9b:1::/96", "2001:db8:b::50/128", "192.0.2.0/24", "203.0.113.8/32"),
                subnets={"eth1": ["198.51.100.0/24"]}),)),
]  # fmt: skip

V6B = "2001:db8:6::11"  # a second IPv6 host behind the NAT64


def nat4(sport: int, dport: int, data: bytes, dst: str = S4, ident: int = 1, **kw: Any) -> Any:
    """What an IPv6 host's UDP datagram becomes at the NAT64 (hop limit 64 on the way in)."""
    return udp4(POOL4, dst, sport, dport, data, ttl=63, id=ident, flags=0, **kw)


TABLE += [
    # RFC 6146 3: stateful NAT64 -----------------------------------------------------------------
    Req("RFC 6146 3.5.1", "MUST", "Endpoint-independent mapping (RFC 4787 REQ-1): one IPv6 "
        "transport address keeps its IPv4 one whatever the destination", "as required",
        (Case("nat64 a second destination, the same mapping",
              sent("6", udp6(V6, embed("198.51.100.8"), 5000, 53, b"b")),
              (nat4(5000, 53, b"b", dst="198.51.100.8", ident=2),), config=NAT64,
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),)),
    Req("RFC 6146 3.5.1.1", "SHOULD", "A port is kept when free; a well-known port (0-1023) gets "
        "one in that range; the port's parity (odd, even) is kept (RFC 4787 4.2.2)",
        "as required",
        (Case("nat64 a free port kept", sent("6", udp6(V6, S6, 5001, 53, b"p")),
              (nat4(5001, 53, b"p"),), config=NAT64),
         Case("nat64 a taken odd port: another odd one",
              sent("6", udp6(V6B, S6, 5001, 53, b"p")), (nat4(1025, 53, b"p", ident=2),),
              config=NAT64, before=(sent("6", udp6(V6, S6, 5001, 53, b"p")),)),
         Case("nat64 a taken well-known port: another well-known one",
              sent("6", udp6(V6B, S6, 53, 53, b"w")), (nat4(1, 53, b"w", ident=2),),
              config=NAT64, before=(sent("6", udp6(V6, S6, 53, 53, b"w")),)),
         )),
    Req("RFC 6146 3.5.1", "MAY", "Filtering: endpoint-independent, or address-dependent (only "
        "IPv4 hosts the IPv6 host has sent to get in); a filtered packet is discarded and the "
        "sender told communication administratively prohibited", "--filtering; "
        "endpoint-independent by default",
        (Case("nat64 endpoint-independent filtering: any remote gets in",
              sent("4", udp4("198.51.100.99", POOL4, 53, 5000, b"in")),
              (udp6(embed("198.51.100.99"), V6, 53, 5000, b"in", hlim=63),), config=NAT64,
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),
         Case("nat64 address-dependent filtering: another remote is refused",
              sent("4", udp4("198.51.100.99", POOL4, 53, 5000, b"in")),
              (err4("198.51.100.99", ICMP(type=3, code=13),
                    raw(udp4("198.51.100.99", POOL4, 53, 5000, b"in")), 2, src=NAT_OWN4),),
              "filtered", config=cfg(NAT64, filtering="address-dependent"),
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),
         Case("nat64 address-dependent filtering: the same remote from another port gets in",
              sent("4", udp4(S4, POOL4, 999, 5000, b"in")),
              (udp6(S6, V6, 999, 5000, b"in", hlim=63),),
              config=cfg(NAT64, filtering="address-dependent"),
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),
         )),
    Req("RFC 6146 3.5.1", "MUST", "An IPv4 packet for a pool address with no binding is discarded "
        "(no mapping is ever made from the IPv4 side)", "discarded and counted (no_binding); "
        "the sender told host unreachable (RFC 7915 4.4: SHOULD tell; TCP excepted, below)",
        (Case("nat64 no binding: refused",
              sent("4", udp4(S4, POOL4, 53, 7777, b"?")),
              (err4(S4, ICMP(type=3, code=1), raw(udp4(S4, POOL4, 53, 7777, b"?")), 1,
                    src=NAT_OWN4),), "no_binding", config=NAT64),)),
    Req("RFC 6146 3.5.2.2", "MUST", "TCP: only a SYN opens a session; other segments without one "
        "are discarded", "as required, silently",
        (Case("nat64 an ACK without a session",
              sent("6", IPv6(src=V6, dst=S6) / TCP(sport=40000, dport=80, flags="A")), (),
              "tcp_not_syn", config=NAT64),)),
    Req("RFC 6146 3.5.2.2", "SHOULD", "An IPv4 SYN that no session takes is held 6 s "
        "(TCP_INCOMING_SYN); if the IPv6 side opens the session meanwhile it is dropped, else "
        "answered with port unreachable", "as required (at most 256 held)",
        (Case("nat64 an unsolicited IPv4 SYN: port unreachable after 6 s",
              sent("4", IP(src=S4, dst=POOL4) / TCP(sport=80, dport=40000, flags="S")), (
                  err4(S4, ICMP(type=3, code=3), raw(IP(src=S4, dst=POOL4)
                       / TCP(sport=80, dport=40000, flags="S")), 1, src=NAT_OWN4),),
              "tcp_syn_held", config=NAT64, expire_at=6.5),
         Case("nat64 a simultaneous open: the held SYN is moot",
              sent("6", IPv6(src=V6, dst=S6) / TCP(sport=40000, dport=80, flags="S"), at=1.0),
              (IP(src=POOL4, dst=S4, ttl=63, id=1, flags=0)
               / TCP(sport=40000, dport=80, flags="S"),), config=NAT64, expire_at=7.0,
              before=(sent("4", IP(src=S4, dst=POOL4) / TCP(sport=80, dport=40000, flags="S")),)),
         )),
    Req("RFC 6146 3.5.2.2 and 4", "MUST", "TCP session timers: TCP_TRANS (4 min) before the "
        "session is established, TCP_EST (2 h 4 min) after", "as required (--tcp-trans-timeout, "
        "--tcp-timeout)",
        (Case("nat64 a SYN-ACK within TCP_TRANS: translated",
              sent("4", IP(src=S4, dst=POOL4) / TCP(sport=80, dport=40000, flags="SA"), at=239.0),
              (IPv6(src=S6, dst=V6, hlim=63) / TCP(sport=80, dport=40000, flags="SA"),),
              config=NAT64,
              before=(sent("6", IPv6(src=V6, dst=S6) / TCP(sport=40000, dport=80, flags="S")),)),
         Case("nat64 a SYN-ACK after TCP_TRANS: no session left",
              sent("4", IP(src=S4, dst=POOL4) / TCP(sport=80, dport=40000, flags="SA"), at=241.0),
              (), "no_binding", config=NAT64,
              before=(sent("6", IPv6(src=V6, dst=S6) / TCP(sport=40000, dport=80, flags="S")),)),
         Case("nat64 an established session within TCP_EST",
              sent("4", IP(src=S4, dst=POOL4) / TCP(sport=80, dport=40000, flags="A"), at=7000.0),
              (IPv6(src=S6, dst=V6, hlim=63) / TCP(sport=80, dport=40000, flags="A"),),
              config=NAT64,
              before=(sent("6", IPv6(src=V6, dst=S6) / TCP(sport=40000, dport=80, flags="S")),
                      sent("4", IP(src=S4, dst=POOL4) / TCP(sport=80, dport=40000, flags="SA"),
                         at=1.0))),
         )),
    Req("RFC 6146 3.5.1 and 4", "MUST", "UDP sessions live UDP_DEFAULT (5 min), never less than "
        "UDP_MIN (2 min)", "300 s by default (--udp-timeout; below 120 s is allowed with a note, "
        "for labs)",
        (Case("nat64 a UDP answer within 5 min: translated",
              sent("4", udp4(S4, POOL4, 53, 5000, b"late"), at=299.0),
              (udp6(S6, V6, 53, 5000, b"late", hlim=63),), config=NAT64,
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),
         Case("nat64 a UDP answer after 5 min: no binding left",
              sent("4", udp4(S4, POOL4, 53, 5000, b"late"), at=301.0),
              (err4(S4, ICMP(type=3, code=1), raw(udp4(S4, POOL4, 53, 5000, b"late")), 2,
                    src=NAT_OWN4),), "no_binding", config=NAT64,
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),
         )),
    Req("RFC 6146 3.5.3", "MUST", "ICMP queries: the identifier is the port of the binding; the "
        "answer finds its way back by it", "as required (ICMP_DEFAULT 60 s, --icmp-timeout)",
        (Case("nat64 an echo request out",
              sent("6", IPv6(src=V6, dst=S6) / ICMPv6EchoRequest(id=7, seq=1, data=b"q")),
              (IP(src=POOL4, dst=S4, ttl=63, id=1, flags=0) / ICMP(type=8, id=7, seq=1) / b"q",),
              config=NAT64),
         Case("nat64 its echo reply back",
              sent("4", IP(src=S4, dst=POOL4) / ICMP(type=0, id=7, seq=1) / b"q"),
              (IPv6(src=S6, dst=V6, hlim=63) / ICMPv6EchoReply(id=7, seq=1, data=b"q"),),
              config=NAT64,
              before=(sent("6", IPv6(src=V6, dst=S6)
                           / ICMPv6EchoRequest(id=7, seq=1, data=b"q")),)),
         )),
    Req("RFC 6146 3.8", "MUST", "Hairpinning: a packet to the IPv6 form of a pool address comes "
        "back to the IPv6 host holding it, from the sender's pool address", "as required, "
        "the hop limit decremented once each way",
        (Case("nat64 hairpinned between two IPv6 hosts",
              sent("6", udp6(V6B, embed(POOL4), 6000, 5000, b"hp")),
              (udp6(embed(POOL4), V6, 6000, 5000, b"hp", hlim=62),), config=NAT64,
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),)),
    Req("RFC 6146 3.4", "MUST", "Fragments: a datagram's later fragments take its first one's "
        "session; ones that come first are held, at most FRAGMENT_MIN (2 s)",
        "as required (bounded: 64 datagrams of 64 fragments)",
        (Case("nat64 a fragment before its first: held, then both out",
              sent("6", IPv6(src=V6, dst=S6) / IPv6ExtHdrFragment(nh=17, id=0x55, m=1)
                 / Raw(BIG6[:408])),
              (IP(src=POOL4, dst=S4, ttl=63, id=0x55, flags="MF", proto=17) / Raw(BIG6_AS4[:408]),
               IP(src=POOL4, dst=S4, ttl=63, id=0x55, frag=51, flags=0, proto=17)
               / Raw(BIG6_AS4[408:])), config=NAT64,
              before=(sent("6", IPv6(src=V6, dst=S6) / IPv6ExtHdrFragment(nh=17, id=0x55,
                                                                       offset=51, m=0)
                         / Raw(BIG6[408:])),)),
         Case("nat64 a held fragment expires after 2 s",
              sent("6", IPv6(src=V6, dst=S6) / IPv6ExtHdrFragment(nh=17, id=0x55, m=1)
                 / Raw(BIG6[:408]), at=3.0),
              (IP(src=POOL4, dst=S4, ttl=63, id=0x55, flags="MF", proto=17)
               / Raw(BIG6_AS4[:408]),), config=NAT64,
              before=(sent("6", IPv6(src=V6, dst=S6) / IPv6ExtHdrFragment(nh=17, id=0x55,
                                                                       offset=51, m=0)
                         / Raw(BIG6[408:])),)),
         )),
    Req("RFC 6146 3.4", "MUST", "An unfragmented IPv4 UDP datagram without checksum gets one "
        "computed", "as required",
        (Case("nat64 UDP without checksum: one computed",
              sent("4", IP(src=S4, dst=POOL4) / UDP(sport=53, dport=5000, chksum=0) / b"z"),
              (udp6(S6, V6, 53, 5000, b"z", hlim=63),), config=NAT64,
              before=(sent("6", udp6(V6, S6, 5000, 53, b"a")),)),)),
    Req("RFC 6146 3", "-", "Sessions are for TCP, UDP and ICMP only: other protocols are not "
        "translated", "refused with Parameter Problem (unrecognised next header) or protocol "
        "unreachable",
        (Case("nat64 IPv6 protocol 150 (unassigned) refused",
              sent("6", IPv6(src=V6, dst=S6, nh=150) / Raw(b"\x00" * 16)),
              (err6(V6, ICMPv6ParamProblem(code=1, ptr=6),
                    raw(IPv6(src=V6, dst=S6, nh=150) / Raw(b"\x00" * 16)), src=NAT_OWN6),),
              "protocol_unsupported", config=NAT64),
         Case("nat64 IPv4 protocol 150 refused",
              sent("4", IP(src=S4, dst=POOL4, proto=150) / Raw(b"\x00" * 16)),
              (err4(S4, ICMP(type=3, code=2), raw(IP(src=S4, dst=POOL4, proto=150)
                    / Raw(b"\x00" * 16)), 1, src=NAT_OWN4),),
              "protocol_unsupported", config=NAT64),
         )),
    Req("RFC 6146 3.5.1.1", "SHOULD", "No IPv4 transport address to be had (the pool or the "
        "session table full): discarded, the sender told address unreachable", "as required "
        "(--max-sessions bounds the table)",
        (Case("nat64 the session table full",
              sent("6", udp6(V6, S6, 2, 53, b"x")),
              (err6(V6, ICMPv6DestUnreach(code=3), raw(udp6(V6, S6, 2, 53, b"x")),
                    src=NAT_OWN6),), "session_limit", config=cfg(NAT64, max_sessions=1),
              before=(sent("6", udp6(V6, S6, 1, 53, b"x")),)),)),
    # RFC 6052: the prefix -------------------------------------------------------------------------
    Req("RFC 6052 2.2", "MUST", "IPv4-embedded addresses for prefixes of 32, 40, 48, 56, 64 and "
        "96 bits, bits 64 to 71 zero, the suffix zero", "as required",
        (*(Case(f"4to6 through a /{n} prefix", sent("4", UDP4), (
                   IPv6(src=embed(S4, prefix), dst=embed(H4, prefix), hlim=19, tc=0xB8)
                   / UDP(sport=53, dport=4000) / b"answer",),
                   config=cfg(SIIT, prefix=prefix, pairs={}))
              for n, prefix in ((32, "2001:db8::/32"), (40, "2001:db8:100::/40"),
                                (48, "2001:db8:122::/48"), (56, "2001:db8:122:300::/56"),
                                (64, "2001:db8:122:344::/64"))),
           Case("6to4 through a /40 prefix", sent("6", udp6(embed(H4, "2001:db8:100::/40"),
                embed(S4, "2001:db8:100::/40"), 4000, 53, b"q", hlim=30)),
                (udp4(H4, S4, 4000, 53, b"q", ttl=29, id=1, flags=0),),
                config=cfg(SIIT, prefix="2001:db8:100::/40", pairs={})))),
    Req("RFC 6052 2.2", "MUST", "A prefix of another length, or with bits 64 to 71 set, is not "
        "used", "refused before anything starts",
        (Refusal("a /36 prefix", cfg(NAT64, prefix="2001:db8::/36"), "RFC 6052 allows"),
         Refusal("bits 64 to 71 set", cfg(NAT64, prefix="2001:db8:0:0:100::/96"),
                 "bits 64 to 71"))),
    Req("RFC 6052 3.1", "MUST NOT", "The well-known prefix carries no non-global IPv4 address",
        "as required: such packets are refused both ways (RFC 7915 4.4, 5.4), and a SIIT pool "
        "of them is refused before anything starts",
        (Case("6to4 to a private address under the well-known prefix: refused",
              sent("6", udp6(embed("100.1.2.5", WKP), embed("10.1.1.1", WKP), 4000, 53, b"x")),
              (err6(embed("100.1.2.5", WKP), ICMPv6DestUnreach(code=1), raw(udp6(
                    embed("100.1.2.5", WKP), embed("10.1.1.1", WKP), 4000, 53, b"x")),
                    src=embed("100.1.2.1", WKP)),), "destination_unmapped",
              config=cfg(SIIT, prefix=WKP, pool="100.1.2.0/24", ipv4_address="100.1.2.1",
                         pairs={})),
         Refusal("a SIIT pool of private addresses under the well-known prefix",
                 cfg(SIIT, prefix=WKP, pool="10.1.0.0/24", ipv4_address="10.1.0.1", pairs={}),
                 "not global IPv4"),
         )),
    Req("RFC 6052 3.1 and RFC 6890", "-", "Which IPv4 space is not global", "all of "
        "192.0.0.0/24 is treated as non-global, though RFC 6890's registry marks 192.0.0.9 and "
        "192.0.0.10 global (anycast services no lab has)",
        (Case("6to4 to 192.0.0.9 under the well-known prefix: refused",
              sent("6", udp6(embed("100.1.2.5", WKP), embed("192.0.0.9", WKP), 4000, 53, b"x")),
              (err6(embed("100.1.2.5", WKP), ICMPv6DestUnreach(code=1), raw(udp6(
                    embed("100.1.2.5", WKP), embed("192.0.0.9", WKP), 4000, 53, b"x")),
                    src=embed("100.1.2.1", WKP)),), "destination_unmapped",
              config=cfg(SIIT, prefix=WKP, pool="100.1.2.0/24", ipv4_address="100.1.2.1",
                         pairs={})),), status="deviates"),
    # RFC 6791: sources of ICMPv6 errors ------------------------------------------------------
    Req("RFC 6791 2", "SHOULD", "An ICMPv6 error from an IPv6 router with no IPv4 form gets an "
        "IPv4 source from a pool set aside for it, chosen at random", "--icmp-pool; without "
        "one, the translator's own IPv4 address",
        (Case("6to4 time exceeded from a router with no IPv4 form: a pool address",
              sent("6", IPv6(src=X6, dst=S6, hlim=40) / ICMPv6TimeExceeded(code=0)
                   / Raw(raw(GOT6))),
              (IP(src="198.51.100.200", dst=S4, ttl=39, id=1, flags=0)
               / ICMP(type=11, code=0) / Raw(raw(GOT6_AS_SENT4)),),
              config=cfg(SIIT, icmp_pool="198.51.100.200/32")),
         Case("6to4 time exceeded from a router with no IPv4 form: no pool, its own",
              sent("6", IPv6(src=X6, dst=S6, hlim=40) / ICMPv6TimeExceeded(code=0)
                   / Raw(raw(GOT6))),
              (IP(src=OWN4, dst=S4, ttl=39, id=1, flags=0)
               / ICMP(type=11, code=0) / Raw(raw(GOT6_AS_SENT4)),)),
         )),
    # The translator's own addresses -------------------------------------------------------------
    Req("RFC 4443 4.1 and RFC 1812 4.3.3.6", "MUST", "An echo request to the translator's own "
        "address is answered (a node's, a router's echo responder)", "as required, never "
        "translated back into itself",
        (Case("6to6 echo request to the translator's IPv6 address: answered",
              sent("6", IPv6(src=H6, dst=OWN6, hlim=30) / ICMPv6EchoRequest(id=3, seq=4,
                                                                         data=b"you?")),
              (IPv6(src=OWN6, dst=H6, hlim=64) / ICMPv6EchoReply(id=3, seq=4, data=b"you?"),),
              "to_translator_echo"),
         Case("4to4 echo request to the translator's IPv4 address: answered",
              sent("4", IP(src=S4, dst=OWN4, ttl=30) / ICMP(type=8, id=3, seq=4) / b"you?"),
              (IP(src=OWN4, dst=S4, ttl=64, id=1, flags=0) / ICMP(type=0, id=3, seq=4)
               / b"you?",), "to_translator_echo"),
         Case("6to6 a NAT64's own address in the prefix: answered",
              sent("6", IPv6(src=V6, dst=NAT_OWN6) / ICMPv6EchoRequest(id=3, seq=4)),
              (IPv6(src=NAT_OWN6, dst=V6, hlim=64) / ICMPv6EchoReply(id=3, seq=4),),
              "to_translator_echo", config=NAT64),
         Case("6to6 its IPv4 address in the prefix, its IPv6 one set apart: answered from it",
              sent("6", IPv6(src=H6, dst=OWN6) / ICMPv6EchoRequest(id=3, seq=4)),
              (IPv6(src=OWN6, dst=H6, hlim=64) / ICMPv6EchoReply(id=3, seq=4),),
              "to_translator_echo", config=cfg(SIIT, ipv6_address="2001:db8:64::1")),
         )),
    Req("RFC 4443 3.1, 3.4 and RFC 1812 4.3.2", "SHOULD", "Other packets to the translator "
        "itself are refused: port unreachable for a transport without a listener, Parameter "
        "Problem / protocol unreachable for an unknown protocol", "as required, from the "
        "address asked",
        (Case("6to6 UDP to the translator: port unreachable",
              sent("6", udp6(H6, OWN6, 4000, 9, b"?")),
              (err6(H6, ICMPv6DestUnreach(code=4), raw(udp6(H6, OWN6, 4000, 9, b"?"))),),
              "to_translator"),
         Case("6to6 protocol 99 to the translator: Parameter Problem at Next Header",
              sent("6", IPv6(src=H6, dst=OWN6, nh=99) / Raw(b"x")),
              (err6(H6, ICMPv6ParamProblem(code=1, ptr=6), raw(IPv6(src=H6, dst=OWN6, nh=99)
                    / Raw(b"x"))),), "to_translator"),
         Case("4to4 UDP to the translator: port unreachable",
              sent("4", udp4(S4, OWN4, 4000, 9, b"?")),
              (err4(S4, ICMP(type=3, code=3), raw(udp4(S4, OWN4, 4000, 9, b"?")), 1),),
              "to_translator"),
         Case("4to4 protocol 99 to the translator: protocol unreachable",
              sent("4", IP(src=S4, dst=OWN4, proto=99) / Raw(b"x")),
              (err4(S4, ICMP(type=3, code=2), raw(IP(src=S4, dst=OWN4, proto=99) / Raw(b"x")),
                    1),), "to_translator"),
         Case("4to4 UDP to a NAT64's own address: port unreachable",
              sent("4", udp4(S4, NAT_OWN4, 4000, 9, b"?")),
              (err4(S4, ICMP(type=3, code=3), raw(udp4(S4, NAT_OWN4, 4000, 9, b"?")), 1,
                    src=NAT_OWN4),), "to_translator", config=NAT64),
         )),
    # Space no router forwards ---------------------------------------------------------------------
    Req("RFC 3927 7", "MUST NOT", "A router forwards nothing from or to IPv4 link-local "
        "addresses (169.254.0.0/16)", "as required, under any prefix",
        (Case("6to4 to link-local IPv4: refused",
              sent("6", udp6(H6, embed("169.254.1.1"), 4000, 53, b"x")),
              (err6(H6, ICMPv6DestUnreach(code=1), raw(udp6(H6, embed("169.254.1.1"), 4000, 53,
                                                            b"x"))),), "destination_unmapped"),
         Case("4to6 from link-local IPv4: dropped, no error to it",
              sent("4", udp4("169.254.1.1", H4, 53, 4000, b"x")), (), "source_unmapped"),
         )),
    Req("RFC 1812 5.3.7 and 4.2.2.11", "SHOULD NOT", "A router forwards nothing from or to "
        "network 0, 127, class E or the limited broadcast", "as required, under any prefix; no "
        "error goes to such a source",
        (Case("6to4 to 127.0.0.1: refused",
              sent("6", udp6(H6, embed("127.0.0.1"), 4000, 53, b"x")),
              (err6(H6, ICMPv6DestUnreach(code=1), raw(udp6(H6, embed("127.0.0.1"), 4000, 53,
                                                            b"x"))),), "destination_unmapped"),
         Case("6to4 to 240.0.0.1: refused",
              sent("6", udp6(H6, embed("240.0.0.1"), 4000, 53, b"x")),
              (err6(H6, ICMPv6DestUnreach(code=1), raw(udp6(H6, embed("240.0.0.1"), 4000, 53,
                                                            b"x"))),), "destination_unmapped"),
         Case("4to6 from 0.1.2.3: dropped",
              sent("4", udp4("0.1.2.3", H4, 53, 4000, b"x")), (), "source_unmapped"),
         Case("4to6 from 127.0.0.5: dropped",
              sent("4", udp4("127.0.0.5", H4, 53, 4000, b"x")), (), "source_unmapped"),
         )),
    Req("RFC 7915 1.2 and RFC 1812 4.3.2.7", "-", "Multicast has no unicast mapping, and gets no "
        "ICMP error", "IPv4 multicast is dropped (ipv4_multicast); an IPv6 packet to a "
        "multicast IPv4 address's IPv6 form is refused like any unmapped destination",
        (Case("4to6 to 224.1.1.1: dropped",
              sent("4", udp4(S4, "224.1.1.1", 53, 4000, b"x")), (), "ipv4_multicast"),
         Case("6to4 to 224.1.1.1's IPv6 form: refused",
              sent("6", udp6(H6, embed("224.1.1.1"), 4000, 53, b"x")),
              (err6(H6, ICMPv6DestUnreach(code=1), raw(udp6(H6, embed("224.1.1.1"), 4000, 53,
                                                            b"x"))),), "destination_unmapped"),
         )),
    # Choices the RFCs allow, kept and written down --------------------------------------------
    Req("RFC 7915 5.1 and RFC 6864 4.1", "-", "Identification: RFC 7915 would write zero (a "
        "translator MAY generate one for packets of 89 to 1,280 bytes); RFC 6864 lets an "
        "atomic datagram carry any value", "every IPv4 packet the translator makes carries a "
        "counter's value, DF packets over 1,260 bytes included",
        (Case("6to4 a DF packet of 1,261 bytes: identification 1",
              sent("6", big6(1281, tc=0)),
              (IP(src=H4, dst=S4, ttl=29, id=1, flags="DF") / TCP(sport=1, dport=2, flags="A")
               / (b"b" * 1221),)),), status="deviates"),
    Req("RFC 7915 4.1 and 5.1", "-", "Protocol and Next Header numbers are copied, whatever "
        "they are", "copied by default; --strict-protocols refuses ICMPv6 in IPv4, ICMP in "
        "IPv6 and IPv6 extension header numbers in IPv4 (protocol_wrong_family)",
        (Case("4to6 protocol 58 in IPv4: copied",
              sent("4", IP(src=S4, dst=H4, ttl=20, proto=58) / Raw(ECHO6)),
              (IPv6(src=S6, dst=H6, hlim=19, nh=58) / Raw(ECHO6),)),
         Case("4to6 protocol 58 in IPv4, strict: refused",
              sent("4", IP(src=S4, dst=H4, ttl=20, proto=58) / Raw(ECHO6)),
              (err4(S4, ICMP(type=3, code=2), raw(IP(src=S4, dst=H4, ttl=20, proto=58)
                    / Raw(ECHO6)), 1),),
              "protocol_wrong_family", config=cfg(SIIT, strict_protocols=True)),
         Case("4to6 protocol 0 (hop-by-hop's number) in IPv4, strict: refused",
              sent("4", IP(src=S4, dst=H4, ttl=20, proto=0) / Raw(b"\x3b\x00" + b"\x00" * 6)),
              (err4(S4, ICMP(type=3, code=2), raw(IP(src=S4, dst=H4, ttl=20, proto=0)
                    / Raw(b"\x3b\x00" + b"\x00" * 6)), 1),),
              "protocol_wrong_family", config=cfg(SIIT, strict_protocols=True)),
         Case("6to4 ICMP (1) in IPv6, strict: refused",
              sent("6", IPv6(src=H6, dst=S6, nh=1) / Raw(b"\x08\x00\xf7\xff\x00\x00\x00\x00")),
              (err6(H6, ICMPv6ParamProblem(code=1, ptr=6), raw(IPv6(src=H6, dst=S6, nh=1)
                    / Raw(b"\x08\x00\xf7\xff\x00\x00\x00\x00"))),),
              "protocol_wrong_family", config=cfg(SIIT, strict_protocols=True)),
         ), status="deviates"),
    Req("RFC 8200 8.1", "MUST", "An IPv6 UDP datagram with a zero checksum is discarded",
        "as required, silently (a malformed packet gets no error)",
        (Case("6to4 UDP with zero checksum: dropped",
              sent("6", IPv6(src=H6, dst=S6) / UDP(sport=1, dport=2, chksum=0) / b"z"), (),
              "udp_zero_checksum"),)),
]  # fmt: skip

# --- the compliance statement in docs/translation.md ----------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "translation.md"
BEGIN = "<!-- compliance: made by `python -m tests.ipv6.translation_table --write` -->"
END = "<!-- end of compliance -->"
STATUS = {"yes": "yes", "partly": "partly", "deviates": "a choice the RFCs allow"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def statement() -> str:
    """The compliance section: one row a requirement, the checks that show it."""
    checks = sum(len(req.checks) for req in TABLE)
    lines = [
        BEGIN,
        "",
        f"{len(TABLE)} requirements, {checks} checks. Each check sends packets through a fresh "
        "translator (the pure core, configured as `ipv6 nat64 add` configures it) and compares "
        "what comes out byte by byte with packets scapy built from the RFC's text "
        "(`tests/ipv6/translation_table.py`, run by `tests/ipv6/test_translate_conformance.py`, "
        "which also runs every case through the fast path for remembered flows, whose bytes "
        "must be the full path's, and has tshark read every ICMP error the cases make: "
        "checksums, RFC 4884 extensions, the quoted packet's source). \"A choice the RFCs "
        'allow" is a behaviour kept on purpose, with the text that allows it.',
        "",
        "| RFC | level | requirement | behaviour | status | checks |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for req in TABLE:
        names = "; ".join(c.name for c in req.checks)
        lines.append(
            f"| {req.ref} | {req.level} | {_cell(req.text)} | {_cell(req.behaviour)} "
            f"| {STATUS[req.status]} | {_cell(names)} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def rewritten(text: str) -> str:
    """``text`` (docs/translation.md) with its compliance section made afresh."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + statement() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="docs/translation.md's compliance section")
    parser.add_argument("--write", action="store_true", help="rewrite it in place")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    fresh = rewritten(text)
    if args.write:
        DOC.write_text(fresh)
        return 0
    sys.stdout.write(statement() + "\n")
    return 0 if fresh == text else 1


if __name__ == "__main__":
    raise SystemExit(main())
