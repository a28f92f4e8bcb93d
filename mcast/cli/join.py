"""``mcast join``: join a group (any-source or source-specific) and print what arrives."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import Any

from ipv6.cli import kit

EXIT_TIMEOUT = 3
INTERFACE_CHECK = 1.0  # seconds between checks that the joined interface still exists


def register(commands: Any) -> None:
    join = kit.subcommand(
        commands,
        "join",
        cmd_join,
        "join a multicast group and print each datagram that arrives",
        description="Join GROUP on an interface and print each datagram. With --source, join "
        "only those (source, group) channels (source-specific, SSM); with --exclude, join "
        "any-source and block those sources. Exits 0 after --count datagrams, 3 when --timeout "
        "passes first, 2 on bad input.",
    )
    join.add_argument("group", metavar="GROUP", help="an IPv4 or IPv6 multicast address")
    join.add_argument("--port", "-p", type=int, required=True, help="the UDP port to receive on")
    join.add_argument("--interface", "-i", metavar="IF", help="name, index or address")
    join.add_argument(
        "--source", "-s", action="append", default=[], metavar="S",
        help="receive only from this source (repeat for more)",
    )  # fmt: skip
    join.add_argument(
        "--exclude", "-x", action="append", default=[], metavar="S",
        help="receive from every source but this one (repeat for more)",
    )  # fmt: skip
    join.add_argument("--count", "-c", type=int, help="stop after this many datagrams")
    join.add_argument("--timeout", "-t", type=float, help="stop after this many seconds")
    kit.add_json(join)


def cmd_join(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput
    from .._groups import check_channel

    if not 0 < args.port < 65536:
        raise McastBadInput(f"port {args.port} is out of range (1 to 65535)")
    if args.count is not None and args.count < 1:
        raise McastBadInput("--count must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise McastBadInput("--timeout must be more than 0 seconds")
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

    from .._receiver import open_receiver

    async with open_receiver(args.port) as rx:
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
        watched = (lambda: _until_gone(interface),) if interface is not None else ()
        with scope:
            await kit.reporting(
                lambda: _print_each(args, rx, seen), lambda: _say_counters(rx, seen[0]), *watched
            )
        if args.count is not None and seen[0] < args.count:
            print(
                f"mcast join: timeout after {args.timeout} s with {seen[0]} of {args.count} "
                "datagrams",
                file=sys.stderr,
            )
            return EXIT_TIMEOUT
    return 0


async def _print_each(args: argparse.Namespace, rx: Any, seen: list[int]) -> None:
    """Print each datagram until --count, counting them in ``seen[0]``."""
    async for datagram in rx:
        seen[0] += 1
        if args.json:
            print(json.dumps(datagram.to_json()), flush=True)
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


def _say_counters(rx: Any, seen: int) -> None:
    """What arrived and what was lost, one line on stderr."""
    dropped = f", the kernel dropped {rx.dropped}" if rx.dropped else ""
    truncated = f", {rx.truncated} truncated" if rx.truncated else ""
    errors = ", ".join(f"{k} {v}" for k, v in sorted(rx.errors.items()))
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
