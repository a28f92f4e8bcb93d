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

from ._derive import (
    COMPATIBLE,
    DOCUMENTATION,
    LINK_LOCAL,
    MAPPED,
    NAT64_LOCAL,
    NAT64_WELL_KNOWN,
    SITE_LOCAL,
    SIX_TO_FOUR,
    SOLICITED_NODE,
    TEREDO,
    UNIQUE_LOCAL,
    decode_teredo,
    embedded_rp,
    ipv4_usable_for_6to4,
    isatap_ipv4,
    nat64_extract,
    sixto4_prefix,
)
from ._errors import BadInput

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
Net6 = ipaddress.IPv6Network

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
