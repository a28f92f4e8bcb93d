"""Asking the network for its NAT64 prefix, on Trio: a router solicitation
whose answers may carry PREF64 (RFC 8781), and the AAAA query for
ipv4only.arpa (RFC 7050). What the answers mean is ``_prefixes``'s."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv6Address

import trio

from .._errors import Ipv6Error
from .._ra import ROUTER_ADVERTISEMENT, MalformedAdvertisement, decode_advertisement
from ._mapping import Prefix64
from ._prefixes import from_ipv4only, from_pref64

ALL_ROUTERS = "ff02::2"
ICMP6_FILTER = 1
SOLICITATIONS = 3
SOLICITATION_INTERVAL = 1.0  # RFC 4861 10: RTR_SOLICITATION_INTERVAL is 4 s; a lab is quicker


class DiscoveryFailed(Ipv6Error):
    """The network did not say which NAT64 prefix it uses."""


async def by_router_advertisement(ifname: str, *, timeout: float = 3.0) -> Prefix64 | None:
    """The PREF64 of the first advertisement on ``ifname`` that has one, or None."""
    index = socket.if_nametoindex(ifname)
    sock = trio.socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        passed = [0xFFFFFFFF] * 8  # Linux: a set bit blocks that ICMPv6 type
        passed[ROUTER_ADVERTISEMENT >> 5] &= ~(1 << (ROUTER_ADVERTISEMENT & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *passed))
        solicitation = bytes([133, 0, 0, 0, 0, 0, 0, 0])
        with trio.move_on_after(timeout):
            for _ in range(SOLICITATIONS):
                await sock.sendto(solicitation, (ALL_ROUTERS, 0, 0, index))
                with trio.move_on_after(SOLICITATION_INTERVAL):
                    while True:
                        data = await sock.recv(65535)
                        try:
                            ad = decode_advertisement(data)
                        except MalformedAdvertisement:
                            continue
                        if ad.pref64 is not None and ad.pref64.lifetime:
                            return from_pref64(ad.pref64.prefix)
    return None


async def by_dns(servers: list[str], *, timeout: float = 2.0) -> Prefix64 | None:
    """The prefix of ipv4only.arpa's synthesised AAAA records (RFC 7050), or None."""
    import dns.asyncbackend
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rdatatype

    backend = dns.asyncbackend.get_backend("trio")
    query = dns.message.make_query("ipv4only.arpa.", dns.rdatatype.AAAA)
    for server in servers:
        try:
            answer = await dns.asyncquery.udp(query, server, timeout=timeout, backend=backend)
        except (dns.exception.DNSException, OSError):
            continue
        addresses = [
            IPv6Address(rd.address)
            for rrset in answer.answer
            if rrset.rdtype == dns.rdatatype.AAAA
            for rd in rrset
        ]
        found = from_ipv4only(addresses)
        if found:
            return found[0]
    return None


def resolvers() -> list[str]:
    """The name servers of /etc/resolv.conf."""
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [
        words[1]
        for words in (line.split() for line in lines)
        if len(words) > 1 and words[0] == "nameserver"
    ]


async def discover(ifname: str, how: str, servers: list[str]) -> tuple[Prefix64, str]:
    """The NAT64 prefix and how it was learnt (``how``: ra, dns or auto: ra first)."""
    if how in ("ra", "auto"):
        found = await by_router_advertisement(ifname)
        if found is not None:
            return found, "PREF64 in a router advertisement (RFC 8781)"
    if how in ("dns", "auto"):
        asked = servers or resolvers()
        found = await by_dns(asked) if asked else None
        if found is not None:
            return found, "ipv4only.arpa (RFC 7050)"
    tried = {"ra": f"no advertisement on {ifname} carried PREF64",
             "dns": "no resolver synthesised ipv4only.arpa"}  # fmt: skip
    said = "; ".join(v for k, v in tried.items() if how in (k, "auto"))
    raise DiscoveryFailed(f"no NAT64 prefix found ({said}): give it with --prefix")
