"""``ipv6 tunnel``: 6to4 and configured 6in4 tunnels, on the kernel's sit
driver or the userspace plane, and their counters."""

from __future__ import annotations

import argparse
import sys

from . import kit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PLANE_HELP = (
    "auto (the default) uses the kernel's sit driver where the kernel has one and the "
    "userspace plane (a TUN device and a raw IPv4 socket, with RFC 3964's checks) where it "
    "does not, and says which"
)


def register(groups: Any) -> None:
    _, commands = kit.group(
        groups,
        "tunnel",
        "IPv6-in-IPv4 tunnels (6to4, configured 6in4, 6rd): add, delete, status",
        description="IPv6 over IPv4 (protocol 41): 6to4 (RFC 3056) to every 2002::/16 site "
        "and to a named relay, a configured 6in4 tunnel (RFC 4213) to one remote, or 6rd "
        "(RFC 5969) to the edges of a 6rd domain and its border relay. " + PLANE_HELP + ".",
    )
    add = kit.subcommand(
        commands,
        "add",
        cmd_add,
        "create a tunnel interface",
        description="Create a tunnel interface. The MTU is 1280 unless --mtu says otherwise; "
        "the outer IPv4 header never has DF set (RFC 3056); oversized packets get ICMPv6 "
        "Packet Too Big. Non-global IPv4 addresses are refused unless --lab. " + PLANE_HELP,
    )
    add.add_argument("name", metavar="NAME", help="the interface name (tun6to4, say)")
    add.add_argument("--mode", choices=("6to4", "6in4", "6rd"), required=True)
    add.add_argument("--local", required=True, metavar="IPV4", help="this host's IPv4 address")
    add.add_argument("--remote", metavar="IPV4", help="6in4: the one peer")
    add.add_argument(
        "--relay",
        action="append",
        default=[],
        metavar="IPV4",
        help="6to4: the relay for native IPv6 (no default: 192.88.99.1 is deprecated, RFC 7526); "
        "6rd: the border relay",
    )
    add.add_argument(
        "--6rd-prefix", dest="sixrd_prefix", metavar="PREFIX", help="6rd: the domain's IPv6 prefix"
    )
    add.add_argument(
        "--ipv4-mask-length",
        type=kit.integer(0, 32, "a mask length"),
        default=0,
        metavar="N",
        help="6rd: how many high bits of the edges' IPv4 addresses are common (left out of "
        "the delegated prefix; default 0)",
    )
    add.add_argument("--br", action="store_true", help="6rd: this host is the border relay")
    add.add_argument(
        "--no-offload",
        dest="offload",
        action="store_false",
        help="userspace plane: one packet per system call, no TUN offloads (TSO, GRO)",
    )
    add.add_argument("--mtu", type=kit.integer(1280, 65535, "an MTU"), default=1280)
    add.add_argument(
        "--plane", choices=("auto", "kernel", "ebpf", "userspace"), default="auto",
        help="kernel: the kernel's sit driver; userspace: TUN and a raw socket, RFC 3964's "
        "checks in the service; ebpf: the same, with kernel programs carrying the address "
        "pairs the service has checked; auto: kernel where it has sit, else ebpf where the "
        "kernel runs tc programs (userspace if it then refuses them), else userspace",
    )  # fmt: skip
    add.add_argument(
        "--router",
        metavar="IPV6",
        help="the source of the tunnel's ICMPv6 errors (6to4: 2002:V4::V4, its own address)",
    )
    add.add_argument("--lab", action="store_true", help="accept private IPv4 (a lab network)")

    delete = kit.subcommand(commands, "delete", cmd_delete, "remove a tunnel interface")
    delete.add_argument("name", metavar="NAME")

    status = kit.subcommand(
        commands,
        "status",
        cmd_status,
        "each tunnel's plane, addresses and counters (packets, bytes, drops by reason)",
    )
    kit.add_json(status)


