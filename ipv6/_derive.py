"""Addresses made from others, and the well-known prefixes they live in:
6to4 (RFC 3056), modified EUI-64 (RFC 4291), ISATAP (RFC 5214), Teredo
(RFC 4380), NAT64 (RFC 6052), solicited-node groups, embedded-RP (RFC 3956)
and SSM ranges. Pure."""

from __future__ import annotations

import ipaddress
import re

from ._errors import BadInput

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
Net6 = ipaddress.IPv6Network

LINK_LOCAL = Net6("fe80::/10")
SITE_LOCAL = Net6("fec0::/10")
UNIQUE_LOCAL = Net6("fc00::/7")
DOCUMENTATION = (Net6("2001:db8::/32"), Net6("3fff::/20"))
MAPPED = Net6("::ffff:0:0/96")
COMPATIBLE = Net6("::/96")
SIX_TO_FOUR = Net6("2002::/16")
TEREDO = Net6("2001::/32")
NAT64_WELL_KNOWN = Net6("64:ff9b::/96")
NAT64_LOCAL = Net6("64:ff9b:1::/48")  # RFC 8215
SOLICITED_NODE = Net6("ff02::1:ff00:0/104")
NAT64_LENGTHS = (32, 40, 48, 56, 64, 96)  # RFC 6052 2.2


def ipv4_usable_for_6to4(address: IPv4) -> bool:
    """A 6to4 site needs a globally unique, routable IPv4 address (RFC 3056, RFC 6343)."""
    return address.is_global and not address.is_multicast


def sixto4_prefix(address: IPv4) -> Net6:
    """2002:WWXX:YYZZ::/48 for IPv4 W.X.Y.Z."""
    return Net6((int(SIX_TO_FOUR.network_address) | int(address) << 80, 48))


def sixto4_address(address: IPv4, subnet: int = 0, host: int | None = None) -> IPv6:
    """An address of the site: the /48, a 16-bit subnet, and a 64-bit interface id.

    With no ``host``, the interface id is the IPv4 address itself, as the
    seeds' example does: 172.31.42.239 gives 2002:ac1f:2aef::ac1f:2aef.
    """
    if not 0 <= subnet <= 0xFFFF:
        raise BadInput(f"subnet {subnet} is out of range (0 to 65535)")
    iid = int(address) if host is None else host
    if not 0 <= iid < 2**64:
        raise BadInput(f"interface id {iid:#x} does not fit in 64 bits")
    return IPv6(int(sixto4_prefix(address).network_address) | subnet << 64 | iid)


def sixto4_ipv4(address: IPv6) -> IPv4:
    if address not in SIX_TO_FOUR:
        raise BadInput(f"{address} is not a 6to4 address (2002::/16)")
    v4 = address.sixtofour
    assert v4 is not None
    return v4


def parse_mac(text: str) -> bytes:
    """00-60-08-52-f9-d8, 00:60:08:52:f9:d8 or 0060.0852.f9d8 -> 6 bytes."""
    digits = re.sub(r"[-:.]", "", text.strip())
    if not re.fullmatch(r"[0-9a-fA-F]{12}", digits):
        count = len(digits) // 2 if re.fullmatch(r"[0-9a-fA-F]*", digits) else None
        what = f"{count} bytes" if count is not None else "not hexadecimal"
        raise BadInput(f"{text!r} is not a 48-bit MAC address like 00-60-08-52-f9-d8 ({what})")
    return bytes.fromhex(digits)


def eui64_interface_id(mac: bytes) -> bytes:
    """Modified EUI-64 (RFC 4291 appendix A): FF-FE in the middle, U/L bit flipped."""
    if len(mac) != 6:
        raise BadInput(f"a MAC address has 6 bytes, not {len(mac)}")
    return bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:]


LINK_LOCAL_64 = Net6("fe80::/64")


def eui64_address(mac: bytes, prefix: Net6 = LINK_LOCAL_64) -> IPv6:
    """The address ``prefix`` (a /64 or shorter; link-local by default) gives an interface
    of MAC ``mac`` by its modified EUI-64 interface id (RFC 4291 appendix A)."""
    if prefix.prefixlen > 64:
        raise BadInput(f"prefix {prefix} is longer than 64 bits: no room for an interface id")
    return IPv6(int(prefix.network_address) | int.from_bytes(eui64_interface_id(mac), "big"))


