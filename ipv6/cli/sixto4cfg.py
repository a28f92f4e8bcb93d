"""``ipv6 6to4cfg``: the seeds' 6to4cfg.exe over Linux, through netsh."""

from __future__ import annotations

import argparse

from . import kit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    cfg = kit.subcommand(
        groups,
        "6to4cfg",
        cmd_6to4cfg,
        "configure 6to4 (RFC 3056) on this host, or write the netsh script that would",
        description="Find this host's global IPv4 address (or take -S), derive its 6to4 site "
        "2002:WWXX:YYZZ::/48, and configure the 6to4 tunnel, its address (subnet 0, the IPv4 "
        "address as interface id), the 2002::/16 route and, with a relay, the default route. "
        "With -r the host becomes the site's gateway: subnet k on its k-th inner interface, "
        "published, forwarded and advertised so hosts there autoconfigure. Everything is one "
        "netsh transaction; -u undoes exactly what was done. With FILE (or con for the "
        "console) the netsh script is written instead of applied. No relay is used unless "
        "named: the anycast relay 192.88.99.1 is deprecated (RFC 7526).",
    )
    cfg.add_argument("-r", dest="router", action="store_true", help="be the site's 6to4 gateway")
    cfg.add_argument("-s", dest="sitelocal", action="store_true", help="with -r: site-locals too")
    cfg.add_argument("-u", dest="undo", action="store_true", help="undo what 6to4cfg did")
    cfg.add_argument("-R", dest="relay", metavar="RELAY", help="a 6to4 relay's name or IPv4")
    cfg.add_argument("-b", dest="best", action="store_true", help="the relay that answers first")
    cfg.add_argument("-S", dest="address", metavar="ADDRESS", help="the IPv4 address to use")
    cfg.add_argument("--lab", action="store_true", help="accept a private (lab) IPv4 address")
    cfg.add_argument(
        "--plane",
        choices=("auto", "kernel", "ebpf", "userspace"),
        default="auto",
        help="the tunnel's data plane (auto: the kernel's sit where it exists, else the eBPF "
        "plane where the kernel has eBPF on tc, else userspace)",
    )
    cfg.add_argument(
        "--mtu",
        type=kit.integer(1280, 65535, "an MTU"),
        default=1280,
        help="the tunnel's MTU (default 1280, as the seeds; larger ones go as IPv4 fragments)",
    )
    cfg.add_argument("file", nargs="?", metavar="FILE", help="write the netsh script here")


def cmd_6to4cfg(args: argparse.Namespace) -> int:
    from ..netsh import _sixto4 as host
    from ..tunnel._sixto4plan import Options, script_text

    if args.undo:
        if args.file:
            host.write_script(host.undo_text(), args.file)
            return 0
        kit.require_tunnel_privilege("undoing 6to4")
        lines = host.undo()
        print(f"6to4 undone ({len(lines)} netsh commands)")
        return 0
    options = Options(
        router=args.router,
        sitelocal=args.sitelocal,
        relay=host.resolve_relay(args.relay, best=args.best) if args.relay else None,
        address=kit.parse_ipv4(args.address, "-S") if args.address else None,
        lab=args.lab,
        plane=args.plane,
        mtu=args.mtu,
    )
    if args.file:
        made = host.make_plan(options)
        host.write_script(script_text(made.script, host.title(options, made)), args.file)
        return 0
    kit.require_tunnel_privilege("configuring 6to4")
    made = host.apply(options)
    print(f"6to4 site {made.site} on tunnel tun6to4, address {made.address}")
    for name, subnet in made.inner:
        print(f"  {name}: {subnet} published and advertised")
    if options.relay is None:
        print("  no relay: only 6to4 sites (2002::/16) are reachable (name one with -R)")
    return 0
