"""``mcast join``: join a group (any-source or source-specific) and measure what
arrives, per stream (loss, order, jitter, delay), or print each datagram (--each)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from ipv6 import counts_text
from ipv6.cli import kit

EXIT_TIMEOUT = 3
EXIT_TOO_MUCH_LOSS = 5
INTERFACE_CHECK = 1.0  # seconds between checks that the joined interface still exists
RECEIVE_BUFFER = 16 << 20  # room for a burst of 16,000 small datagrams (about 1 KB each counted)


def register(commands: Any) -> None:
    join = kit.subcommand(
        commands,
        "join",
        cmd_join,
        "join a multicast group and measure the streams that arrive",
        description="Join GROUP on an interface and measure each stream that arrives (per "
        "source, source port and stream id): received, lost, duplicates, reordered, jitter, "
        "one-way delay and the time from the join to the first datagram, from the toolkit's "
        "test header or iperf2's (see docs/multicast.md, 'Test streams'). --each prints each "
        "datagram instead. With --source, join only those (source, group) channels "
        "(source-specific, SSM); with --exclude, join any-source and block those sources. "
        "Exits 0 after --count datagrams or at the end, 3 when --timeout passes before "
        "--count, 5 when a stream lost more than --max-loss, 2 on bad input.",
    )
    join.add_argument("group", metavar="GROUP", help="an IPv4 or IPv6 multicast address")
    join.add_argument(
        "--port", "-p", type=kit.port, required=True, help="the UDP port to receive on"
    )
    join.add_argument("--interface", "-i", metavar="IF", help="name, index or address")
    join.add_argument(
        "--source", "-s", action="append", default=[], metavar="S",
        help="receive only from this source (repeat for more)",
    )  # fmt: skip
    join.add_argument(
        "--exclude", "-x", action="append", default=[], metavar="S",
        help="receive from every source but this one (repeat for more)",
    )  # fmt: skip
    join.add_argument(
        "--count", "-c", type=kit.integer(1, None, "a count"), help="stop after this many datagrams"
    )
    join.add_argument("--timeout", "-t", type=float, help="stop after this many seconds")
    join.add_argument("--each", action="store_true", help="print each datagram, not streams")
    join.add_argument(
        "--format", default="auto", metavar="F",
        help="the test header to read: auto (the toolkit's, else iperf2's), toolkit, iperf2, "
        "none (count and time arrivals only)",
    )  # fmt: skip
    join.add_argument(
        "--report-interval", type=float, metavar="SEC", help="a line per stream every SEC seconds"
    )
    join.add_argument(
        "--rcvbuf", type=kit.size, default=RECEIVE_BUFFER, metavar="SIZE",
        help="the socket's receive buffer, room for bursts (default 16M; past "
        "net.core.rmem_max as root, else up to it)",
    )  # fmt: skip
    join.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    join.add_argument(
        "--max-loss", type=float, metavar="PCT",
        help="exit 5 when any stream lost more than PCT percent",
    )  # fmt: skip
    kit.add_json(join)


def cmd_join(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput
    from ..membership._groups import check_channel
    from ..streams._streamheader import FORMATS

    if not 0 < args.port < 65536:
        raise McastBadInput(f"port {args.port} is out of range (1 to 65535)")
    if args.count is not None and args.count < 1:
        raise McastBadInput("--count must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise McastBadInput("--timeout must be more than 0 seconds")
    if args.format not in FORMATS:
        raise McastBadInput(f"--format: {args.format!r} is not one of {', '.join(FORMATS)}")
    if args.report_interval is not None and args.report_interval <= 0:
        raise McastBadInput("--report-interval must be more than 0 seconds")
    if args.max_loss is not None and not 0 <= args.max_loss <= 100:
        raise McastBadInput("--max-loss is a percentage, 0 to 100")
    channel = check_channel(
        args.group, args.source, args.exclude, has_interface=args.interface is not None
    )
    interface = resolve_interface(args.interface) if args.interface is not None else None
    for warning in channel.warnings:
        print(f"mcast join: warning: {warning}", file=sys.stderr)
    result: int = trio.run(_receive, args, channel, interface)
    return result


async def _receive(args: argparse.Namespace, channel: Any, interface: Any) -> int:
    import trio

    from ..streams._receiver import open_receiver

    measure = None if args.each else args.format
    async with open_receiver(args.port, measure=measure, rcvbuf=args.rcvbuf) as rx:
        if channel.sources:
            for source in channel.sources:
                rx.join(channel.group, interface, source=source)
            how = "source-specific from " + ", ".join(str(s) for s in channel.sources)
        else:
            rx.join(channel.group, interface)
            for source in channel.excluded:
                rx.block(channel.group, source, interface)
            blocked = ", ".join(str(s) for s in channel.excluded)
            how = "any-source" + (f", blocking {blocked}" if blocked else "")
        where = f"on {interface}" if interface else "on the interface the kernel picks"
        print(f"joined {channel.group} {where}, {how}; port {rx.port}", file=sys.stderr, flush=True)
        seen = [0]
        scope = trio.move_on_after(args.timeout) if args.timeout else nullcontext()
        watched: tuple[Callable[[], Awaitable[None]], ...] = ()
        if interface is not None:
            watched += (lambda: _until_gone(interface),)
        if args.report_interval and not args.each and not args.quiet:
            watched += (lambda: _report_every(args, rx),)
        work = _print_each if args.each else _count_each
        try:
            with scope:
                await kit.reporting(
                    lambda: work(args, rx, seen), lambda: _say_counters(rx, seen[0]), *watched
                )
        finally:
            if rx.streams is not None:
                _summary(args, rx)
        if args.count is not None and seen[0] < args.count:
            print(
                f"mcast join: timeout after {args.timeout} s with {seen[0]} of {args.count} "
                "datagrams",
                file=sys.stderr,
            )
            return EXIT_TIMEOUT
        if args.max_loss is not None and rx.streams is not None:
            worst = max((_loss_percent(r) for r in rx.streams.reports()), default=0.0)
            if worst > args.max_loss:
                print(
                    f"mcast join: a stream lost {worst:.3g} %, more than --max-loss "
                    f"{args.max_loss:g} %",
                    file=sys.stderr,
                )
                return EXIT_TOO_MUCH_LOSS
    return 0


async def _count_each(args: argparse.Namespace, rx: Any, seen: list[int]) -> None:
    """Take datagrams in batches (the receiver measures them) until --count."""
    while True:
        batch = await rx.receive_batch()
        seen[0] += len(batch)
        if args.count is not None and seen[0] >= args.count:
            return


async def _report_every(args: argparse.Namespace, rx: Any) -> None:
    import time

    import trio

    while True:
        await trio.sleep(args.report_interval)
        reports = rx.streams.reports()
        if args.json:
            line = {"event": "interval", "time": round(time.time(), 6), "streams": reports}
            kit.json_line(line)
            continue
        for r in reports:
            print(f"{_stream_name(r)}: {_stream_text(r)}", flush=True)


def _summary(args: argparse.Namespace, rx: Any) -> None:
    reports = rx.streams.reports()
    if args.json:
        lost = sum(r.lost for r in reports)
        summary = {
            "event": "summary",
            "streams": reports,
            "kernel_drops": rx.dropped,
            # What the gaps in the streams' numbers leave once this host's own drops are
            # taken out: what the network lost, at least (a drop of an untracked datagram
            # is in kernel_drops too).
            "network_lost_at_least": max(0, lost - rx.dropped),
            "receive_buffer": rx.receive_buffer,
            "untracked": rx.streams.untracked,
        }
        kit.json_line(summary)
        return
    if not reports:
        print("no stream arrived", flush=True)
        return
    rows = [
        (
            _stream_name(r),
            r.received,
            r.lost,
            f"{_loss_percent(r):.3g} %",
            r.duplicates,
            r.reordered,
            f"{r.jitter_ms:.3f}",
            _delay_text(r),
            "-" if r.first_after_join_ms is None else f"{r.first_after_join_ms:.1f}",
        )
        for r in reports
    ]
    header = (
        "STREAM", "RECEIVED", "LOST", "LOSS", "DUP", "REORDERED", "JITTER MS",
        "DELAY MS MIN/AVG/MAX/P99", "FIRST MS",
    )  # fmt: skip
    print(kit.table(rows, header), flush=True)
    lost = sum(r.lost for r in reports)
    if lost and rx.dropped:
        print(f"of the {lost} lost, this host's kernel dropped {min(lost, rx.dropped)} (the "
              f"socket's queue was full: receive buffer {_mib(rx.receive_buffer)}, --rcvbuf); "
              f"the network lost the rest", flush=True)  # fmt: skip
    if any(r.delay_relative for r in reports):
        print("(delay is relative: the sender's clock is not this host's)", flush=True)


def _stream_name(r: Any) -> str:
    stream = f" #{r.stream}" if r.format == "toolkit" else ""
    return f"{r.source}:{r.source_port} -> {r.group}{stream}"


def _stream_text(r: Any) -> str:
    return (
        f"received {r.received}, lost {r.lost}, duplicates {r.duplicates}, "
        f"reordered {r.reordered}, jitter {r.jitter_ms:.3f} ms, delay {_delay_text(r)} ms"
    )


def _delay_text(r: Any) -> str:
    d = r.delay_ms
    if d.min is None:
        return "-"
    return f"{d.min:.3f}/{d.avg:.3f}/{d.max:.3f}/{d.p99:.3f}"


def _loss_percent(r: Any) -> float:
    total = r.received + r.lost
    return 100.0 * r.lost / total if total else 0.0


async def _print_each(args: argparse.Namespace, rx: Any, seen: list[int]) -> None:
    """Print each datagram until --count, counting them in ``seen[0]``."""
    async for datagram in rx:
        seen[0] += 1
        if args.json:
            kit.json_line(datagram.to_json())
        else:
            ttl = f" ttl {datagram.ttl}" if datagram.ttl is not None else ""
            print(
                f"{datagram.group} from {datagram.source}:{datagram.source_port} "
                f"on {datagram.interface}{ttl}: {len(datagram.payload)} bytes"
                + (" (truncated)" if datagram.truncated else ""),
                flush=True,
            )
        if args.count is not None and seen[0] >= args.count:
            break


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / (1 << 20):.3g} MiB as the kernel counts it"


def _say_counters(rx: Any, seen: int) -> None:
    """What arrived and what was lost, one line on stderr."""
    dropped = (
        f", the kernel dropped {rx.dropped} (its queue full; receive buffer "
        f"{_mib(rx.receive_buffer)})" if rx.dropped else ""
    )  # fmt: skip
    truncated = f", {rx.truncated} truncated" if rx.truncated else ""
    errors = counts_text(rx.errors)
    failed = f", receive errors: {errors}" if errors else ""
    print(f"received {seen} datagrams{dropped}{truncated}{failed}", file=sys.stderr, flush=True)


async def _until_gone(interface: Any) -> None:
    """Return never; raise when the interface is deleted (its memberships went with it)."""
    import trio

    from ipv6 import interface_present

    from .._errors import McastError

    while interface_present(interface):
        await trio.sleep(INTERFACE_CHECK)
    raise McastError(f"interface {interface.name} is gone (and its memberships with it)")
