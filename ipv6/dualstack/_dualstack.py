"""Dual-stack rules, pure: v4-mapped addresses and the Happy Eyeballs order.

Rules of this module (the seeds' "Dual-Stack Sockets", RFC 4291, RFC 8305):
- A dual-stack socket (AF_INET6 with IPV6_V6ONLY off) reaches IPv4 peers
  through IPv4-mapped addresses (::ffff:a.b.c.d); an IPv4 socket takes the
  plain IPv4 address; an IPv6-only socket cannot use a mapped address at
  all, and doing so is refused here with the reason (the seeds' "potential
  pitfall"), rather than failing later in the kernel.
- For people, mapped addresses are shown as the IPv4 address they carry.
- Happy Eyeballs sorts the destinations so the families alternate, IPv6
  first (RFC 8305 4: First Address Family Count 1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from enum import Enum

from .._errors import BadInput

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
IPAddress = IPv4 | IPv6

CONNECTION_ATTEMPT_DELAY = 0.250  # RFC 8305 5: the recommended default


class Kind(Enum):
    """What a socket is, as far as families go."""

    DUAL = "dual-stack"  # AF_INET6, IPV6_V6ONLY = 0
    V6ONLY = "v6-only"  # AF_INET6, IPV6_V6ONLY = 1
    V4ONLY = "v4-only"  # AF_INET
    DEFAULT = "system default"  # AF_INET6 as net.ipv6.bindv6only leaves it


class MappedOnV6Only(BadInput):
    """An IPv4-mapped address given to an IPv6-only socket."""


def to_mapped(address: IPv4) -> IPv6:
    return IPv6(b"\0" * 10 + b"\xff\xff" + address.packed)


def unmap(address: IPAddress) -> IPAddress:
    """The IPv4 address a mapped address carries; anything else unchanged."""
    if isinstance(address, IPv6) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def display(address: str | IPAddress) -> str:
    """How to show a peer to a person: IPv4 for v4-mapped addresses."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    shown = unmap(parsed)
    zone = address.split("%", 1)[1] if isinstance(address, str) and "%" in address else None
    return f"{shown}%{zone}" if zone else str(shown)


def for_socket(address: IPAddress, kind: Kind) -> IPAddress:
    """The form of ``address`` a socket of this kind takes, or a refusal saying why."""
    if kind is Kind.V4ONLY:
        plain = unmap(address)
        if isinstance(plain, IPv6):
            raise BadInput(f"{address} is IPv6: an IPv4-only socket cannot reach it")
        return plain
    if isinstance(address, IPv4):
        if kind is Kind.V6ONLY:
            raise BadInput(f"{address} is IPv4: an IPv6-only socket cannot reach it")
        return to_mapped(address)
    if address.ipv4_mapped is not None and kind is Kind.V6ONLY:
        raise MappedOnV6Only(
            f"{address} is an IPv4-mapped address, usable only on a dual-stack socket; this "
            f"socket is IPv6-only: use {address.ipv4_mapped} on an IPv4 socket, or a dual-stack "
            "socket (IPV6_V6ONLY off)"
        )
    return address


def interleave(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """RFC 8305 4: alternate families, IPv6 first, keeping each family's order."""
    given = list(addresses)
    v6 = [a for a in given if isinstance(a, IPv6)]
    v4 = [a for a in given if isinstance(a, IPv4)]
    ordered: list[IPAddress] = []
    for index in range(max(len(v6), len(v4))):
        ordered.extend(v6[index : index + 1])
        ordered.extend(v4[index : index + 1])
    return ordered