def isatap_interface_id(address: IPv4, universal: bool | None = None) -> bytes:
    """::0:5efe:a.b.c.d, or ::200:5efe:a.b.c.d for a globally unique IPv4 (RFC 5214 6.1)."""
    if universal is None:
        universal = address.is_global
    return (b"\x02\x00" if universal else b"\x00\x00") + b"\x5e\xfe" + address.packed


def isatap_ipv4(address: IPv6) -> IPv4 | None:
    iid = address.packed[8:]
    if iid[1:4] == b"\x00\x5e\xfe" and iid[0] in (0x00, 0x02, 0x01, 0x03):
        return IPv4(iid[4:])
    return None


def solicited_node(address: IPv6) -> IPv6:
    """The solicited-node group of ``address`` (RFC 4291 2.7.1)."""
    return IPv6(int(SOLICITED_NODE.network_address) | int(address) & 0xFFFFFF)


class Teredo:
    """What a Teredo address carries (RFC 4380 4): the client's port and address
    are stored inverted (obfuscated), and are given here as they are.

    (A plain class, as :class:`ipv6._address.AddressInfo` is: importing
    dataclasses costs a pure command a fifth of its start-up time.)
    """

    __slots__ = ("client", "cone", "flags", "port", "server")

    def __init__(self, server: str, flags: int, cone: bool, port: int, client: str) -> None:
        self.server, self.flags, self.cone, self.port, self.client = (
            server, flags, cone, port, client)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Teredo) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(tuple(self.to_json().values()))

    def __repr__(self) -> str:
        return f"Teredo({', '.join(f'{k}={v!r}' for k, v in self.to_json().items())})"

    def to_json(self) -> dict[str, object]:
        return {"server": self.server, "flags": self.flags, "cone": self.cone,
                "port": self.port, "client": self.client}  # fmt: skip


def decode_teredo(address: IPv6) -> Teredo:
    raw = address.packed
    flags = int.from_bytes(raw[8:10], "big")
    return Teredo(
        server=str(IPv4(raw[4:8])),
        flags=flags,
        cone=bool(flags & 0x8000),
        port=int.from_bytes(raw[10:12], "big") ^ 0xFFFF,
        client=str(IPv4(bytes(b ^ 0xFF for b in raw[12:16]))),
    )


def nat64_embed(address: IPv4, prefix: Net6 = NAT64_WELL_KNOWN) -> IPv6:
    """RFC 6052 2.2: the IPv4 address in a NAT64 prefix of 32 to 96 bits (bits 64-71 zero)."""
    length = prefix.prefixlen
    if length not in NAT64_LENGTHS:
        raise BadInput(f"a NAT64 prefix is /32, /40, /48, /56, /64 or /96, not /{length}")
    raw = bytearray(prefix.network_address.packed)
    if raw[8] != 0:
        raise BadInput(f"{prefix}: bits 64 to 71 of a NAT64 prefix must be zero")
    v4 = address.packed
    start = length // 8
    positions = [p for p in range(start, 16) if p != 8][:4]
    for byte, position in zip(v4, positions, strict=True):
        raw[position] = byte
    return IPv6(bytes(raw))


def nat64_extract(address: IPv6, prefix: Net6 = NAT64_WELL_KNOWN) -> IPv4:
    length = prefix.prefixlen
    if length not in NAT64_LENGTHS:
        raise BadInput(f"a NAT64 prefix is /32, /40, /48, /56, /64 or /96, not /{length}")
    if address not in prefix:
        raise BadInput(f"{address} is not in NAT64 prefix {prefix}")
    raw = address.packed
    positions = [p for p in range(length // 8, 16) if p != 8][:4]
    return IPv4(bytes(raw[p] for p in positions))


def embedded_rp(group: IPv6) -> IPv6:
    """RFC 3956: the rendezvous point encoded in an embedded-RP group."""
    raw = group.packed
    riid, plen = raw[2] & 0x0F, raw[3]
    if plen == 0 or plen > 64:
        raise BadInput(f"the embedded-RP prefix length {plen} is not 1 to 64")
    prefix = int.from_bytes(raw[4:12], "big") >> (64 - plen) << (64 - plen)
    return IPv6(prefix << 64 | riid)


def is_ssm(group: IPv4 | IPv6) -> bool:
    if isinstance(group, IPv4):
        return group in ipaddress.ip_network("232.0.0.0/8")
    raw = group.packed
    return raw[0] == 0xFF and raw[1] >> 4 == 0x3 and raw[2:12] == bytes(10)
