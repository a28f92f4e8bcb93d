"""``ipv6 nat64``: IPv4/IPv6 translators, stateful NAT64 (RFC 6146) or stateless
SIIT (RFC 7915), on the userspace or the eBPF plane, and their sessions and counters."""

from __future__ import annotations

import argparse

from . import kit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    _, commands = kit.group(
        groups,
        "nat64",
        "IPv4/IPv6 translators (NAT64, SIIT): add, delete, status",
        description="A translator between IPv6 and IPv4 on a TUN device, as tayga runs: the "
        "kernel routes the NAT64 prefix and the IPv4 pool into it. On the eBPF plane a "
        "kernel program translates the flows the service has translated before. "
        "Stateful NAT64 (RFC 6146) maps IPv6 hosts to the pool's addresses and ports; "
        "--stateless translates addresses one to one (RFC 7915, RFC 6052, RFC 7757 pairs).",
    )
    add = kit.subcommand(
        commands,
        "add",
        cmd_add,
        "start a translator",
        description="Start a translator on a new TUN device NAME. Refused, with nothing "
        "started, when the prefix is one RFC 6052 forbids or the pool overlaps a subnet of "
        "this host.",
    )
    add.add_argument("name", metavar="NAME", help="the device name (nat64, say)")
    add.add_argument(
        "--prefix",
        default="64:ff9b::/96",
        help="the NAT64 prefix, /32 /40 /48 /56 /64 or /96 (default 64:ff9b::/96, which "
        "carries only global IPv4; labs use 64:ff9b:1::/96, RFC 8215)",
    )
    add.add_argument("--pool", metavar="IPV4NET", help="the IPv4 addresses of the IPv6 hosts")
    add.add_argument(
        "--stateless",
        action="store_true",
        help="SIIT: one IPv4 address per IPv6 address, no sessions",
    )
    add.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="IPV4=IPV6",
        help="stateless: an explicit address pair (RFC 7757); repeat for more",
    )
    add.add_argument(
        "--ipv4-address", help="the source of its own ICMP errors (default: pool's first)"
    )
    add.add_argument(
        "--ipv6-address",
        help="the source of its own ICMPv6 errors (default: its IPv4 in the prefix)",
    )
    add.add_argument(
        "--mtu",
        type=kit.integer(1280, 65535, "an MTU"),
        default=1500,
        help="the device's MTU (default 1500)",
    )
    add.add_argument(
        "--ipv6-mtu",
        type=kit.integer(1280, 65535, "an MTU"),
        default=1280,
        help="the lowest IPv6 MTU: IPv4 packets without DF are fragmented to it (default 1280)",
    )
    add.add_argument(
        "--filtering",
        choices=("endpoint-independent", "address-dependent"),
        default="endpoint-independent",
        help="which IPv4 remotes a binding accepts (RFC 6146 3.5.2)",
    )
    add.add_argument("--max-sessions", type=kit.integer(1, None, "a session limit"), default=65536)
    add.add_argument("--udp-timeout", type=float, default=300.0, metavar="S")
    add.add_argument("--tcp-timeout", type=float, default=7440.0, metavar="S", help="established")
    add.add_argument("--tcp-trans-timeout", type=float, default=240.0, metavar="S")
    add.add_argument("--icmp-timeout", type=float, default=60.0, metavar="S")
    add.add_argument(
        "--icmp-errors",
        type=float,
        default=100.0,
        metavar="N",
        help="its own ICMP errors (for packets it will not translate, RFC 7915 4.4 and 5.4) "
        "a second, at most; 0 sends none (default 100)",
    )
    add.add_argument(
        "--icmp-pool",
        metavar="IPV4NET",
        help="RFC 6791: IPv4 sources for ICMPv6 errors from routers with no IPv4 form, "
        "picked at random (default: its own IPv4 address)",
    )
    add.add_argument(
        "--strict-protocols",
        action="store_true",
        help="refuse ICMPv6 in IPv4, ICMP in IPv6 and IPv6 extension header numbers in "
        "IPv4, which RFC 7915 would copy across",
    )
    add_plane(add)
    kit.add_json(add)

    delete = kit.subcommand(commands, "delete", cmd_delete, "stop a translator, remove its device")
    delete.add_argument("name", metavar="NAME")

    status = kit.subcommand(
        commands,
        "status",
        cmd_status,
        "each translator's counters, drops by reason and sessions",
    )
    status.add_argument("name", metavar="NAME", nargs="?")
    status.add_argument(
        "--sessions",
        type=kit.integer(0, None, "a count"),
        default=20,
        metavar="N",
        help="sessions to list (default 20)",
    )
    kit.add_json(status)


