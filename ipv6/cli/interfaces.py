"""``ipv6 interfaces``: this host's interfaces, addresses and memberships."""

from __future__ import annotations

import argparse

from . import kit

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    show = kit.subcommand(
        groups,
        "interfaces",
        cmd_interfaces,
        "list this host's interfaces: index, flags, MTU, MAC, addresses, multicast memberships",
    )
    kit.add_json(show)


def cmd_interfaces(args: argparse.Namespace) -> int:
    from .._inventory import list_interfaces

    found = list_interfaces()
    if args.json:
        kit.print_json([i.to_json() for i in found])
        return 0
    for iface in found:
        kind = f" {iface.kind}" if iface.kind else ""
        flags = ",".join(iface.flags)
        print(f"{iface.index}: {iface.name}{kind} <{flags}> state {iface.state} mtu {iface.mtu}")
        if iface.mac:
            print(f"    link {iface.mac}")
        for a in iface.addresses:
            family = "inet " if a.family == "ipv4" else "inet6"
            marks = f" {' '.join(a.flags)}" if a.flags else ""
            print(f"    {family} {a.address}/{a.prefixlen} scope {a.scope}{marks}")
        if iface.joins:
            print(f"    joined {', '.join(j['group'] for j in iface.joins)}")
    return 0