def cmd_add(args: argparse.Namespace) -> int:
    from ..tunnel import TunnelSpec, add_tunnel
    from .kit import parse_ipv4

    kit.require_tunnel_privilege(f"adding tunnel {args.name}")
    spec = TunnelSpec(
        name=args.name,
        mode=args.mode,
        local=str(parse_ipv4(args.local, "--local")),
        remote=str(parse_ipv4(args.remote, "--remote")) if args.remote else None,
        relays=[str(parse_ipv4(r, "--relay")) for r in args.relay],
        mtu=args.mtu,
        router=args.router,
        lab=args.lab,
        sixrd_prefix=args.sixrd_prefix,
        ipv4_mask_length=args.ipv4_mask_length,
        border_relay=args.br,
        offload=args.offload,
    )
    plane = add_tunnel(spec, args.plane)
    how = {
        "kernel": "the kernel's sit driver",
        "ebpf": "the eBPF plane (TUN + raw socket, and kernel programs for checked pairs)",
    }.get(plane, "the userspace plane (TUN + raw socket)")
    print(f"tunnel {spec.name}: {spec.mode}, local {spec.local}, MTU {spec.mtu}, on {how}")
    if spec.mode == "6rd":
        role = "border relay" if spec.border_relay else f"customer edge, relay {spec.relays[0]}"
        print(f"  6rd domain {spec.sixrd_prefix} ({role}); this end's address {spec.router}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..tunnel import delete_tunnel

    kit.require_tunnel_privilege(f"deleting tunnel {args.name}")
    delete_tunnel(args.name)
    print(f"tunnel {args.name} removed")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..tunnel import tunnel_status

    rows = tunnel_status()
    if args.json:
        kit.print_json(rows)
        return 0
    if not rows:
        print("no tunnels (ipv6 tunnel add, or ipv6 6to4cfg)")
        return 0
    for row in rows:
        remote = row.remote or "-"
        relays = f", relay {', '.join(row.relays)}" if row.relays else ""
        state = "running" if row.running else "NOT RUNNING"
        print(
            f"{row.name}: {row.mode} on the {row.plane} plane, {row.local} -> "
            f"{remote}{relays}, MTU {row.mtu}, {state}"
        )
        if row.error:
            print(f"  {row.error}")
        if row.plane_reason:
            print(f"  plane: {row.plane_reason}")
        if row.addresses:
            print(f"  addresses: {', '.join(row.addresses)}")
        if row.running:
            merged = (
                f" ({row.rx_merged_by_kernel} of them merged by the IPv4 side's GRO)"
                if row.rx_merged_by_kernel
                else ""
            )
            print(
                f"  out (encapsulated): {row.tx_packets} packets, {row.tx_bytes} bytes; "
                f"in (decapsulated): {row.rx_packets} packets{merged}, {row.rx_bytes} bytes"
            )
            if row.plane in ("userspace", "ebpf"):
                used = ", ".join(row.offloads or []) or "none (one packet per system call)"
                print(f"  offloads: {used}")
            if row.kernel_plane:
                k = row.kernel_plane
                print(f"  in the kernel: {k.get('encapsulated_packets', 0)} packets out, "
                      f"{k.get('decapsulated_packets', 0)} in, for {k.get('pairs', 0)} checked "
                      f"pairs; left to the service: {k.get('to_userspace', 0)}")  # fmt: skip
            drops = row.drops or {}
            if drops:
                print(kit.table(sorted(drops.items()), ["  DROPPED BECAUSE", "PACKETS"]))
            else:
                print("  no drops")
            service = row.service or {}
            from .._result import counts_text

            unclaimed = counts_text(service.get("unclaimed", {}))
            if unclaimed or service.get("kernel_dropped"):
                print(
                    f"  the service, before any tunnel: {unclaimed or 'nothing unclaimed'}; "
                    f"lost in a full socket queue: {service.get('kernel_dropped') or 0}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(1)
