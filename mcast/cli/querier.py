"""``mcast querier``: be the IGMP and MLD querier of a link."""

from __future__ import annotations

import argparse
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
    querier.add_argument(
        "--robustness",
        type=kit.integer(1, 7, "a robustness"),
        default=2,
        help="robustness variable",
    )
    querier.add_argument("--duration", type=float, help="stop after this many seconds")
    kit.add_json(querier)


def cmd_querier(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from ..querier._routertable import Timers

    timers = Timers(
        robustness=args.robustness,
        query_interval=args.interval,
        query_response_interval=args.response_interval,
    )
    interface = resolve_interface(args.interface)
    result: int = trio.run(_run, args, interface, timers)
    return result


async def _run(args: argparse.Namespace, interface: Any, timers: Any) -> int:
    from contextlib import nullcontext

    import trio

    from ..querier._querier import Action, Querier
    from ..querier._querying import Link, counters, explain, queriers_for, run_queriers

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

        def report(querier: Querier, action: Action) -> None:
            now = time.time()
            news = explain(querier, action, trio.current_time())
            if args.json:
                line = {"time": round(now, 6), "protocol": news.protocol, "event": news.kind}
                kit.json_line(line | {"text": news.text, **news.detail})
                return
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            print(f"{stamp} {news.protocol} {news.kind}: {news.text}", flush=True)

        def say_counters() -> None:
            kit.say_counters(counters(link, queriers).to_json(), args.json)

        scope = trio.move_on_after(args.duration) if args.duration else nullcontext()
        with scope:
            await kit.reporting(lambda: run_queriers(link, queriers, report), say_counters)
    finally:
        link.close()
    return 0
