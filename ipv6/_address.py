"""What an address is, what it embeds, and how to write it (pure, on ipaddress).

Rules of this module:
- No I/O. Every function takes addresses (or text) and returns data; bad
  text raises :class:`ipv6.BadInput` with one line saying what was wrong.
- Classification reports every fact that applies (an address can be 6to4
  and documentation-free global at once), in :class:`AddressInfo`.
- Text follows RFC 5952 (lower case, the longest run of two or more zero
  groups compressed, the first such run on a tie), with mixed notation for
  IPv4-mapped, IPv4-compatible and well-known-prefix NAT64 addresses.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ._errors import BadInput
from ._result import Result

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any

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

MULTICAST_SCOPES = {
    0x1: "interface-local",
    0x2: "link-local",
    0x3: "realm-local",
    0x4: "admin-local",
    0x5: "site-local",
    0x8: "organization-local",
    0xE: "global",
    0x0: "reserved",
    0xF: "reserved",
}


class AddressInfo:
    """Everything :func:`explain` found out about one address.

    (A plain class, not a dataclass: importing dataclasses costs ``ipv6 addr``
    a tenth of its start-up time.)
    """

    __slots__ = ("address", "details", "embedded_ipv4", "facts", "kind", "scope", "version")

    def __init__(self, address: str, version: int, kind: str, scope: str) -> None:
        self.address = address  # canonical text
        self.version = version
        self.kind = kind  # unicast, multicast, loopback, unspecified
        self.scope = scope  # link-local, site-local, global, interface-local, ...
        self.facts: list[str] = []  # sentences a person reads
        self.embedded_ipv4: str | None = None
        self.details: dict[str, Any] = {}

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "version": self.version,
            "kind": self.kind,
            "scope": self.scope,
            "embedded_ipv4": self.embedded_ipv4,
            "facts": self.facts,
            **self.details,
        }


# --- parsing and text ------------------------------------------------------------------


def parse_address(text: str) -> IPv4 | IPv6:
    """An address from text, refusing zones (see :func:`ipv6.split_zone`)."""
    if "%" in text:
        raise BadInput(f"{text!r} has a zone; an address alone is wanted here")
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        raise BadInput(f"{text!r} is not an IPv4 or IPv6 address") from None


def canonical(address: IPv4 | IPv6) -> str:
    """RFC 5952 text; mixed notation where the last 32 bits are an IPv4 address."""
    if isinstance(address, IPv4):
        return str(address)
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    if address in NAT64_WELL_KNOWN:
        return f"64:ff9b::{IPv4(address.packed[12:])}"
    if address in COMPATIBLE and int(address) > 1:
        return f"::{IPv4(address.packed[12:])}"
    return address.compressed  # ipaddress follows RFC 5952 for the rest


def split_zone(text: str) -> tuple[IPv6 | IPv4, str | None]:
    """``fe80::1%eth0`` -> (address, "eth0"); also the URI form ``[fe80::1%25eth0]``.

    RFC 6874 put zones in URIs as ``%25``; RFC 9844 took them out again, so
    such URIs are read (old tools write them) but never written.
    """
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
        if "%25" in raw:
            raw = raw.replace("%25", "%", 1)
    address_text, sep, zone = raw.partition("%")
    address = parse_address(address_text)
    if not sep:
        return address, None
    if not zone:
        raise BadInput(f"{text!r} has an empty zone after %")
    if isinstance(address, IPv4):
        raise BadInput(f"{text!r}: IPv4 addresses have no zones")
    if not needs_zone(address):
        raise BadInput(f"{text!r}: {canonical(address)} is not scoped, so it takes no zone")
    return address, zone


def with_zone(address: IPv4 | IPv6, zone: str | int | None) -> str:
    return canonical(address) + (f"%{zone}" if zone not in (None, "") else "")


def needs_zone(address: IPv4 | IPv6) -> bool:
    """Link-local unicast and interface- or link-scope multicast mean nothing without a zone."""
    if isinstance(address, IPv4):
        return False
    if address.is_multicast:
        return address.packed[1] & 0x0F in (0x1, 0x2)
    return address in LINK_LOCAL


# --- classification ------------------------------------------------------------------------


def explain(address: IPv4 | IPv6, nat64_prefixes: tuple[Net6, ...] = ()) -> AddressInfo:
    """Classify ``address`` and decode what it embeds.

    A network-specific NAT64 prefix (RFC 6052) looks like any other global
    prefix; name the ones a network uses in ``nat64_prefixes`` to have them
    recognised and the IPv4 address extracted.
    """
    if isinstance(address, IPv4):
        return _explain_v4(address)
    if address.is_multicast:
        return _explain_multicast(address)
    info = _explain_unicast(address)
    for prefix in nat64_prefixes:
        if address in prefix:
            v4 = nat64_extract(address, prefix)
            info.embedded_ipv4 = str(v4)
            info.details["nat64_prefix"] = str(prefix)
            info.facts.append(f"NAT64 network-specific prefix {prefix} (RFC 6052): IPv4 {v4}")
    return info


def _explain_unicast(address: IPv6) -> AddressInfo:
    info = AddressInfo(canonical(address), 6, "unicast", "global")
    if int(address) == 0:
        info.kind, info.scope = "unspecified", "none"
        info.facts.append("the unspecified address: no address at all (a source before DAD)")
        return info
    if int(address) == 1:
        info.kind, info.scope = "loopback", "host"
        info.facts.append("the loopback address: this host only")
        return info
    if address in LINK_LOCAL:
        info.scope = "link-local"
        info.facts.append(
            "link-local: valid on one link only; needs a zone (%interface) to be used"
        )
    elif address in SITE_LOCAL:
        info.scope = "site-local"
        info.facts.append("site-local: deprecated by RFC 3879; do not use")
    elif address in UNIQUE_LOCAL:
        info.scope = "unique-local"
        local = bool(address.packed[0] & 1)
        global_id = address.packed[1:6].hex()
        subnet = address.packed[6:8].hex()
        info.details["unique_local"] = {
            "locally_assigned": local,
            "global_id": global_id,
            "subnet": subnet,
        }
        info.facts.append(
            f"unique local (RFC 4193): global ID {global_id}, subnet {subnet}"
            + ("" if local else "; L bit clear, a reserved form")
        )
    if any(address in net for net in DOCUMENTATION):
        info.facts.append("documentation range (RFC 3849 / RFC 9637): for examples, never routed")
    if address in MAPPED:
        v4 = address.ipv4_mapped
        info.embedded_ipv4 = str(v4)
        info.facts.append(f"IPv4-mapped (RFC 4291): IPv4 {v4} on a dual-stack socket")
    elif address in COMPATIBLE:
        v4 = IPv4(address.packed[12:])
        info.embedded_ipv4 = str(v4)
        info.facts.append(f"IPv4-compatible: deprecated by RFC 4291; embeds {v4}")
    if address in SIX_TO_FOUR:
        v4 = address.sixtofour
        assert v4 is not None
        info.embedded_ipv4 = str(v4)
        usable = ipv4_usable_for_6to4(v4)
        info.details["6to4"] = {"ipv4": str(v4), "prefix": str(sixto4_prefix(v4)), "usable": usable}
        info.facts.append(
            f"6to4 (RFC 3056): site {sixto4_prefix(v4)} of IPv4 {v4}"
            + (
                ""
                if usable
                else f"; {v4} is not a global IPv4 address, so this prefix reaches nothing"
            )
        )
    if address in TEREDO:
        teredo = decode_teredo(address)
        info.embedded_ipv4 = teredo.client
        info.details["teredo"] = teredo.to_json()
        info.facts.append(
            f"Teredo (RFC 4380): server {teredo.server}, client {teredo.client} "
            f"port {teredo.port}, flags 0x{teredo.flags:04x}"
            + (" (cone NAT)" if teredo.cone else "")
        )
    isatap = isatap_ipv4(address)
    if isatap is not None and address not in MAPPED:
        info.embedded_ipv4 = str(isatap)
        info.facts.append(f"ISATAP interface identifier (RFC 5214): IPv4 {isatap}")
    if address in NAT64_WELL_KNOWN:
        v4 = nat64_extract(address, NAT64_WELL_KNOWN)
        info.embedded_ipv4 = str(v4)
        info.facts.append(f"NAT64 well-known prefix (RFC 6052): IPv4 {v4}")
    elif address in NAT64_LOCAL:
        v4 = IPv4(address.packed[12:])
        info.embedded_ipv4 = str(v4)
        info.facts.append(
            f"NAT64 local-use prefix (RFC 8215): IPv4 {v4} if the network uses a /96 "
            "(the position depends on the prefix length it chose)"
        )
    if info.scope == "global" and not info.facts:
        info.facts.append("global unicast")
    return info


def _explain_multicast(address: IPv6) -> AddressInfo:
    flags, scope_nibble = address.packed[1] >> 4, address.packed[1] & 0x0F
    scope = MULTICAST_SCOPES.get(scope_nibble, f"unassigned scope {scope_nibble:x}")
    info = AddressInfo(canonical(address), 6, "multicast", scope)
    r, p, t = bool(flags & 4), bool(flags & 2), bool(flags & 1)
    info.details["flags"] = {"R": r, "P": p, "T": t}
    info.facts.append(
        f"multicast, {scope} scope; flags R={int(r)} P={int(p)} T={int(t)} "
        + ("(transient)" if t else "(well-known, IANA-assigned)")
    )
    if address in SOLICITED_NODE:
        suffix = address.packed[13:]
        info.details["solicited_node_for"] = "::" + suffix.hex()
        info.facts.append(f"solicited-node group of every address ending in {suffix.hex(':')}")
    if p and not r:
        plen = address.packed[3]
        if plen == 0 and flags == 3:
            info.facts.append("source-specific multicast (SSM, RFC 4607): join with a source")
        elif 0 < plen <= 64:
            network = int.from_bytes(address.packed[4:12], "big") << 64
            net = Net6((network, plen), strict=False)
            info.details["unicast_prefix"] = str(net)
            info.facts.append(f"unicast-prefix-based (RFC 3306): prefix {net}")
    if r and p and t:
        try:
            rp = embedded_rp(address)
        except BadInput as exc:
            info.facts.append(f"embedded-RP flags set, but {exc}")
        else:
            info.details["embedded_rp"] = str(rp)
            info.facts.append(f"embedded RP (RFC 3956): rendezvous point {rp}")
    return info


def _explain_v4(address: IPv4) -> AddressInfo:
    info = AddressInfo(str(address), 4, "unicast", "global")
    net = ipaddress.ip_network
    if address.is_multicast:
        info.kind = "multicast"
        if address in net("224.0.0.0/24"):
            info.scope = "link-local"
            info.facts.append("local network control block: never forwarded")
        elif address in net("232.0.0.0/8"):
            info.facts.append("source-specific multicast (SSM, RFC 4607): join with a source")
        elif address in net("239.0.0.0/8"):
            info.scope = "admin-local"
            info.facts.append("administratively scoped (RFC 2365)")
        else:
            info.facts.append("multicast")
    elif address.is_unspecified:
        info.kind, info.scope = "unspecified", "none"
    elif address.is_loopback:
        info.kind, info.scope = "loopback", "host"
        info.facts.append("loopback: this host only")
    elif address.is_link_local:
        info.scope = "link-local"
        info.facts.append("link-local (RFC 3927, APIPA)")
    elif address in net("100.64.0.0/10"):
        info.scope = "shared"
        info.facts.append("shared address space for carrier-grade NAT (RFC 6598)")
    elif address.is_private:
        info.scope = "private"
        info.facts.append("private or special-purpose: not globally routable")
    else:
        info.facts.append("global unicast")
    if any(address in net(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")):
        info.facts.append("documentation range (RFC 5737)")
    return info


# --- derivations -----------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Teredo(Result):
    """What a Teredo address carries (RFC 4380 4): the client's port and address
    are stored inverted (obfuscated), and are given here as they are."""

    server: str
    flags: int
    cone: bool
    port: int
    client: str


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
