"""What a multicast group or source address may be, checked before any call.

Pure: text in, addresses and warnings out, or one McastBadInput that says
what is wrong and what to write instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .._errors import McastBadInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SSM_V4 = ipaddress.IPv4Network("232.0.0.0/8")  # RFC 4607
# FF3x::/96 (RFC 4607, RFC 3306 with plen 0): any scope nibble.
SSM_V6_PREFIX_BYTES = 12

# IPv6 multicast scopes that name one link or one interface: a group of these
# scopes means nothing without saying which interface (RFC 4007).
IFACE_LOCAL, LINK_LOCAL = 0x1, 0x2


def parse_address(text: str, what: str) -> IPAddress:
    """An IP address, refusing zones and v4-mapped forms with a clear line."""
    if "%" in text:
        raise McastBadInput(f"{what} {text!r}: give the interface with --interface, not as a zone")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise McastBadInput(f"{what} {text!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise McastBadInput(
            f"{what} {text} is an IPv4-mapped IPv6 address: use {address.ipv4_mapped} "
            "(multicast membership is per family)"
        )
    return address


def parse_group(text: str) -> IPAddress:
    """A multicast address from text; McastBadInput when it is not one."""
    group = parse_address(text, "group")
    if not group.is_multicast:
        raise McastBadInput(f"{group} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)")
    return group


def is_ssm(group: IPAddress) -> bool:
    if isinstance(group, ipaddress.IPv4Address):
        return group in SSM_V4
    raw = group.packed
    return raw[0] == 0xFF and raw[1] >> 4 == 0x3 and raw[2:SSM_V6_PREFIX_BYTES] == bytes(10)


def ipv6_scope(group: ipaddress.IPv6Address) -> int:
    return group.packed[1] & 0x0F


def needs_interface(group: IPAddress) -> bool:
    """Whether the group only means something on one link (ff01::, ff02:: and kin)."""
    return isinstance(group, ipaddress.IPv6Address) and ipv6_scope(group) in (
        IFACE_LOCAL,
        LINK_LOCAL,
    )


@dataclass(frozen=True)
class Channel:
    """A checked join request: the group, its sources, and what to warn about."""

    group: IPAddress
    sources: tuple[IPAddress, ...] = ()
    excluded: tuple[IPAddress, ...] = ()
    warnings: tuple[str, ...] = ()


def check_channel(
    group_text: str,
    sources: list[str],
    excluded: list[str],
    *,
    has_interface: bool,
) -> Channel:
    """Check a join's group and sources as the ``mcast join`` command takes them."""
    group = parse_group(group_text)
    included = tuple(parse_address(s, "source") for s in sources)
    blocked = tuple(parse_address(s, "source") for s in excluded)
    if included and blocked:
        raise McastBadInput(
            "--source (source-specific) and --exclude (any-source) cannot be mixed in one join"
        )
    for source in (*included, *blocked):
        if source.version != group.version:
            raise McastBadInput(f"source {source} is not of the family of group {group}")
        if source.is_multicast or source.is_unspecified:
            raise McastBadInput(f"source {source} cannot send multicast: use a unicast address")
    if len(set(included)) != len(included) or len(set(blocked)) != len(blocked):
        raise McastBadInput("a source is given twice")
    if needs_interface(group) and not has_interface:
        raise McastBadInput(f"{group} is scoped to one link: say which with --interface")
    warnings = []
    if included and not is_ssm(group):
        ranges = "232.0.0.0/8" if group.version == 4 else "ff3x::/96"
        warnings.append(
            f"{group} is outside the source-specific range {ranges}: routers may "
            "deliver other sources' traffic too; this host's filter still drops it"
        )
    if not included and is_ssm(group):
        warnings.append(
            f"{group} is in the source-specific range: an any-source join there receives "
            "nothing on networks that follow RFC 4607; name a --source"
        )
    return Channel(group, included, blocked, tuple(warnings))
