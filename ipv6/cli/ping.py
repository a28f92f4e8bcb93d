"""``ipv6 ping``: ICMPv6 echo with zones, as ping6 prints it."""

from __future__ import annotations

import argparse
import json
import sys

from .._errors import BadInput
from . import kit

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    ping = kit.subcommand(
        groups,
        "ping",
        cmd_ping,
        "send ICMPv6 echo requests, honouring zones (link-local destinations)",
        description="Ping an IPv6 address. A link-local destination needs a zone (%eth0 or "
        "-I eth0) when the host has more than one link; with exactly one, that one is used and "
        "said so. Exits 0 when a reply came back, 1 when none did, 2 on bad input.",
    )
    ping.add_argument("destination", metavar="DEST[%ZONE]")
    ping.add_argument("-c", "--count", type=kit.integer(1, None, "a count"), default=4)
    ping.add_argument("-i", "--interval", type=float, default=1.0, help="seconds between requests")
    ping.add_argument(
        "-W", "--wait", type=float, default=2.0, help="seconds to wait for the last reply"
    )
    ping.add_argument(
        "-s",
        "--size",
        type=kit.integer(0, 65527, "a payload size"),
        default=56,
        help="payload bytes",
    )
    ping.add_argument("-S", "--source", metavar="SOURCE", help="send from this address")
    ping.add_argument(
        "-I", "--interface", metavar="IF", help="the interface (zone) for a scoped destination"
    )
    kit.add_json(ping)


def cmd_ping(args: argparse.Namespace) -> int:
    import trio

    from .._interfaces import resolve_destination

    if args.count < 1 or args.interval < 0 or args.wait < 0 or not 0 <= args.size <= 65000:
        raise BadInput("--count must be at least 1; --interval, --wait and --size not negative")
    destination = resolve_destination(args.destination, args.interface)
    if destination.address.version != 6:
        raise BadInput(f"{destination.address} is IPv4: ipv6 ping sends ICMPv6")
    if destination.note and not args.json:
        print(f"ipv6 ping: {destination.note}", file=sys.stderr)
    code: int = trio.run(_ping, args, destination)
    return code


async def _ping(args: argparse.Namespace, destination: Any) -> int:
    from .._ping import ping

    if not args.json:
        print(f"PING {destination}: {args.size} data bytes", flush=True)

    def show(reply: Any) -> None:
        if not args.json:
            hops = f" hlim={reply.hop_limit}" if reply.hop_limit is not None else ""
            print(
                f"{reply.size} bytes from {reply.source}: icmp_seq={reply.seq}{hops} "
                f"time={reply.rtt_ms:.3f} ms",
                flush=True,
            )

    result = await ping(
        destination,
        count=args.count,
        interval=args.interval,
        wait=args.wait,
        size=args.size,
        source=args.source,
        on_reply=show,
    )
    if args.json:
        print(
            json.dumps(result.to_json() | ({"note": destination.note} if destination.note else {}))
        )
    else:
        print(f"\n--- {destination} ping statistics ---")
        print(
            f"{result.transmitted} packets transmitted, {result.received} received, "
            f"{result.loss_pct:.0f}% packet loss"
        )
        rtt = result.rtt()
        if rtt:
            numbers = "/".join(f"{rtt[key]:.3f}" for key in ("min", "avg", "max", "mdev"))
            print(f"rtt min/avg/max/mdev = {numbers} ms")
    return 0 if result.received else 1
