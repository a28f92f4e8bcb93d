"""``mcast watch``: IGMP and MLD on an interface, one line (or JSON object) each."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import Any

from ipv6.cli import _kit

EXIT_TIMEOUT = 3


def register(commands: Any) -> None:
    watch = _kit.subcommand(
        commands,
        "watch",
        cmd_watch,
        "print the IGMP and MLD messages seen on an interface",
        description="Capture IGMP and MLD on an interface and print each message: time, "
        "direction, protocol, version, type, source, and each report's records. Needs "
        "CAP_NET_RAW. Exits 0 after --count messages, 3 when --timeout passes first.",
    )
    watch.add_argument("--interface", "-i", metavar="IF", required=True)
    watch.add_argument("--count", "-c", type=int, help="stop after this many messages")
    watch.add_argument("--timeout", "-t", type=float, help="stop after this many seconds")
    watch.add_argument(
        "--table", action="store_true", help="keep a membership table, as a router does"
    )
    _kit.add_json(watch)


def cmd_watch(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput

    if args.count is not None and args.count < 1:
        raise McastBadInput("--count must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise McastBadInput("--timeout must be more than 0 seconds")
    interface = resolve_interface(args.interface)
    result: int = trio.run(_watch, args, interface)
    return result


async def _watch(args: argparse.Namespace, interface: Any) -> int:
    import trio

    from .._observer import Garbled, open_observer
    from .._routertable import RouterTable
    from .._wiretext import describe, line

    table = RouterTable() if args.table else None
    seen = 0
    async with open_observer(interface) as observer:
        print(f"watching IGMP and MLD on {interface}", file=sys.stderr, flush=True)
        scope = trio.move_on_after(args.timeout) if args.timeout else nullcontext()
        with scope:
            async for item in observer:
                if isinstance(item, Garbled):
                    print(f"{interface.name}: {item.error}", file=sys.stderr, flush=True)
                    continue
                seen += 1
                if table is not None:
                    table.observe(item.wire, item.time)
                    _print_table(table, item.time, args.json)
                elif args.json:
                    record = {
                        "time": round(item.time, 6),
                        "interface": item.interface,
                        "direction": "out" if item.outgoing else "in",
                        **describe(item.wire),
                    }
                    print(json.dumps(record), flush=True)
                else:
                    print(line(item.time, item.interface, item.outgoing, item.wire), flush=True)
                if args.count is not None and seen >= args.count:
                    break
    if args.count is not None and seen < args.count:
        print(
            f"mcast watch: timeout after {args.timeout} s with {seen} of {args.count} messages",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    return 0


def _print_table(table: Any, now: float, as_json: bool) -> None:
    rows = table.snapshot(now)
    if as_json:
        print(json.dumps({"time": round(now, 6), "groups": rows}), flush=True)
        return
    print(
        _kit.table(
            [
                (
                    r["group"],
                    r["mode"].upper(),
                    ", ".join(r["sources"]) or "-",
                    r["last_reporter"],
                    f"{r['expires_in']:.0f} s" if r["expires_in"] is not None else "-",
                )
                for r in rows
            ],
            ("GROUP", "MODE", "SOURCES", "LAST REPORTER", "EXPIRES"),
        )
        + "\n",
        flush=True,
    )
