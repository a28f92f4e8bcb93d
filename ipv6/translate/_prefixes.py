"""Finding the NAT64 prefix from what the network says (pure): the AAAA
answers for ipv4only.arpa (RFC 7050 section 3) and a router advertisement's
PREF64 option (RFC 8781). The asking is ``_discover``'s."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

from .._derive import NAT64_LENGTHS
from ._mapping import Prefix64

WELL_KNOWN_IPV4 = (int(IPv4Address("192.0.0.170")), int(IPv4Address("192.0.0.171")))


def from_ipv4only(answers: list[IPv6Address]) -> list[Prefix64]:
    """The prefixes the synthesised AAAA records of ipv4only.arpa reveal: each
    record is searched for 192.0.0.170 or .171 at every RFC 6052 position, the
    longest first (RFC 7050 3), and must have a zero u-octet (bits 64-71)."""
    found: list[Prefix64] = []
    for address in answers:
        value = int(address)
        if (value >> 56) & 0xFF:
            continue  # RFC 7050 3.1: not an RFC 6052 address
        for length in sorted(NAT64_LENGTHS, reverse=True):
            network = value >> (128 - length) << (128 - length)
            if (network >> 56) & 0xFF:
                continue
            prefix = Prefix64(network, length)
            prefix.strict = False  # the well-known addresses are not global; still the prefix
            if prefix.extract(value) in WELL_KNOWN_IPV4:
                if prefix not in found:
                    found.append(Prefix64(network, length))
                break
    return found


def from_pref64(prefix: IPv6Network) -> Prefix64:
    """A PREF64 option's prefix as the translator's (its length is one of RFC 6052's)."""
    return Prefix64(int(prefix.network_address), prefix.prefixlen)
