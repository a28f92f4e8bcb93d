"""``mcast send``: send datagrams to a group."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ipv6.cli import kit


def register(commands: Any) -> None:
    send = kit.subcommand(
        commands,
        "send",
        cmd_send,
        "send datagrams to a multicast group",
        description="Send --count datagrams to GROUP:PORT, --interval seconds apart, out of "
        "the chosen interface. Each datagram carries the toolkit's test header (stream id, "
        "sequence number, send time; docs/multicast.md, 'Test streams'), or iperf2's with "
        "--format iperf2, so that mcast join and iperf2 can measure the stream; --payload "
        "sends text instead.",
    )
    send.add_argument("group", metavar="GROUP", help="an IPv4 or IPv6 multicast address")
    send.add_argument("--port", "-p", type=kit.port, required=True)
    send.add_argument("--interface", "-i", metavar="IF", help="name, index or address")
    send.add_argument(
        "--ttl", type=kit.integer(0, 255, "a TTL"), default=1, help="TTL or hop limit (default 1)"
    )
    send.add_argument(
        "--count", "-c", type=kit.integer(0, None, "a count"),
        help="datagrams to send (0: until stopped; default 1, or none with --duration)",
    )  # fmt: skip
    send.add_argument("--duration", type=float, metavar="SEC", help="send for this long")
    pace = send.add_mutually_exclusive_group()
    pace.add_argument("--interval", type=float, help="seconds between datagrams (default 1)")
    pace.add_argument("--rate", metavar="PPS", help="datagrams a second, k/M/G (0: unpaced)")
    pace.add_argument("--bitrate", metavar="BPS", help="payload bits a second, k/M/G")
    send.add_argument(
        "--burst",
        type=kit.integer(1, 10000, "a burst"),
        default=1,
        metavar="N",
        help="datagrams back to back per tick",
    )
    body = send.add_mutually_exclusive_group()
    body.add_argument(
        "--size",
        type=kit.integer(0, 65507, "a payload size"),
        help="payload size in bytes (at least the header's)",
    )
    body.add_argument("--payload", help="payload text (no test header)")
    send.add_argument(
        "--format", default="toolkit", choices=("toolkit", "iperf2"),
        help="the test header (default: the toolkit's)",
    )  # fmt: skip
    send.add_argument(
        "--stream",
        type=kit.integer(0, 0xFFFFFFFF, "a stream id"),
        default=0,
        help="the stream id (toolkit header)",
    )
    send.add_argument("--no-loop", action="store_true", help="do not loop back to this host")
    send.add_argument("--source", metavar="ADDR", help="send from this local address")
    send.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    kit.add_json(send)


def cmd_send(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput
    from ..membership._groups import parse_address, parse_group
    from ..streams._pacing import parse_rate
    from ..streams._streamheader import IPERF2_SIZE, TOOLKIT_SIZE

    group = parse_group(args.group)
    if not 0 < args.port < 65536:
        raise McastBadInput(f"port {args.port} is out of range (1 to 65535)")
    if (args.count or 0) < 0 or (args.interval or 0) < 0:
        raise McastBadInput("--count and --interval cannot be negative")
    if args.duration is not None and args.duration <= 0:
        raise McastBadInput("--duration must be more than 0 seconds")
    if args.burst < 1:
        raise McastBadInput("--burst is at least 1")
    smallest = IPERF2_SIZE if args.format == "iperf2" else TOOLKIT_SIZE
    if args.size is not None and not smallest <= args.size <= 65507:
        raise McastBadInput(
            f"--size {args.size} is out of range ({smallest}, the {args.format} header, to 65507)"
        )
    if not 0 <= args.stream <= 0xFFFFFFFF:
        raise McastBadInput("--stream is 0 to 4294967295")
    size = args.size or smallest
    try:
        if args.rate is not None:
            rate = parse_rate(args.rate)
        elif args.bitrate is not None:
            rate = parse_rate(args.bitrate) / (8 * size)
        else:
            interval = 1.0 if args.interval is None else args.interval
            rate = 1 / interval if interval > 0 else 0.0
    except ValueError as exc:
        raise McastBadInput(f"--rate/--bitrate: {exc}") from None
    count = args.count if args.count is not None else (None if args.duration else 1)
    source = parse_address(args.source, "source") if args.source else None
    interface = resolve_interface(args.interface) if args.interface is not None else None
    if args.payload is not None:
        sent: int = trio.run(_send_text, args, group, interface, source)
        print(f"sent {sent} text datagrams to {group} port {args.port}", file=sys.stderr)
        return 0
    report = trio.run(_send_stream, args, group, interface, source, (size, count or None, rate))
    where = f" on {interface}" if interface else ""
    errors = ", ".join(f"{k} {v}" for k, v in report.errors.items())
    short = (
        f"; {report.shortfall_percent:g} % below the {report.target_pps:g}/s asked for"
        if report.shortfall_percent
        else ""
    )
    print(
        f"sent {report.sent} datagrams of {size} bytes to {group} port {args.port}{where} in "
        f"{report.seconds:.3f} s: {report.rate_pps:,.0f}/s, {report.bitrate_bps / 1e6:,.3f} Mbit/s"
        + short
        + (f"; refused: {errors}" if errors else ""),
        file=sys.stderr,
    )
    if args.json:
        kit.print_json(report)
    return 0


async def _send_stream(
    args: argparse.Namespace, group: Any, interface: Any, source: Any, plan: tuple[int, Any, float]
) -> Any:
    from ..streams._sender import open_sender
    from ..streams._streaming import send_stream

    size, count, rate = plan
    live = kit.LiveLine(enabled=not (args.quiet or args.json))
    few = count is not None and count <= 20

    def show(sent: int) -> None:
        if args.quiet:
            return
        if few:
            print(f"sent #{sent} to {group} port {args.port}", flush=True)
            return
        seconds = live.elapsed()
        line = f"sent {kit.amount(sent, 'datagrams', count, seconds)}"
        if args.duration:
            line += f", {seconds:.1f} of {args.duration:g} s"
        live.show(line + f" to {group} port {args.port}")

    with open_sender(
        group, interface=interface, ttl=args.ttl, loop=not args.no_loop, source=source
    ) as tx:
        report = await send_stream(
            tx,
            str(group),
            args.port,
            size=size,
            count=count,
            duration=args.duration,
            rate=rate,
            burst=args.burst,
            format=args.format,
            stream=args.stream,
            progress=show,
        )
    live.close()
    return report


async def _send_text(args: argparse.Namespace, group: Any, interface: Any, source: Any) -> int:
    """--payload: text datagrams, each starting with its sequence number."""
    import trio

    from ..streams._sender import open_sender

    count = args.count if args.count is not None else 1
    interval = 1.0 if args.interval is None else args.interval
    sent = 0
    with open_sender(
        group, interface=interface, ttl=args.ttl, loop=not args.no_loop, source=source
    ) as tx:
        while count == 0 or sent < count:
            await tx.send(f"mcast {sent} {args.payload}".encode(), group, args.port)
            sent += 1
            if count == 0 or sent < count:
                await trio.sleep(interval)
    return sent
