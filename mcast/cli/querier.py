"""``mcast querier``: be the IGMP and MLD querier of a link."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from typing import Any

from ipv6.cli import kit


def register(commands: Any) -> None:
    querier = kit.subcommand(
        commands,
        "querier",
        cmd_querier,
        "send IGMP and MLD queries on a link and keep its membership table",
        description="Act as the link's IGMP querier (if the interface has IPv4) and MLD "
        "querier (if it has a link-local IPv6 address): general queries, group-specific and "
        "group-and-source-specific queries after leaves, querier election (the lowest address "
        "wins; it stands down while a better querier is heard and takes over when it falls "
        "silent), and the membership table with the RFC timers. Needs CAP_NET_RAW. Runs "
        "until interrupted (Ctrl-C) or --duration passes.",
    )
    querier.add_argument("--interface", "-i", metavar="IF", required=True)
    querier.add_argument("--igmp-version", type=int, choices=(2, 3), default=3)
    querier.add_argument("--mld-version", type=int, choices=(1, 2), default=2)
    querier.add_argument("--interval", type=float, default=125.0, help="query interval, seconds")
    querier.add_argument(
        "--response-interval", type=float, default=10.0, help="max response time, seconds"
    )
    querier.add_argument("--robustness", type=int, default=2, help="robustness variable")
    querier.add_argument("--duration", type=float, help="stop after this many seconds")
    kit.add_json(querier)


def cmd_querier(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput

    if args.interval <= 0 or args.response_interval <= 0 or args.response_interval >= args.interval:
        raise McastBadInput("--response-interval must be more than 0 and less than --interval")
    if not 1 <= args.robustness <= 7:
        raise McastBadInput("--robustness must be 1 to 7")
    interface = resolve_interface(args.interface)
    result: int = trio.run(_run, args, interface)
    return result


async def _run(args: argparse.Namespace, interface: Any) -> int:
    from contextlib import nullcontext

    import trio

    from .._querier import Event, Querier, Send
    from .._querying import Link, counters, queriers_for, run_queriers
    from .._routertable import Timers
    from .._wiretext import describe

    timers = Timers(
        robustness=args.robustness,
        query_interval=args.interval,
        query_response_interval=args.response_interval,
    )
    link = Link.open(interface)
    try:
        queriers = queriers_for(
            link,
            igmp_version=args.igmp_version,
            mld_version=args.mld_version,
            timers=timers,
            now=trio.current_time(),
        )
        names = ", ".join(f"{q.config.protocol.upper()} from {q.config.address}" for q in queriers)
        print(f"querier on {interface}: {names}", file=sys.stderr, flush=True)

        def report(querier: Querier, action: object) -> None:
            now = time.time()
            protocol = querier.config.protocol.upper()
            if isinstance(action, Send):
                from .._frames import WireMessage

                wire = WireMessage(
                    querier.config.protocol,
                    querier.config.address,
                    action.destination,
                    1,
                    True,
                    action.message,
                )
                info = describe(wire)
                what = (
                    "general query"
                    if info["group"] in ("0.0.0.0", "::")
                    else (
                        f"query for {info['group']}"
                        + (
                            f" sources {{{', '.join(info['sources'])}}}"
                            if info.get("sources")
                            else ""
                        )
                    )
                )
                _emit(args.json, now, protocol, "sent", text=what, detail=info)
            elif isinstance(action, Event):
                if action.kind == "report":
                    # The rows of the groups the report named (the whole table would
                    # cost a line of a thousand groups for every report of a flood).
                    listed = action.detail.get("groups", [])
                    assert isinstance(listed, list)
                    named = [ipaddress.ip_address(g) for g in listed]
                    rows = querier.table.snapshot(trio.current_time(), named)
                    summary = "; ".join(_row_text(r) for r in rows) or "(no members)"
                    _emit(
                        args.json,
                        now,
                        protocol,
                        "table",
                        text=f"{action.text}: {summary}",
                        detail={"groups": rows},
                    )
                else:
                    _emit(
                        args.json,
                        now,
                        protocol,
                        action.kind,
                        text=action.text,
                        detail=action.detail,
                    )

        def say_counters() -> None:
            numbers = counters(link, queriers)
            if args.json:
                print(json.dumps({"event": "counters", **numbers}), flush=True)
            else:
                print(f"counters: {json.dumps(numbers)}", file=sys.stderr, flush=True)

        scope = trio.move_on_after(args.duration) if args.duration else nullcontext()
        with scope:
            await kit.reporting(lambda: run_queriers(link, queriers, report), say_counters)
    finally:
        link.close()
    return 0


def _row_text(row: dict[str, Any]) -> str:
    return f"{row['group']} {str(row['mode']).upper()} {{{', '.join(row['sources'])}}}"


def _emit(
    as_json: bool, when: float, protocol: str, kind: str, *, text: str, detail: dict[str, Any]
) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "time": round(when, 6),
                    "protocol": protocol,
                    "event": kind,
                    "text": text,
                    **detail,
                }
            ),
            flush=True,
        )
        return
    stamp = time.strftime("%H:%M:%S", time.localtime(when))
    print(f"{stamp} {protocol} {kind}: {text}", flush=True)
