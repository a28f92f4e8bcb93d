"""``mcast watch``: IGMP and MLD on an interface, one line (or JSON object) each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from typing import Any

from ipv6.cli import kit

EXIT_TIMEOUT = 3
TABLE_EVERY = 0.2  # seconds: --table prints the table after a report at most this often


def register(commands: Any) -> None:
    watch = kit.subcommand(
        commands,
        "watch",
        cmd_watch,
        "print the IGMP and MLD messages seen on an interface",
        description="Capture IGMP and MLD on an interface and print each message: time, "
        "direction, protocol, version, type, source, and each report's records. Needs "
        "CAP_NET_RAW. Exits 0 after --count messages, 3 when --timeout passes first.",
    )
    watch.add_argument("--interface", "-i", metavar="IF", required=True)
    watch.add_argument(
        "--count", "-c", type=kit.integer(1, None, "a count"), help="stop after this many messages"
    )
    watch.add_argument("--timeout", "-t", type=float, help="stop after this many seconds")
    watch.add_argument(
        "--table", action="store_true", help="keep a membership table, as a router does"
    )
    kit.add_json(watch)


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

    from ..querier._routertable import RouterTable
    from ..wire._observer import open_observer

    table = RouterTable() if args.table else None
    seen = [0]  # messages printed, as they are printed
    async with open_observer(interface) as observer:
        print(f"watching IGMP and MLD on {interface}", file=sys.stderr, flush=True)
        scope = trio.move_on_after(args.timeout) if args.timeout else nullcontext()
        with scope:
            await kit.reporting(
                lambda: _print_each(args, observer, table, interface, seen),
                lambda: _say_counters(observer, table),
            )
    if args.count is not None and seen[0] < args.count:
        print(
            f"mcast watch: timeout after {args.timeout} s with {seen[0]} of {args.count} messages",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    return 0


def _say_counters(observer: Any, table: Any) -> None:
    """The capture's counters, as one JSON object on stderr (stdout holds only messages)."""
    numbers = observer.statistics().to_json()
    if table is not None:
        numbers["table_refused"] = dict(sorted(table.refused.items()))
    print(f"counters: {json.dumps(numbers)}", file=sys.stderr, flush=True)


async def _print_each(
    args: argparse.Namespace, observer: Any, table: Any, interface: Any, seen: list[int]
) -> None:
    """Print each message until --count, counting them in ``seen[0]``."""
    from ..wire._observer import Garbled
    from ..wire._wiretext import describe, line

    shown, pending = 0.0, False  # when the table was last printed; changes since
    try:
        async for item in observer:
            if isinstance(item, Garbled):
                print(f"{interface.name}: {item.error}", file=sys.stderr, flush=True)
                continue
            seen[0] += 1
            if table is not None:
                table.observe(item.wire, item.time)
                if item.time - shown >= TABLE_EVERY:  # a flood must not print a table a frame
                    _print_table(table, item.time, args.json)
                    shown, pending = item.time, False
                else:
                    pending = True
            elif args.json:
                record = {
                    "time": round(item.time, 6),
                    "interface": item.interface,
                    "direction": "out" if item.outgoing else "in",
                    **describe(item.wire),
                }
                kit.json_line(record)
            else:
                print(line(item.time, item.interface, item.outgoing, item.wire), flush=True)
            if args.count is not None and seen[0] >= args.count:
                break
    finally:
        if table is not None and pending:  # what changed since the last table printed
            _print_table(table, time.time(), args.json)


def _print_table(table: Any, now: float, as_json: bool) -> None:
    rows = table.snapshot(now)
    if as_json:
        groups = [row.to_json() for row in rows]
        kit.json_line({"time": round(now, 6), "groups": groups})
        return
    print(
        kit.table(
            [
                (
                    r.group,
                    r.mode.upper(),
                    ", ".join(r.sources) or "-",
                    r.last_reporter,
                    f"{r.expires_in:.0f} s",
                )
                for r in rows
            ],
            ("GROUP", "MODE", "SOURCES", "LAST REPORTER", "EXPIRES"),
        )
        + "\n",
        flush=True,
    )
