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
    send.add_argument("--port", "-p", type=int, required=True)
    send.add_argument("--interface", "-i", metavar="IF", help="name, index or address")
    send.add_argument("--ttl", type=int, default=1, help="TTL or hop limit (default 1)")
    send.add_argument(
        "--count", "-c", type=int, default=1, help="datagrams to send (0: until stopped)"
    )
    send.add_argument("--interval", type=float, default=1.0, help="seconds between datagrams")
    body = send.add_mutually_exclusive_group()
    body.add_argument("--size", type=int, help="payload size in bytes (at least the header's)")
    body.add_argument("--payload", help="payload text (no test header)")
    send.add_argument(
        "--format", default="toolkit", choices=("toolkit", "iperf2"),
        help="the test header (default: the toolkit's)",
    )  # fmt: skip
    send.add_argument("--stream", type=int, default=0, help="the stream id (toolkit header)")
    send.add_argument("--no-loop", action="store_true", help="do not loop back to this host")
    send.add_argument("--source", metavar="ADDR", help="send from this local address")
    send.add_argument("--quiet", "-q", action="store_true", help="print only the summary")


def cmd_send(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput
    from .._groups import parse_address, parse_group
    from .._streamheader import IPERF2_SIZE, TOOLKIT_SIZE

    group = parse_group(args.group)
    if not 0 < args.port < 65536:
        raise McastBadInput(f"port {args.port} is out of range (1 to 65535)")
    if args.count < 0 or args.interval < 0:
        raise McastBadInput("--count and --interval cannot be negative")
    smallest = IPERF2_SIZE if args.format == "iperf2" else TOOLKIT_SIZE
    if args.size is not None and not smallest <= args.size <= 65507:
        raise McastBadInput(
            f"--size {args.size} is out of range ({smallest}, the {args.format} header, to 65507)"
        )
    if not 0 <= args.stream <= 0xFFFFFFFF:
        raise McastBadInput("--stream is 0 to 4294967295")
    source = parse_address(args.source, "source") if args.source else None
    interface = resolve_interface(args.interface) if args.interface is not None else None
    sent: int = trio.run(_send, args, group, interface, source)
    size = len(_payload(args, 0))
    where = f" on {interface}" if interface else ""
    print(
        f"sent {sent} datagrams of {size} bytes to {group} port {args.port}{where}", file=sys.stderr
    )
    return 0


def _payload(args: argparse.Namespace, seq: int) -> bytes:
    import time

    from .._streamheader import IPERF2_SIZE, TOOLKIT_SIZE, encode_iperf2, encode_toolkit

    if args.payload is not None:
        return f"mcast {seq} ".encode() + str(args.payload).encode()
    if args.format == "iperf2":
        return encode_iperf2(seq, time.time_ns(), args.size or IPERF2_SIZE)
    return encode_toolkit(args.stream, seq, time.time_ns(), args.size or TOOLKIT_SIZE)


async def _send(args: argparse.Namespace, group: Any, interface: Any, source: Any) -> int:
    import trio

    from .._sender import open_sender

    progress = kit.Progress(verbose=False)
    sent = 0
    with open_sender(
        group, interface=interface, ttl=args.ttl, loop=not args.no_loop, source=source
    ) as tx:
        while args.count == 0 or sent < args.count:
            await tx.send(_payload(args, sent), group, args.port)
            sent += 1
            if not args.quiet:
                if args.count and args.count <= 20:
                    print(f"sent #{sent} to {group} port {args.port}", flush=True)
                else:
                    progress(sent, args.count or sent, f"sent to {group} port {args.port}")
            if args.count == 0 or sent < args.count:
                await trio.sleep(args.interval)
    progress.done()
    return sent
