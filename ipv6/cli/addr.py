"""``ipv6 addr``: explain addresses and derive 6to4, EUI-64 and NAT64 ones (pure, fast)."""

from __future__ import annotations

import argparse

from .._errors import BadInput
from . import kit

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    _, commands = kit.group(groups, "addr", "explain addresses; derive 6to4, EUI-64 and NAT64 ones")
    explain = kit.subcommand(
        commands,
        "explain",
        cmd_explain,
        "what an address is: scope, kind, flags, and what it embeds (6to4, Teredo, NAT64...)",
    )
    explain.add_argument(
        "addresses", metavar="ADDR", nargs="+", help="IPv4 or IPv6, with an optional %%zone"
    )
    explain.add_argument(
        "--nat64-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="a network-specific NAT64 prefix (/32 to /96) to recognise and extract IPv4 from",
    )
    kit.add_json(explain)

    six = kit.subcommand(
        commands, "6to4", cmd_6to4, "the 6to4 prefix and address of an IPv4 address"
    )
    six.add_argument("ipv4", metavar="IPV4")
    six.add_argument(
        "--subnet",
        type=kit.integer(0, 0xFFFF, "a subnet id"),
        default=0,
        help="the 16-bit subnet id (default 0)",
    )
    six.add_argument("--host", help="the interface id, as hex or ::ID (default: the IPv4 address)")
    kit.add_json(six)

    eui = kit.subcommand(commands, "eui64", cmd_eui64, "the modified EUI-64 interface id of a MAC")
    eui.add_argument("mac", metavar="MAC", help="like 00-60-08-52-f9-d8 or 00:60:08:52:f9:d8")
    eui.add_argument(
        "--prefix", default="fe80::/64", help="the /64 to put it in (default fe80::/64)"
    )
    kit.add_json(eui)

    nat = kit.subcommand(
        commands, "nat64", cmd_nat64, "an IPv4 address inside a NAT64 prefix (RFC 6052)"
    )
    nat.add_argument("ipv4", metavar="IPV4")
    nat.add_argument("--prefix", default="64:ff9b::/96", help="/32, /40, /48, /56, /64 or /96")
    kit.add_json(nat)


def _v4(text: str) -> Any:
    from .._address import parse_address

    address = parse_address(text)
    if address.version != 4:
        raise BadInput(f"{text} is not an IPv4 address")
    return address


def _prefix(text: str) -> Any:
    import ipaddress

    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise BadInput(f"{text!r} is not a prefix like 2001:db8::/64") from None
    if network.version != 6:
        raise BadInput(f"{text} is not an IPv6 prefix")
    return network


def cmd_explain(args: argparse.Namespace) -> int:
    from .._address import explain, split_zone

    prefixes = tuple(_prefix(p) for p in args.nat64_prefix)
    for prefix in prefixes:
        if prefix.prefixlen not in (32, 40, 48, 56, 64, 96):
            raise BadInput(
                f"--nat64-prefix {prefix}: a NAT64 prefix is /32, /40, /48, /56, /64 or /96"
            )
    infos = []
    for text in args.addresses:
        address, zone = split_zone(text)
        info = explain(address, prefixes)
        if zone is not None:
            info.details["zone"] = zone
        infos.append(info)
    if args.json:
        kit.print_json([i.to_json() for i in infos])
        return 0
    for info in infos:
        zone = f"%{info.details['zone']}" if "zone" in info.details else ""
        print(f"{info.address}{zone}: IPv{info.version} {info.kind}, {info.scope} scope")
        for fact in info.facts:
            print(f"  - {fact}")
    return 0


def _interface_id(text: str) -> int:
    """An interface id as ``1``, ``::1`` or ``ac1f:2aef`` (hexadecimal groups)."""
    import ipaddress

    body = text.removeprefix("::")
    try:
        return int(ipaddress.IPv6Address("::" + body)) if ":" in body else int(body, 16)
    except ValueError:
        raise BadInput(f"--host {text!r} is not an interface id like ::1 or ac1f:2aef") from None


def cmd_6to4(args: argparse.Namespace) -> int:
    import ipaddress

    from .._address import canonical
    from .._derive import ipv4_usable_for_6to4, sixto4_address, sixto4_prefix

    v4 = _v4(args.ipv4)
    host = _interface_id(args.host) if args.host is not None else None
    prefix = sixto4_prefix(v4)
    address = sixto4_address(v4, args.subnet, host)
    subnet = ipaddress.IPv6Network((int(prefix.network_address) | args.subnet << 64, 64))
    usable = ipv4_usable_for_6to4(v4)
    if args.json:
        kit.print_json(
            {
                "ipv4": str(v4),
                "prefix": str(prefix),
                "subnet_prefix": str(subnet),
                "address": canonical(address),
                "usable": usable,
            }
        )
        return 0
    print(f"6to4 site prefix: {prefix}")
    print(f"subnet {args.subnet}:{' ' * (10 - len(str(args.subnet)))}{subnet}")
    print(f"address:          {canonical(address)}")
    if not usable:
        print(
            f"note: {v4} is not a global IPv4 address: this prefix is unreachable from the Internet"
        )
    return 0


def cmd_eui64(args: argparse.Namespace) -> int:
    from .._address import canonical
    from .._derive import eui64_address, eui64_interface_id, parse_mac

    mac = parse_mac(args.mac)
    prefix = _prefix(args.prefix)
    iid = eui64_interface_id(mac)
    address = eui64_address(mac, prefix)
    if args.json:
        kit.print_json(
            {"mac": mac.hex(":"), "interface_id": iid.hex("-"), "address": canonical(address)}
        )
        return 0
    print(f"interface id: {iid.hex('-')}")
    print(f"address:      {canonical(address)}")
    return 0


def cmd_nat64(args: argparse.Namespace) -> int:
    from .._address import canonical
    from .._derive import nat64_embed

    v4 = _v4(args.ipv4)
    prefix = _prefix(args.prefix)
    address = nat64_embed(v4, prefix)
    if args.json:
        kit.print_json({"ipv4": str(v4), "prefix": str(prefix), "address": canonical(address)})
        return 0
    print(canonical(address))
    return 0
