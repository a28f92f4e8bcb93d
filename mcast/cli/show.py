"""``mcast show joins``: the host's memberships per interface."""

from __future__ import annotations

import argparse
from typing import Any

from ipv6.cli import kit


def register(commands: Any) -> None:
    _, shows = kit.group(commands, "show", "show multicast state of this host")
    joins = kit.subcommand(
        shows,
        "joins",
        cmd_joins,
        "the host's group memberships per interface, with filter mode and sources",
        description="Every IPv4 and IPv6 group joined on this host, per interface, with the "
        "interface's filter mode and sources (from /proc/net/igmp, mcfilter, igmp6, mcfilter6).",
    )
    joins.add_argument("--interface", "-i", metavar="IF", help="only this interface")
    kit.add_json(joins)


def cmd_joins(args: argparse.Namespace) -> int:
    from ipv6 import read_host_joins, resolve_interface

    joins = read_host_joins()
    if args.interface is not None:
        ref = resolve_interface(args.interface)
        joins = [j for j in joins if j.ifindex == ref.index]
    if args.json:
        kit.print_json([j.to_json() for j in joins])
        return 0
    rows = [
        (
            j.interface,
            f"IPv{j.group.version}",
            str(j.group),
            j.mode.upper(),
            ", ".join(str(s) for s in j.filter_sources) or "-",
            j.users,
        )
        for j in joins
    ]
    if not rows:
        print("no memberships")
        return 0
    print(kit.table(rows, ("INTERFACE", "FAMILY", "GROUP", "MODE", "SOURCES", "USERS")))
    return 0
