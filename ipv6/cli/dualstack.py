"""``ipv6 dualstack``: probe, check and serve dual-stack behaviour."""

from __future__ import annotations

import argparse
import sys

from .._errors import BadInput
from . import kit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    _, commands = kit.group(groups, "dualstack", "dual-stack sockets: probe, check, serve")
    probe = kit.subcommand(
        commands,
        "probe",
        cmd_probe,
        "what connects to what: listener kinds x client families x TCP/UDP x bindv6only",
        description="Run every listener kind (dual-stack, v6-only, v4-only, system default) "
        "against every client (IPv4, IPv6, v4-mapped) over TCP and UDP on loopback, and print "
        "what connects and how each side sees the other. As root both values of "
        "net.ipv6.bindv6only are tried, each in a namespace of its own (this host's setting "
        "is never changed); otherwise only this host's value.",
    )
    kit.add_json(probe)
    check = kit.subcommand(
        commands,
        "check",
        cmd_check,
        "test a service over IPv4, over IPv6, and in a Happy Eyeballs race",
    )
    check.add_argument(
        "host", metavar="HOST", help="a name, an address, or addresses joined by commas"
    )
    check.add_argument("port", metavar="PORT", type=kit.port)
    check.add_argument(
        "--delay", type=float, default=0.25, help="attempt delay, seconds (RFC 8305)"
    )
    check.add_argument("--timeout", type=float, default=5.0)
    kit.add_json(check)
    serve = kit.subcommand(
        commands,
        "serve",
        cmd_serve,
        "a dual-stack TCP and UDP echo service that tells each peer how it was seen",
    )
    serve.add_argument("port", metavar="PORT", type=kit.port)
    serve.add_argument("--duration", type=float, help="stop after this many seconds")
    serve.add_argument(
        "--max-connections",
        type=kit.integer(1, 1_000_000, "a connection limit"),
        default=1000,
        metavar="N",
        help="concurrent TCP connections at most; past it a new one gets a busy line and is "
        "closed (default 1000, fewer if the file descriptor limit says so)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        metavar="SEC",
        help="close a TCP connection that sends nothing, or takes nothing, for this long "
        "(default 60)",
    )
    kit.add_json(serve)


def cmd_probe(args: argparse.Namespace) -> int:
    import trio

    from ..dualstack._dualreport import probe_everywhere
    from ..dualstack._dualstack import display

    probe = trio.run(probe_everywhere)
    if not probe.both_settings:
        print(
            "ipv6 dualstack probe: not root: only this host's bindv6only is tried", file=sys.stderr
        )
    if args.json:
        kit.print_json(probe)
        return 0
    if probe.paths is not None:
        print(paths_line(probe.paths))
    table = [
        (
            r.bindv6only,
            r.protocol,
            r.listener,
            r.client,
            "yes" if r.reached else f"no ({r.error})",
            f"{display(r.server_saw)} ({r.server_saw})" if r.server_saw else "-",
            f"{display(r.client_saw)} ({r.client_saw})" if r.client_saw else "-",
        )
        for r in probe.rows
    ]
    header = ("BINDV6ONLY", "PROTO", "LISTENER", "CLIENT", "CONNECTS", "LISTENER SAW", "CLIENT SAW")
    print(kit.table(table, header))
    return 0


def paths_line(paths: Any) -> str:
    """How this host reaches IPv4 and IPv6, in one line."""
    v4 = {
        "none": "no IPv4 route",
        "clat": f"IPv4 through a CLAT ({paths.ipv4_interface})",
        "native": f"native IPv4 ({paths.ipv4_interface})",
    }[paths.ipv4]
    v6 = f"native IPv6 ({paths.ipv6_interface})" if paths.ipv6 == "native" else "no IPv6 route"
    nat64 = (
        f"NAT64 prefix {paths.nat64_prefix} from {paths.nat64_learnt}"
        if paths.nat64_prefix
        else "no NAT64 prefix from the resolver"
    )
    return f"this host: {v4}; {v6}; {nat64}"


def cmd_check(args: argparse.Namespace) -> int:
    import functools

    import trio

    from ..dualstack._dualreport import check_service

    if not 0 < args.port < 65536:
        raise BadInput(f"port {args.port} is out of range (1 to 65535)")
    check = functools.partial(check_service, delay=args.delay, timeout=args.timeout)
    report = trio.run(check, args.host, args.port)
    if args.json:
        kit.print_json(report)
        return 0 if report.race.winner else 1
    print(paths_line(report.paths))
    for family, item in (("IPv4", report.ipv4), ("IPv6", report.ipv6)):
        if not item.addresses:
            print(f"{family}: no address")
            continue
        for attempt in item.attempts:
            took = f" in {attempt.elapsed_ms:.1f} ms" if attempt.elapsed_ms is not None else ""
            via = report.via.get(attempt.address, "native")
            print(f"{family}: {attempt.address} ({via}) {attempt.outcome}{took}")
    winner = report.race.winner
    print(
        "Happy Eyeballs: "
        + (
            f"{winner.family} {winner.address} won after "
            f"{winner.started_ms + (winner.elapsed_ms or 0):.1f} ms"
            if winner
            else "nothing answered"
        )
    )
    for attempt in report.race.attempts:
        took = f", {attempt.elapsed_ms:.1f} ms" if attempt.elapsed_ms is not None else ""
        started = f"started at {attempt.started_ms:.1f} ms"
        print(f"  {attempt.family} {attempt.address}: {started}, {attempt.outcome}{took}")
    return 0 if winner else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until --duration, SIGTERM or ^C; the counters on SIGUSR1 and at the end."""
    import signal

    import trio

    from ..dualstack._echo import EchoService

    if not 0 < args.port < 65536:
        raise BadInput(f"port {args.port} is out of range (1 to 65535)")

    def report(event: dict[str, Any]) -> None:
        if args.json:
            kit.json_line(event)
        elif event["event"] == "note":
            print(f"note: {event['text']}", file=sys.stderr, flush=True)
        elif event["event"] == "counters":
            print(f"counters: {service.counters.summary()}", file=sys.stderr, flush=True)
        else:
            print(
                f"{event['protocol']} {event['family']} {event['peer']} port {event['peer_port']} "
                f"(socket saw {event['peer_raw']}) reached {event['local']}",
                flush=True,
            )

    service = EchoService(
        args.port, report, max_connections=args.max_connections, idle_timeout=args.idle_timeout
    )

    async def main() -> None:
        wanted = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)
        with trio.open_signal_receiver(*wanted) as signals:
            async with trio.open_nursery() as nursery:
                if args.duration:
                    nursery.cancel_scope.deadline = trio.current_time() + args.duration
                port = await nursery.start(service.serve)
                print(
                    f"dual-stack echo on port {port} (TCP and UDP, IPv4 and IPv6), "
                    f"at most {service.max_connections} connections, "
                    f"idle timeout {service.idle_timeout:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                async for signum in signals:
                    if signum != signal.SIGUSR1:
                        break
                    report({"event": "counters", **service.counters.to_json()})
                nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        report({"event": "counters", **service.counters.to_json()})
    return 0
