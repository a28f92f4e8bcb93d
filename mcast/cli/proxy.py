"""``mcast proxy``: an IGMP/MLD proxy (RFC 4605) between one upstream and some downstream links."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ipv6.cli import kit

DESCRIPTION = """\
Forward multicast from an upstream link to downstream links that ask for it
(RFC 4605). On each --downstream link the proxy is the IGMP querier (if the
interface has IPv4) and MLD querier (if it has a link-local address) and
keeps the membership table, sources included. Upstream it joins, as a host,
every group some downstream member wants, with the source filter their
memberships merge to (an EXCLUDE member and an INCLUDE member of one group
merge to EXCLUDE). A datagram from S goes down only to the links whose
members want S, and from a downstream link also goes up. The entry goes when
the last member does. Forwards on the kernel's multicast routing where the
kernel has it (holding the namespace's routing sockets), else on the
toolkit's userspace plane, its flows between Ethernet interfaces carried by
eBPF on the interfaces' tc hooks where the kernel runs them (--plane); either
way another routing daemon (mcast route's, smcroute, pimd, igmpproxy) here is
refused. Needs CAP_NET_ADMIN and CAP_NET_RAW. Runs until interrupted or
--duration passes; SIGUSR1 prints the counters."""


def register(commands: Any) -> None:
    proxy = kit.subcommand(commands, "proxy", cmd_proxy,
                           "an IGMP/MLD proxy: querier downstream, host upstream, forwarding "
                           "between", description=DESCRIPTION)  # fmt: skip
    proxy.add_argument("--upstream", "-u", metavar="IF", required=True)
    proxy.add_argument("--downstream", "-d", metavar="IF", action="append", required=True,
                       help="a downstream interface (repeat it)")  # fmt: skip
    proxy.add_argument("--igmp-version", type=int, choices=(0, 2, 3), default=3,
                       help="the downstream IGMP querier's version (0: no IGMP)")  # fmt: skip
    proxy.add_argument("--mld-version", type=int, choices=(0, 1, 2), default=2,
                       help="the downstream MLD querier's version (0: no MLD)")  # fmt: skip
    proxy.add_argument("--interval", type=float, default=125.0, help="query interval, seconds")
    proxy.add_argument("--response-interval", type=float, default=10.0,
                       help="max response time, seconds")  # fmt: skip
    proxy.add_argument("--duration", type=float, help="stop after this many seconds")
    proxy.add_argument(
        "--plane", choices=("auto", "kernel", "ebpf", "userspace"), default="auto",
        help="where datagrams are forwarded: the kernel's multicast routing, the toolkit's "
        "userspace plane, or that plane with eBPF on the interfaces' tc hooks (auto, the "
        "default: the kernel's where it has it, else eBPF where it runs)",
    )  # fmt: skip
    kit.add_json(proxy)


def cmd_proxy(args: argparse.Namespace) -> int:
    import trio

    from ..querier._routertable import Timers
    from ..routing._proxy import ProxyConfig, check_config
    from ..routing._routing import need_privilege

    config = ProxyConfig(
        args.upstream,
        tuple(args.downstream),
        args.igmp_version or None,
        args.mld_version or None,
        Timers(query_interval=args.interval, query_response_interval=args.response_interval),
        args.plane,
    )
    check_config(config)
    need_privilege("an IGMP/MLD proxy")
    result: int = trio.run(_run, args, config)
    return result


async def _run(args: argparse.Namespace, config: Any) -> int:
    from contextlib import nullcontext

    import trio

    from ..routing._proxy import Happening, Proxy, run_proxy

    held: list[Proxy] = []

    def report(news: Happening) -> None:
        now = time.time()
        if args.json:
            line = {"time": round(now, 6), "event": news.kind, "text": news.text}
            kit.json_line(line | news.detail)
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        print(f"{stamp} {news.kind}: {news.text}", flush=True)

    def started(proxy: Proxy) -> None:
        held.append(proxy)
        queriers = "; ".join(
            f"{name}: " + ", ".join(f"{q.config.protocol.upper()} querier from "
                                    f"{q.config.address}" for q in found)
            for name, found in proxy.queriers.items()
        )  # fmt: skip
        planes = ", ".join(f"IPv{f} on the {p.name} plane" for f, p in sorted(proxy.planes.items()))
        print(f"proxy: upstream {config.upstream}; downstream {queriers}; forwarding {planes}",
              file=sys.stderr, flush=True)  # fmt: skip

    def say_counters() -> None:
        if held:
            kit.say_counters(held[0].counters(), args.json)

    scope = trio.move_on_after(args.duration) if args.duration else nullcontext()
    with scope:
        await kit.reporting(lambda: run_proxy(config, report, started), say_counters)
    return 0
