"""``ipv6 dns64``: a DNS64 resolver for labs (RFC 6147), answering from a
zone file and an upstream resolver until stopped."""

from __future__ import annotations

import argparse

from . import kit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    command = kit.subcommand(
        groups,
        "dns64",
        cmd_dns64,
        "a DNS64 resolver for labs: AAAA records made from A records (RFC 6147)",
        description="Answer DNS over UDP and TCP until stopped (Ctrl-C, SIGTERM): names of "
        "the zone file from it, others from the upstream resolver; an AAAA query whose name "
        "has no AAAA records gets them made from its A records in the NAT64 prefix. "
        "ipv4only.arpa is answered locally (RFC 7050 prefix discovery); PTR queries under the "
        "prefix are answered from the IPv4 reverse tree. SIGUSR1 prints the counters.",
    )
    command.add_argument("--prefix", default="64:ff9b::/96", help="the NAT64 prefix (RFC 6052)")
    command.add_argument("--zone", metavar="FILE", help="a zone file (RFC 1035 master format)")
    command.add_argument("--origin", metavar="NAME", help="the zone's origin, if the file has none")
    command.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="ADDR[#PORT]",
        help="a resolver to ask for names outside the zone; repeat for more",
    )
    command.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="ADDR",
        help="an address to answer on (default :: with IPv4 too); repeat for more",
    )
    command.add_argument("--port", type=kit.port, default=53)
    command.add_argument("--timeout", type=float, default=2.0, help="per upstream query, seconds")
    command.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    kit.add_json(command)


def _host_port(text: str, default: int) -> tuple[str, int]:
    host, sep, port = text.partition("#")
    try:
        return host.strip("[]"), int(port) if sep else default
    except ValueError:
        raise kit.UsageError(f"{text!r}: write ADDRESS or ADDRESS#PORT") from None


def cmd_dns64(args: argparse.Namespace) -> int:
    import trio

    from ..translate._dns64server import Dns64Config, serve

    config = Dns64Config(
        prefix=args.prefix,
        listen=[(a, args.port) for a in args.listen] or [("::", args.port)],
        zone_file=args.zone,
        origin=args.origin,
        upstream=[_host_port(u, 53) for u in args.upstream],
        timeout=args.timeout,
    )
    holder: list[Any] = []

    def report() -> None:
        if holder:
            kit.say_counters(holder[0].counters.to_json(), args.json)

    def started(server: Any) -> None:
        holder.append(server)
        where = ", ".join(f"[{h}]:{p}" for h, p in config.listen)
        if args.json:  # one event a line, as every service's --json
            line = {"event": "listening", "on": where, "prefix": config.prefix}
            kit.json_line(line)
        else:
            print(f"dns64: answering on {where} (UDP and TCP), prefix {config.prefix}", flush=True)

    async def main() -> None:
        import signal

        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as stops:
            async with trio.open_nursery() as nursery:

                async def stop_on_signal() -> None:
                    async for _ in stops:
                        nursery.cancel_scope.cancel()

                nursery.start_soon(stop_on_signal)
                with trio.move_on_after(args.duration if args.duration else float("inf")):
                    await kit.reporting(lambda: serve(config, started=started), report)
                nursery.cancel_scope.cancel()

    trio.run(main)
    return 0