def add_plane(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plane",
        choices=("auto", "ebpf", "userspace"),
        default="auto",
        help="where packets are translated: ebpf translates remembered TCP and UDP flows in "
        "the kernel (a tc program) and the rest in the service; userspace all in the "
        "service; auto (default) ebpf where the program loads, else userspace "
        "(`ipv6 nat64 status` says which runs, and why)",
    )


def cmd_add(args: argparse.Namespace) -> int:
    from ..translate import TranslatorSpec, add_translator

    pairs = {}
    for item in args.map:
        v4, sep, v6 = item.partition("=")
        if not sep:
            raise kit.UsageError(f"--map {item!r}: write IPV4=IPV6")
        pairs[v4.strip()] = v6.strip()
    spec = TranslatorSpec(
        name=args.name,
        mode="siit" if args.stateless else "nat64",
        prefix=args.prefix,
        pool=args.pool,
        pairs=pairs,
        ipv4_address=args.ipv4_address,
        ipv6_address=args.ipv6_address,
        mtu=args.mtu,
        ipv6_mtu=args.ipv6_mtu,
        filtering=args.filtering,
        max_sessions=args.max_sessions,
        udp_timeout=args.udp_timeout,
        tcp_timeout=args.tcp_timeout,
        tcp_trans_timeout=args.tcp_trans_timeout,
        icmp_timeout=args.icmp_timeout,
        icmp_error_rate=args.icmp_errors,
        icmp_pool=args.icmp_pool,
        strict_protocols=args.strict_protocols,
        plane=args.plane,
    )
    kit.require_tunnel_privilege(f"adding translator {args.name}")
    added = add_translator(spec)
    if args.json:
        kit.print_json(added)
        return 0
    kind = "NAT64 (stateful)" if added.mode == "nat64" else "SIIT (stateless)"
    print(
        f"translator {added.name}: {kind}, prefix {added.prefix}, pool {added.pool or '-'}, "
        f"own addresses {added.ipv4_address} and {added.ipv6_address}"
    )
    for warning in added.warnings:
        print(f"note: {warning}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..translate import delete_translator

    kit.require_tunnel_privilege(f"deleting translator {args.name}")
    delete_translator(args.name)
    print(f"translator {args.name} removed")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .._result import counts_text
    from ..translate import translator_status

    rows = translator_status(args.name)
    for row in rows:
        row.sessions = row.sessions[: max(0, args.sessions)]
    if args.json:
        kit.print_json(rows)
        return 0
    if not rows:
        print("no translators (ipv6 nat64 add)")
        return 0
    for row in rows:
        kind = "NAT64" if row.mode == "nat64" else "SIIT"
        state = "running" if row.running else "NOT RUNNING"
        print(f"{row.name}: {kind}, prefix {row.prefix}, pool {row.pool or '-'}, {state}")
        if row.error:
            print(f"  {row.error}")
        if row.plane_reason:
            print(f"  plane: {row.plane_reason}")
        for v4, v6 in sorted(row.pairs.items()):
            side = "an IPv4 host here" if v4 in row.ipv4_side else "an IPv6 host behind"
            print(f"  pair {v4} = {v6} ({side})")
        if not row.running:
            continue
        c = row.counters
        assert c is not None
        print(
            f"  to IPv4: {c.to_ipv4_packets} packets, {c.to_ipv4_bytes} bytes; "
            f"to IPv6: {c.to_ipv6_packets} packets, {c.to_ipv6_bytes} bytes"
        )
        print(f"  dropped: {counts_text(row.drops, 'nothing')}")
        if row.icmp_errors:
            print(f"  its own ICMP errors: {counts_text(row.icmp_errors)}")
        held = {"fragments": c.fragments_held, "IPv4 SYNs": c.syns_held}
        if any(held.values()):
            print(f"  held for now: {counts_text({k: n for k, n in held.items() if n})}")
        if row.kernel_plane:
            k = row.kernel_plane
            print(f"  in the kernel: {k.get('flows', 0)} flows; left to this plane: "
                  f"{k.get('to_userspace', 0)} packets")  # fmt: skip
        if row.kernel_dropped:
            print(f"  lost in the device's full queue (read too slowly): {row.kernel_dropped}")
        if row.mode == "nat64":
            print(f"  sessions {row.session_count}, bindings {row.bindings}; "
                  f"{counts_text(row.events, 'no sessions yet')}")  # fmt: skip
            if row.sessions:
                print(
                    kit.table(
                        [
                            ("  " + s.protocol, s.ipv6_host, s.ipv4_pool, s.ipv4_remote, s.state,
                             f"{s.expires_in:g}", s.packets_out, s.packets_in)
                            for s in row.sessions
                        ],
                        ["  PROTO", "IPV6 HOST", "POOL", "IPV4 REMOTE", "STATE", "EXPIRES",
                         "OUT", "IN"],
                    )
                )  # fmt: skip
    return 0


def register_clat(groups: Any) -> None:
    _, commands = kit.group(
        groups,
        "clat",
        "a CLAT (464XLAT) for an IPv6-only host: add, delete, status",
        description="A CLAT (RFC 6877): IPv4-only applications on this IPv6-only host reach "
        "IPv4 servers through the network's NAT64. The host gets IPv4 address 192.0.0.1 and "
        "an IPv4 default route on a TUN device; the NAT64 prefix comes from a router "
        "advertisement (PREF64, RFC 8781) or from ipv4only.arpa (RFC 7050) unless given.",
    )
    add = kit.subcommand(commands, "add", cmd_clat_add, "start a CLAT on a new TUN device")
    add.add_argument("name", metavar="NAME", help="the device name (clat, say)")
    add.add_argument(
        "--uplink", metavar="IF", help="the IPv6 interface (default: the default route's)"
    )
    add.add_argument("--prefix", help="the NAT64 prefix (default: discovered)")
    add.add_argument(
        "--discover",
        choices=("auto", "ra", "dns"),
        default="auto",
        help="how to find the prefix: a router advertisement's PREF64, ipv4only.arpa, or "
        "the first then the second (auto)",
    )
    add.add_argument(
        "--dns", action="append", default=[], metavar="ADDR",
        help="the resolver to ask for ipv4only.arpa (default: /etc/resolv.conf's)",
    )  # fmt: skip
    add.add_argument(
        "--ipv6-address", help="the CLAT's own IPv6 address (default: on the uplink's /64)"
    )
    add_plane(add)
    kit.add_json(add)
    delete = kit.subcommand(
        commands, "delete", cmd_clat_delete, "stop a CLAT and put the host back"
    )
    delete.add_argument("name", metavar="NAME")
    status = kit.subcommand(commands, "status", cmd_clat_status, "each CLAT's counters and drops")
    kit.add_json(status)


def cmd_clat_add(args: argparse.Namespace) -> int:
    from ..translate import add_clat

    kit.require_tunnel_privilege(f"adding CLAT {args.name}")
    added = add_clat(
        args.name,
        uplink=args.uplink,
        prefix=args.prefix,
        discover=args.discover,
        servers=args.dns,
        ipv6_address=args.ipv6_address,
        plane=args.plane,
    )
    if args.json:
        kit.print_json(added)
        return 0
    print(
        f"CLAT {added.name} on {added.uplink}: IPv4 {added.ipv4_address} as "
        f"{added.ipv6_address}, NAT64 prefix {added.prefix} ({added.learnt})"
    )
    return 0


def cmd_clat_delete(args: argparse.Namespace) -> int:
    from ..translate import delete_clat

    kit.require_tunnel_privilege(f"deleting CLAT {args.name}")
    delete_clat(args.name)
    print(f"CLAT {args.name} removed, the host's settings put back")
    return 0


def cmd_clat_status(args: argparse.Namespace) -> int:
    from .._result import counts_text
    from ..translate import translator_status

    rows = [r for r in translator_status() if r.clat]
    if args.json:
        kit.print_json(rows)
        return 0
    if not rows:
        print("no CLAT (ipv6 clat add)")
        return 0
    for row in rows:
        state = "running" if row.running else "NOT RUNNING"
        print(f"{row.name}: CLAT, NAT64 prefix {row.prefix}, {state}")
        for v4, v6 in sorted(row.pairs.items()):
            print(f"  IPv4 {v4} is {v6}")
        if row.error:
            print(f"  {row.error}")
        if row.plane_reason:
            print(f"  plane: {row.plane_reason}")
        if row.running and row.counters is not None:
            c = row.counters
            print(
                f"  to IPv6: {c.to_ipv6_packets} packets, {c.to_ipv6_bytes} bytes; "
                f"to IPv4: {c.to_ipv4_packets} packets, {c.to_ipv4_bytes} bytes"
            )
            print(f"  dropped: {counts_text(row.drops, 'nothing')}")
        if row.icmp_errors:
            print(f"  its own ICMP errors: {counts_text(row.icmp_errors)}")
    return 0
