"""``mcast ping``: does multicast reach from here to there, as unicast does?"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from ipv6 import counts_text
from ipv6.cli import kit

DESCRIPTION = """\
The multicast ping protocol (RFC 6450), as ssmping, asmping and ssmpingd speak
it. `mcast ping HOST` sends a request a second to the responder on HOST and
joins the group the responder answers to, source-specific on HOST by default
(--asm: any-source); each request brings a unicast and a multicast reply.
It prints each reply (path, sequence, hop distance, round-trip time) and per
path the loss, round-trip times and how long the multicast tree took to form.
`mcast ping --serve` is the responder. `mcast ping --matrix HOST...`, run on
each of the hosts, pings every other one and answers only them; `--lab NAME`
starts that in every host of a running lab and prints the whole matrix.
Exit status: 0 both paths answered, 3 unicast did not (the test says nothing
then), 6 unicast answered and multicast did not (for a matrix: any pair),
2 bad input."""


def register(commands: Any) -> None:
    ping = kit.subcommand(
        commands, "ping", cmd_ping, "multicast ping (RFC 6450): client and responder",
        description=DESCRIPTION,
    )  # fmt: skip
    ping.add_argument("host", nargs="?", metavar="HOST", help="the responder (name or address)")
    ping.add_argument("--serve", action="store_true", help="answer pings (what ssmpingd does)")
    ping.add_argument("--group", "-g", metavar="G", help="the group (default: the protocol's "
                      "SSM group, 232.43.211.234 or ff3e::4321:1234)")  # fmt: skip
    mode = ping.add_mutually_exclusive_group()
    mode.add_argument("--ssm", action="store_true", help="join (HOST, G) (the default)")
    mode.add_argument("--asm", action="store_true", help="join G from any source")
    ping.add_argument(
        "--count",
        "-c",
        type=kit.integer(1, None, "a count"),
        default=5,
        help="requests (default 5)",
    )
    ping.add_argument("--interval", type=float, default=1.0, help="seconds apart (default 1)")
    ping.add_argument(
        "--interface", "-i", metavar="IF", action="append",
        help="the interface to join on; with --serve, an interface to answer on (repeat it)",
    )  # fmt: skip
    ping.add_argument("--matrix", nargs="+", metavar="HOST", help="ping every other HOST and "
                      "answer only them (run it on each; this host is one of them)")  # fmt: skip
    ping.add_argument("--lab", metavar="NAME", help="the matrix across a running lab's hosts")
    ping.add_argument("--duration", type=float, default=5.0, help="matrix: seconds of pings "
                      "(default 5)")  # fmt: skip
    ping.add_argument("--family", type=int, choices=(4, 6), default=4,
                      help="--lab: IPv4 or IPv6 addresses (default 4)")  # fmt: skip
    ping.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    kit.add_json(ping)


def cmd_ping(args: argparse.Namespace) -> int:
    from .._errors import McastBadInput
    from ..membership._groups import parse_group

    modes = [m for m in ("serve", "matrix", "lab") if getattr(args, m)]
    if len(modes) > 1:
        raise McastBadInput(f"--{modes[0]} and --{modes[1]} do not go together")
    if modes and args.host is not None:
        raise McastBadInput(f"--{modes[0]} takes no HOST")
    if args.serve:
        return _serve(args)
    if args.matrix or args.lab:
        if args.duration <= 0 or args.interval <= 0:
            raise McastBadInput("--duration and --interval are more than 0")
        return _matrix(args)
    if args.host is None:
        raise McastBadInput("give the HOST to ping, or --serve to answer pings")
    if args.count < 1 or args.interval < 0:
        raise McastBadInput("--count is at least 1 and --interval is not negative")
    if args.interface and len(args.interface) > 1:
        raise McastBadInput("a ping joins on one interface: give --interface once")
    group = parse_group(args.group) if args.group is not None else None
    interface = args.interface[0] if args.interface else None
    import trio

    report = trio.run(_ping, args, group, interface)
    if args.json:
        kit.json_line({"event": "summary", **kit.jsonable(report)})
    else:
        _print_summary(report)
    if report.exit_status == 6:
        print("multicast did not answer although unicast did", file=sys.stderr)
    elif report.exit_status == 3:
        print(f"no unicast reply from {report.host}: is a responder running there?",
              file=sys.stderr)  # fmt: skip
    return int(report.exit_status)


async def _ping(args: argparse.Namespace, group: Any, interface: str | None) -> Any:
    from ..ping._pingclient import PingReply, multicast_ping, resolve_target

    target = await resolve_target(args.host, group=group, asm=args.asm, interface=interface)
    if not args.quiet and not args.json:
        how = "any-source" if args.asm else f"source-specific ({target.address}, {target.group})"
        print(f"mcast ping {target.address}: {args.count} requests, group {target.group} "
              f"joined {how}", flush=True)  # fmt: skip

    def show(reply: PingReply) -> None:
        if args.quiet:
            return
        if args.json:
            kit.json_line({"event": "reply", **kit.jsonable(reply)})
            return
        dist = "?" if reply.distance is None else reply.distance
        hops = "?" if reply.hops_left is None else reply.hops_left
        duplicate = " (DUP!)" if reply.duplicate else ""
        print(f"{reply.path:>9} from {reply.source}, seq={reply.sequence} ttl={hops} "
              f"dist={dist} time={reply.rtt_ms:.3f} ms{duplicate}", flush=True)  # fmt: skip

    return await multicast_ping(
        target, count=args.count, interval=args.interval, interface=interface, on_reply=show
    )


def _print_summary(report: Any) -> None:
    print(f"--- {report.host} multicast ping statistics ---")
    print(f"{report.sent} requests sent from {report.local}, joined on {report.interface}")
    if report.server_version:
        print(f"responder: {report.server_version}")
    for path in (report.unicast, report.multicast):
        rtt = path.rtt_ms
        line = f"{path.path:>9}: {path.received} received, {path.loss_percent:g} % lost"
        if path.loss_since_first_percent is not None and path.path == "multicast":
            line += f" ({path.loss_since_first_percent:g} % since the first reply)"
        if rtt.min is not None:
            line += f", rtt min/avg/max/mdev {rtt.min}/{rtt.avg}/{rtt.max}/{rtt.mdev} ms"
        if path.distance is not None:
            line += f", distance {path.distance}"
        if path.duplicates:
            line += f", {path.duplicates} duplicates"
        print(line)
    if report.multicast.first_reply_ms is not None:
        print(f"the first multicast reply came {report.multicast.first_reply_ms} ms after "
              "the first request")  # fmt: skip
    if report.ignored:
        ignored = counts_text(report.ignored)
        print(f"not counted: {ignored}")


def _serve(args: argparse.Namespace) -> int:
    import trio

    from ..ping._pingresponder import Responder

    interfaces = None
    if args.interface:
        from ipv6 import resolve_interface

        interfaces = {resolve_interface(name).index for name in args.interface}

    def said(client: str, port: int, group: Any) -> None:
        if args.quiet:
            return
        if args.json:
            line = {"event": "request", "client": client, "port": port, "group": str(group)}
            kit.json_line(line)
        else:
            print(f"request from {client} port {port}: answered by unicast and to {group}",
                  flush=True)  # fmt: skip

    responder = Responder(interfaces=interfaces, on_request=said)

    def say_counters() -> None:
        if args.json:
            kit.json_line({"event": "counters", **kit.jsonable(responder.counters)})
        else:
            print(f"counters: {responder.counters.line()}", file=sys.stderr, flush=True)

    async def main() -> None:
        print(f"mcast ping responder on port {responder.port}, IPv4 and IPv6", file=sys.stderr,
              flush=True)  # fmt: skip
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as stops:
            async with trio.open_nursery() as nursery:

                async def stop() -> None:
                    async for _ in stops:  # a clean end: the counters, then exit 0
                        nursery.cancel_scope.cancel()

                nursery.start_soon(stop)
                await kit.reporting(responder.serve, say_counters)

    trio.run(main)
    return 0


def _matrix(args: argparse.Namespace) -> int:
    import trio

    from ..membership._groups import parse_group
    from ..ping._pingmatrix import (
        MatrixReport,
        PairReport,
        grid_text,
        lab_matrix,
        pair_line,
        resolve_hosts,
        run_agent,
    )

    group = parse_group(args.group) if args.group is not None else None

    def show(pair: PairReport) -> None:
        if args.quiet:
            return
        if args.json:
            kit.json_line({"event": "pair", **kit.jsonable(pair)})
        else:
            print(pair_line(pair), flush=True)

    async def agent() -> MatrixReport:
        from ..ping._pingmatrix import matrix_status

        targets = await resolve_hosts(args.matrix, group=group, asm=args.asm)
        pairs = await run_agent(targets, duration=args.duration, interval=args.interval,
                                on_pair=show)  # fmt: skip
        return MatrixReport(
            hosts=[str(t.address) for t in targets],
            group=str(targets[0].group),
            mode="asm" if args.asm else "ssm",
            pairs=pairs,
            exit_status=matrix_status(pairs, []),
        )

    if args.lab:
        if not args.quiet and not args.json:
            print(f"mcast ping matrix across lab {args.lab}: {args.duration:g} s of pings",
                  file=sys.stderr, flush=True)  # fmt: skip
        report = trio.run(lambda: lab_matrix(
            args.lab, version=args.family, group=group, asm=args.asm,
            duration=args.duration, interval=args.interval,
        ))  # fmt: skip
    else:
        report = trio.run(agent)
    if args.json:
        kit.json_line({"event": "summary", **kit.jsonable(report)})
    else:
        print(grid_text(report))
        for silent in report.silent:
            print(f"no report from {silent}", file=sys.stderr)
    if report.exit_status == 6:
        print("multicast did not reach some pairs that unicast did", file=sys.stderr)
    return int(report.exit_status)
