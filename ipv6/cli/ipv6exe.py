"""The seeds' Ipv6.exe subcommands under ``ipv6``: ``ipv6 if``, ``ipv6 ifc 2 forw adv``,
``ipv6 adu 2/2002:ac1f:2aef::ac1f:2aef``, ``ipv6 rtu 2002::/16 2``... Each is read by
:mod:`ipv6.netsh._ipv6exe` and carried out by netsh's machinery (a display as
netsh's show, a change as one netsh transaction)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import kit

LINUX = """\
On Linux: IF is an interface index (as in the seeds) or a name; there are no
pseudo-interfaces 1 (loopback is lo, index 1) and 2 (tunnels are interfaces of
their own: netsh add v6v4tunnel, ipv6 tunnel add); forwarding is per interface
and per network namespace; there are no site identifiers. docs/netsh.md maps
every verb."""

VERBS = {
    "if": ("IF", "interfaces: link-layer address, MTUs, forwarding, advertising, addresses"),
    "ifc": ("IF [forwards|forw] [advertises|adv] [-forwards] [-advertises] [mtu N]",
            "change an interface's forwarding, advertising and MTU"),
    "ifd": ("IF", "delete an interface (a tunnel)"),
    "nc": ("[IF [ADDR]]", "the neighbour cache"),
    "ncf": ("[IF [ADDR]]", "flush neighbour cache entries"),
    "rc": ("[IF ADDR]", "the route cache (Linux's cached exceptions: PMTU, redirects)"),
    "rcf": ("[IF [ADDR]]", "flush the route cache (Linux flushes all of it)"),
    "bc": ("", "the binding cache (Linux has no mobile IPv6 bindings: says so)"),
    "adu": ("IF/ADDR [lifetime|life VL[/PL]] [anycast] [unicast]",
            "add, update or (lifetime 0) remove an address"),
    "spt": ("", "the site prefixes: the site prefix lengths published routes advertise"),
    "spu": ("PREFIX IF [lifetime L]", "Linux has no site prefix table: says what to use"),
    "rt": ("", "the routing table"),
    "rtu": ("PREFIX IF[/NEXTHOP] [lifetime|life L] [preference|pref P] [publish|pub] [age] "
            "[spl N]", "add, update or (lifetime 0) remove a route; pub advertises it"),
}  # fmt: skip


def register(commands: Any) -> None:
    for verb, (form, summary) in VERBS.items():
        parser = kit.subcommand(
            commands, verb, cmd_ipv6exe, f"(Ipv6.exe) {summary}",
            description=f"ipv6 {verb} {form}\n\n{summary[0].upper()}{summary[1:]}, as the "
            f"seeds' Ipv6.exe does.\n\n{LINUX}",
        )  # fmt: skip
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("words", nargs=argparse.REMAINDER, metavar="...")
        kit.add_json(parser)
        parser.set_defaults(ipv6exe_verb=verb)


def cmd_ipv6exe(args: argparse.Namespace) -> int:
    from ..netsh._commands import run_ipv6exe
    from .netsh import print_rows

    words = [w for w in args.words if w != "--json"]
    as_json = args.json or len(words) != len(args.words)
    outcome = run_ipv6exe(args.ipv6exe_verb, words)
    if outcome.rows is not None and (outcome.rows or not outcome.messages or as_json):
        print_rows([row.to_json() for row in outcome.rows], as_json, sys.stdout)
        return 0
    for message in outcome.messages:
        print(message)
    return 0
