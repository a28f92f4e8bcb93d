"""Router advertisements from published routes: a pure builder and parser.

What goes in follows the seeds' "IPv6 Router Advertisements": the content is
derived from the routes published on the interface; there is always a source
link-layer address option and an MTU option (the interface's current IPv6
MTU); the router lifetime is non-zero only with a published default route;
a published on-link route is a prefix information option, with the L and A
flags when it is a /64 (hosts autoconfigure from it). A published route
through a next hop is a route information option (RFC 4191). A site prefix
length (seeds: "IPv6 Site Prefixes") rides in the prefix option's reserved
field with the S flag, as Windows sends it; Linux hosts ignore it.

No sockets here: the advertiser (``_advertiser``) reads the kernel, builds
with :func:`advertisement`, and sends the bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from ._errors import Ipv6Error

ROUTER_SOLICITATION = 133
ROUTER_ADVERTISEMENT = 134
OPT_SOURCE_LLADDR, OPT_PREFIX, OPT_MTU, OPT_ROUTE = 1, 3, 5, 24
OPT_RDNSS, OPT_PREF64 = 25, 38  # RFC 8106, RFC 8781
RDNSS_LIFETIME = 1200  # 2 x MaxRtrAdvInterval (600 s), RFC 8106 5.1's upper bound
PREF64_LIFETIME = 1800  # 3 x MaxRtrAdvInterval, RFC 8781 4.1
PREF64_LIFETIME_MAX = 8191 * 8  # 13 bits of 8-second units
PLC = {96: 0, 64: 1, 56: 2, 48: 3, 40: 4, 32: 5}  # RFC 8781 4: prefix length codes
FLAG_L, FLAG_A, FLAG_S = 0x80, 0x40, 0x10
INFINITE = 0xFFFFFFFF
DEFAULT_ROUTER_LIFETIME = 1800  # seconds, as Windows advertises a default route
MAX_ROUTER_LIFETIME = 9000  # RFC 4861 6.2.1

_HEADER = struct.Struct("!BBHBBHII")  # type, code, checksum, hop limit, flags, lifetime, ...
_PREFIX = struct.Struct("!BBBBIII16s")
_MTU = struct.Struct("!BBHI")


@dataclass(frozen=True)
class Published:
    """A route published on the advertising interface, as netsh holds it."""

    prefix: ipaddress.IPv6Network
    onlink: bool  # no next hop: the prefix is on this link
    valid: int  # seconds left to advertise (INFINITE: for ever)
    preferred: int
    site_prefix_length: int | None = None


@dataclass(frozen=True)
class PrefixInfo:
    prefix: ipaddress.IPv6Network
    onlink: bool
    autonomous: bool
    valid: int
    preferred: int
    site_prefix_length: int | None = None


@dataclass(frozen=True)
class RouteInfo:
    prefix: ipaddress.IPv6Network
    lifetime: int


@dataclass(frozen=True)
class DnsServers:
    """Recursive DNS servers (RFC 8106), for ``lifetime`` seconds."""

    addresses: tuple[ipaddress.IPv6Address, ...]
    lifetime: int = RDNSS_LIFETIME


@dataclass(frozen=True)
class Pref64:
    """The NAT64 prefix (RFC 8781), for ``lifetime`` seconds (a multiple of 8)."""

    prefix: ipaddress.IPv6Network
    lifetime: int = PREF64_LIFETIME


@dataclass(frozen=True)
class Advertisement:
    hop_limit: int
    router_lifetime: int
    mtu: int | None
    lladdr: str | None
    prefixes: list[PrefixInfo] = field(default_factory=list)
    routes: list[RouteInfo] = field(default_factory=list)
    dns: DnsServers | None = None
    pref64: Pref64 | None = None


def plan_advertisement(
    published: list[Published],
    *,
    mtu: int,
    lladdr: str,
    hop_limit: int,
    dns: DnsServers | None = None,
    pref64: Pref64 | None = None,
) -> Advertisement:
    """What an interface advertises, from the routes published on it."""
    lifetime = 0
    prefixes, routes = [], []
    for route in published:
        if route.prefix.prefixlen == 0:
            lifetime = min(
                DEFAULT_ROUTER_LIFETIME if route.valid == INFINITE else route.valid,
                MAX_ROUTER_LIFETIME,
            )
        elif route.onlink:
            autonomous = route.prefix.prefixlen == 64
            prefixes.append(
                PrefixInfo(
                    route.prefix,
                    True,
                    autonomous,
                    route.valid,
                    min(route.preferred, route.valid),
                    route.site_prefix_length,
                )
            )
        else:
            routes.append(RouteInfo(route.prefix, route.valid))
    return Advertisement(hop_limit, lifetime, mtu, lladdr, prefixes, routes, dns, pref64)


def encode_advertisement(ad: Advertisement) -> bytes:
    """The ICMPv6 message (checksum 0: the kernel fills it in for a raw ICMPv6 socket)."""
    out = [_HEADER.pack(ROUTER_ADVERTISEMENT, 0, 0, ad.hop_limit, 0, ad.router_lifetime, 0, 0)]
    for p in ad.prefixes:
        flags = (FLAG_L if p.onlink else 0) | (FLAG_A if p.autonomous else 0)
        reserved = 0
        if p.site_prefix_length is not None:
            flags |= FLAG_S
            reserved = p.site_prefix_length << 24
        out.append(
            _PREFIX.pack(
                OPT_PREFIX,
                4,
                p.prefix.prefixlen,
                flags,
                p.valid,
                p.preferred,
                reserved,
                p.prefix.network_address.packed,
            )
        )
    for r in ad.routes:
        # RFC 4191: prefix bytes as needed (0, 8 or 16), medium preference.
        size = 0 if r.prefix.prefixlen == 0 else (8 if r.prefix.prefixlen <= 64 else 16)
        head = struct.pack("!BBBBI", OPT_ROUTE, 1 + size // 8, r.prefix.prefixlen, 0, r.lifetime)
        out.append(head + r.prefix.network_address.packed[:size])
    if ad.dns is not None and ad.dns.addresses:
        head = struct.pack("!BBHI", OPT_RDNSS, 1 + 2 * len(ad.dns.addresses), 0, ad.dns.lifetime)
        out.append(head + b"".join(a.packed for a in ad.dns.addresses))
    if ad.pref64 is not None:
        scaled = min(-(-ad.pref64.lifetime // 8), 8191)  # 8-second units, rounded up
        word = scaled << 3 | PLC[ad.pref64.prefix.prefixlen]
        out.append(
            struct.pack("!BBH", OPT_PREF64, 2, word) + ad.pref64.prefix.network_address.packed[:12]
        )
    # Prefixes, routes, MTU, then the link-layer address: the order radvd uses.
    if ad.mtu is not None:
        out.append(_MTU.pack(OPT_MTU, 1, 0, ad.mtu))
    if ad.lladdr:
        mac = bytes.fromhex(ad.lladdr.replace(":", "").replace("-", ""))
        units = (2 + len(mac) + 7) // 8
        out.append(bytes([OPT_SOURCE_LLADDR, units]) + mac + b"\0" * (units * 8 - 2 - len(mac)))
    return b"".join(out)


class MalformedAdvertisement(Ipv6Error, ValueError):
    """Bytes that are not a router advertisement this parser can read."""


def decode_advertisement(data: bytes) -> Advertisement:
    """Parse a router advertisement (what a host, or a test, receives)."""
    if len(data) < _HEADER.size or data[0] != ROUTER_ADVERTISEMENT:
        raise MalformedAdvertisement("not a router advertisement")
    _t, _c, _sum, hop_limit, _flags, lifetime, _r, _rt = _HEADER.unpack_from(data)
    mtu, lladdr = None, None
    prefixes, routes = [], []
    dns: DnsServers | None = None
    pref64: Pref64 | None = None
    offset = _HEADER.size
    while offset + 2 <= len(data):
        kind, units = data[offset], data[offset + 1]
        if units == 0 or offset + units * 8 > len(data):
            raise MalformedAdvertisement(f"option {kind} at {offset} has a bad length")
        option = data[offset : offset + units * 8]
        if kind == OPT_SOURCE_LLADDR:
            lladdr = option[2:8].hex(":")
        elif kind == OPT_MTU:
            mtu = _MTU.unpack(option)[3]
        elif kind == OPT_PREFIX and units == 4:
            _k, _l, length, flags, valid, preferred, reserved, raw = _PREFIX.unpack(option)
            prefix = ipaddress.IPv6Network((raw, length), strict=False)
            spl = reserved >> 24 if flags & FLAG_S else None
            prefixes.append(
                PrefixInfo(
                    prefix, bool(flags & FLAG_L), bool(flags & FLAG_A), valid, preferred, spl
                )
            )
        elif kind == OPT_ROUTE:
            length, lifetime_r = option[2], struct.unpack_from("!I", option, 4)[0]
            raw = (option[8:] + b"\0" * 16)[:16]
            routes.append(RouteInfo(ipaddress.IPv6Network((raw, length), strict=False), lifetime_r))
        elif kind == OPT_RDNSS and units >= 3 and units % 2:
            addresses = tuple(
                ipaddress.IPv6Address(option[i : i + 16]) for i in range(8, units * 8, 16)
            )
            dns = DnsServers(addresses, struct.unpack_from("!I", option, 4)[0])
        elif kind == OPT_PREF64 and units == 2:
            word = struct.unpack_from("!H", option, 2)[0]
            lengths = {code: length for length, code in PLC.items()}
            if word & 7 in lengths:
                raw = option[4:16] + b"\0" * 4
                prefix = ipaddress.IPv6Network((raw, lengths[word & 7]), strict=False)
                pref64 = Pref64(prefix, (word >> 3) * 8)
        offset += units * 8
    return Advertisement(hop_limit, lifetime, mtu, lladdr, prefixes, routes, dns, pref64)


def solicitation_fault(data: bytes, hop_limit: int | None, source_unspecified: bool) -> str | None:
    """Why a router solicitation must be ignored (RFC 4861 6.1.1), or None if it is valid.

    ``data`` is the ICMPv6 message as a raw socket gives it (the kernel has
    checked the checksum); ``hop_limit`` is the IP hop limit it arrived with.
    """
    if hop_limit is not None and hop_limit != 255:
        return "hop_limit_not_255"  # it was forwarded: not from this link
    if len(data) < 8:
        return "too_short"
    if data[0] != ROUTER_SOLICITATION:
        return "not_a_solicitation"
    if data[1] != 0:
        return "bad_code"
    offset = 8
    while offset < len(data):
        if offset + 2 > len(data) or data[offset + 1] == 0:
            return "bad_option_length"
        kind, units = data[offset], data[offset + 1]
        if offset + units * 8 > len(data):
            return "bad_option_length"
        if kind == OPT_SOURCE_LLADDR and source_unspecified:
            return "lladdr_from_unspecified"
        offset += units * 8
    return None
