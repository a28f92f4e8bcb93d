"""``mcast route``: static multicast routes of this network namespace."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from ipv6.cli import kit

DESCRIPTION = """\
Static multicast routes, IPv4 and IPv6: (S,G) with --source, (*,G) without.
A datagram of GROUP arriving on the --in interface is forwarded out of each
--out interface whose TTL threshold its TTL is above (--ttl-threshold,
default 1), its TTL one less. The toolkit's routing daemon of this namespace
forwards them: the first route starts it, the last one's deletion stops it.
Give IF:N to --out for a threshold of one interface.

Three planes: the kernel's multicast routing (the routes live in the kernel
while the daemon holds its routing socket; another routing daemon here, such
as smcroute or pimd, is refused); the userspace plane, where the daemon
reads each datagram off the --in interface and sends its copies itself, for
kernels built without multicast routing (CONFIG_IP_MROUTE,
CONFIG_IPV6_MROUTE); and the eBPF plane, the userspace plane with its routes
between Ethernet interfaces forwarded by a tc program on each --in
interface (bpf_clone_redirect). --plane auto (the default) takes the
kernel's where the kernel has it, else eBPF where the kernel runs tc
programs; 'mcast route status' says which runs, why, and what it dropped."""


def register(commands: Any) -> None:
    _, sub = kit.group(commands, "route", "static multicast routes", DESCRIPTION)
    add = kit.subcommand(sub, "add", cmd_add, "add (or replace) a route")
    _route_arguments(add)
    _plane_argument(add)
    delete = kit.subcommand(sub, "delete", cmd_delete, "delete a route")
    delete.add_argument("group", metavar="GROUP")
    delete.add_argument("--source", "-s", metavar="S")
    delete.add_argument("--in", dest="inbound", required=True, metavar="IF")
    show = kit.subcommand(sub, "show", cmd_show, "the routes, with their plane's counters")
    kit.add_json(show)
    status = kit.subcommand(
        sub, "status", cmd_status, "which plane forwards each IP version's routes, and its drops"
    )
    kit.add_json(status)
    load = kit.subcommand(
        sub, "load", cmd_load, "make a file's routes the routes here, in one transaction",
        description="Each line of FILE is what 'mcast route add' takes (GROUP [--source S] "
        "--in IF --out IF[:TTL]...); # starts a comment. The file's routes replace the "
        "routes here, all at once: a wrong line or a kernel refusal changes nothing.",
    )  # fmt: skip
    load.add_argument("file", metavar="FILE", help="the routes file (-: standard input)")
    _plane_argument(load)


def _plane_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plane", choices=("auto", "kernel", "ebpf", "userspace"), default=None,
        help="where datagrams are forwarded: the kernel's multicast routing, the toolkit's "
        "userspace plane, or that plane with eBPF on the interfaces' tc hooks (default: as the "
        "routes here, else auto: the kernel's where it has it, else eBPF where it runs)",
    )  # fmt: skip


def _route_arguments(parser: argparse.ArgumentParser) -> None:
    """What 'route add' takes, and each line of a routes file."""
    parser.add_argument("group", metavar="GROUP")
    parser.add_argument("--source", "-s", metavar="S", help="only from S: an (S,G) route")
    parser.add_argument("--in", dest="inbound", required=True, metavar="IF")
    parser.add_argument("--out", action="append", required=True, metavar="IF[:TTL]",
                        help="an outbound interface (repeat it)")  # fmt: skip
    parser.add_argument("--ttl-threshold", type=kit.integer(1, 255, "a TTL threshold"),
                        default=1, metavar="N",
                        help="the TTL a datagram needs to go out (default 1)")  # fmt: skip


class _LineParser(argparse.ArgumentParser):
    """A routes file's line: its mistakes are raised, not printed with a usage."""

    def error(self, message: str) -> NoReturn:
        from .._errors import McastBadInput

        raise McastBadInput(message)


def cmd_load(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from .._errors import McastBadInput
    from ..routing._mroutes import check_route
    from ..routing._routing import set_routes

    try:
        if args.file == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with kit.open_file(args.file, "r", encoding="utf-8") as f:
                lines = f.read().splitlines()
    except OSError as exc:
        raise McastBadInput(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise McastBadInput(f"{args.file}: not UTF-8 text (a routes file is)") from None
    line_parser = _LineParser(prog="route", add_help=False)
    _route_arguments(line_parser)
    routes = []
    for number, line in enumerate(lines, 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        try:
            one = line_parser.parse_args(words)
            routes.append(check_route(one.group, one.source, one.inbound, _outbound(one)))
        except McastBadInput as exc:
            raise McastBadInput(f"{args.file} line {number}: {exc}") from None
    set_routes(routes, args.plane)
    print(f"{len(routes)} routes from {args.file}")
    for route in routes:
        print(f"route {route.text()}")
    return 0


def _outbound(args: argparse.Namespace) -> list[tuple[str, int]]:
    from .._errors import McastBadInput

    out = []
    for text in args.out:
        name, _, ttl = text.partition(":")
        try:
            out.append((name, int(ttl) if ttl else args.ttl_threshold))
        except ValueError:
            raise McastBadInput(f"--out {text}: the threshold after ':' is a number") from None
    return out


def cmd_add(args: argparse.Namespace) -> int:
    from ..routing._mroutes import check_route
    from ..routing._routing import add_route

    route = check_route(args.group, args.source, args.inbound, _outbound(args))
    add_route(route, args.plane)
    print(f"route {route.text()}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..routing._mroutes import check_route
    from ..routing._routing import delete_route

    route = check_route(args.group, args.source, args.inbound, [("-", 1)])  # checks the words
    delete_route(route.group, route.source, route.inbound)
    origin = f"({route.source or '*'}, {route.group})"
    print(f"deleted the route of {origin} from {route.inbound}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..routing._routing import show_routes

    rows = show_routes()
    if args.json:
        kit.print_json(rows)
        return 0
    if not rows:
        print("no multicast routes")
        return 0
    table = [
        [r.group, r.source or "*", r.inbound,
         ", ".join(f"{o.interface} ttl>{o.ttl_threshold}" for o in r.outbound),
         "yes" if r.installed else "NO", r.plane or "-", _n(r.packets), _n(r.bytes),
         _n(r.wrong_interface)]
        for r in rows
    ]  # fmt: skip
    print(kit.table(table, ["GROUP", "SOURCE", "IN", "OUT", "INSTALLED", "PLANE", "PACKETS",
                            "BYTES", "WRONG IF"]))  # fmt: skip
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ipv6 import counts_text

    from ..routing._routing import plane_status

    planes = plane_status()
    if args.json:
        kit.print_json(planes)
        return 0
    if not planes:
        print("no multicast routes: no plane runs")
        return 0
    for p in planes:
        print(f"IPv{p.family}: the {p.plane} plane ({p.why})")
        if p.forwarded is not None:
            print(f"  forwarded {p.forwarded} datagrams as {p.copies} copies")
        if p.upcalls is not None:
            print(f"  upcalls {p.upcalls} (datagrams the kernel had no route for)")
        k = p.kernel_plane
        if k is not None:
            on = ", ".join(k["interfaces"]) or "no interface"
            print(
                f"  in the kernel (tc on {on}): {k['forwarded']} forwarded as {k['copies']} "
                f"copies; {k['entries']} entries there, {k['entries_in_userspace']} in Python"
            )
            for name, why in k["refused"].items():
                print(f"  {name}: {why} (its entries are forwarded by Python)")
        print(f"  dropped: {counts_text(p.dropped, 'none')}")
    return 0


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
