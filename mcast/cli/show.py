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
    mdb = kit.subcommand(
        shows, "mdb", cmd_mdb, "what a bridge's IGMP/MLD snooping learnt (its MDB)",
        description="Each bridge here (or BRIDGE): whether it snoops and queries, its "
        "multicast database (group, source, port, static or learnt, time left) and its "
        "router ports, read from the kernel over netlink.",
    )  # fmt: skip
    mdb.add_argument("bridge", nargs="?", metavar="BRIDGE")
    kit.add_json(mdb)


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


def cmd_mdb(args: argparse.Namespace) -> int:
    from ..routing._bridges import read_mdb

    found = read_mdb(args.bridge)
    if args.json:
        kit.print_json(found)
        return 0
    if not found:
        print("no bridges here")
    for bridge in found:
        on = {True: "on", False: "off", None: "?"}
        print(f"{bridge.bridge}: snooping {on[bridge.snooping]}, querier {on[bridge.querier]}")
        rows = [
            [e.group, e.source or "*", e.port, e.state, str(e.vlan) if e.vlan else "-",
             "-" if e.timer_s is None else f"{e.timer_s:.1f} s"]
            for e in bridge.entries
        ]  # fmt: skip
        if rows:
            print(kit.table(rows, ["GROUP", "SOURCE", "PORT", "STATE", "VLAN", "EXPIRES IN"]))
        else:
            print("  no entries")
        if bridge.router_ports:
            ports = ", ".join(r.port for r in bridge.router_ports)
            print(f"  router ports: {ports}")
    return 0
