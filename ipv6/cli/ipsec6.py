"""``ipsec6``: the seeds' Ipsec6.exe. Security policies (.spd) and SAs (.sad)
with AH in transport mode, on the kernel's XFRM where the kernel has AH and
on the toolkit's userspace plane (ip6tables NFQUEUE) where it does not."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

from . import kit

DESCRIPTION = """\
IPsec between IPv6 hosts, as the seeds' Ipsec6.exe configures it: the
Authentication Header (RFC 4302) in transport mode with HMAC-MD5-96 or
HMAC-SHA-256-128, manual keys from key files (a double-quoted string).

  ipsec6 c NAME            write NAME.spd and NAME.sad templates to edit
  ipsec6 a NAME            add NAME.spd's policies and NAME.sad's SAs (checked whole)
  ipsec6 i POLICY NAME     add only POLICY of NAME.spd, with its SAs
  ipsec6 sp [IF]           the active policies (of one interface, and those of all)
  ipsec6 sa                the active SAs, with what each carried and dropped
  ipsec6 d type=sp|sa N    delete a policy (once its SAs are deleted) or an SA

ESP, tunnel mode, gateways and SA bundles are not supported and are refused.
The plane is the kernel's XFRM where the kernel has AH, otherwise a userspace
service that ip6tables rules queue the policies' packets to (NFQUEUE); it
drops what it cannot protect or verify, and counts why. docs/ipsec6.md.
"""


def build_parser() -> argparse.ArgumentParser:
    parser, commands = kit.program("ipsec6", DESCRIPTION)
    sp = kit.subcommand(commands, "sp", cmd_sp, "the active security policies")
    sp.add_argument("interface", nargs="?", metavar="IF", help="an interface index or name")
    kit.add_json(sp)
    sa = kit.subcommand(commands, "sa", cmd_sa, "the active security associations")
    kit.add_json(sa)
    c = kit.subcommand(commands, "c", cmd_c, "write NAME.spd and NAME.sad templates")
    c.add_argument("name", metavar="NAME", help="the files' name without extension")
    a = kit.subcommand(commands, "a", cmd_a, "add NAME.spd's policies and NAME.sad's SAs")
    a.add_argument("name", metavar="NAME", help="the files' name without extension")
    i = kit.subcommand(commands, "i", cmd_a, "add one policy of NAME.spd, with its SAs")
    i.add_argument("policy", type=kit.integer(1, None, "a policy number"), metavar="POLICY")
    i.add_argument("name", metavar="NAME")
    for adding in (a, i):
        adding.add_argument(
            "--plane", choices=("auto", "kernel", "userspace"), default="auto",
            help="auto: the kernel's XFRM where it has AH, else userspace",
        )  # fmt: skip
    d = kit.subcommand(commands, "d", cmd_d, "delete a policy or an SA: d type=sp|sa N")
    d.add_argument("words", nargs="+", metavar="type=sp|sa N")
    return parser


def _privileged(what: str) -> None:
    from .._privilege import NETSH_NEEDS, require_capabilities

    require_capabilities(what, NETSH_NEEDS)


def cmd_c(args: argparse.Namespace) -> int:
    from ..ipsec._control import create

    spd, sad = create(args.name)
    print(f"wrote {spd} and {sad}: add policies and SAs above the last line, then ipsec6 a "
          f"{args.name}")  # fmt: skip
    return 0


def cmd_a(args: argparse.Namespace) -> int:
    from ..ipsec._control import add

    only = getattr(args, "policy", None)
    _privileged(f"ipsec6 {'i' if only is not None else 'a'} {args.name}")
    active, plane = add(args.name, only=only, plane=args.plane)
    how = "the kernel (XFRM)" if plane == "kernel" else "the userspace plane (NFQUEUE)"
    print(f"active: {len(active.policies)} policies, {len(active.associations)} SAs, on {how}")
    return 0


def cmd_d(args: argparse.Namespace) -> int:
    from ..ipsec._control import delete

    found = re.fullmatch(r"type\s*=\s*(sp|sa)\s+(\d+)", " ".join(args.words).strip(), re.I)
    if not found:
        raise kit.UsageError("write: ipsec6 d type=sp N, or ipsec6 d type=sa N")
    kind, index = found[1].lower(), int(found[2])
    _privileged(f"ipsec6 d type={kind} {index}")
    delete(kind, index)
    print(f"{'policy' if kind == 'sp' else 'SA'} {index} deleted")
    return 0


def cmd_sp(args: argparse.Namespace) -> int:
    from ..ipsec._show import show_policies

    interface = None
    if args.interface is not None:
        from .._interfaces import resolve_interface

        interface = resolve_interface(args.interface).index
    found = show_policies(interface)
    if args.json:
        kit.print_json(found)
        return 0
    if not found.policies:
        print("no active security policies (ipsec6 a NAME adds them)")
        return 0
    columns = ["Policy", "RemoteIPAddr", "LocalIPAddr", "RemotePort", "Protocol", "LocalPort",
               "IPSecProtocol", "IPSecMode", "Direction", "Action", "InterfaceIndex"]  # fmt: skip
    print(kit.table([list(vars(p).values()) for p in found.policies], columns))
    _say_plane(found)
    return 0


def _say_plane(found: Any) -> None:
    from .._result import counts_text

    service, counted = found.service, found.counts
    if found.plane == "kernel":
        print("on the kernel's XFRM")
    elif service and not service.running:
        print(f"the userspace service is NOT RUNNING: {service.why}")
    elif service:
        print(f"on the userspace plane (service pid {service.pid})")
        if counted is None:
            return
        if counted.error:
            print(f"  error: {counted.error}")
        print(f"  passed: {counts_text(counted.handled or {}, 'nothing yet')}")
        print(f"  dropped: {counts_text(counted.drops or {}, 'nothing')}")
        kernel = counted.kernel or {}
        faults = {**(counted.faults or {}), **{k: v for k, v in kernel.items() if v}}
        if faults:
            print(f"  lost before a verdict: {counts_text(faults)}")


def cmd_sa(args: argparse.Namespace) -> int:
    from ..ipsec._show import show_associations

    found = show_associations()
    if args.json:
        kit.print_json(found)
        return 0
    if not found.associations:
        print("no active security associations (ipsec6 a NAME adds them)")
        return 0
    from .._result import counts_text

    table = [[r.sa, r.spi, r.destination, r.algorithm, r.direction, r.policy,
              _or_dash(r.packets), _or_dash(r.sequence), counts_text(r.drops or {}, "-")]
             for r in found.associations]  # fmt: skip
    print(kit.table(table, ["SAEntry", "SPI", "SADestIPAddr", "AuthAlg", "Direction",
                            "SecPolicyIndex", "Packets", "Sequence", "Dropped"]))  # fmt: skip
    _say_plane(found)
    return 0


def _or_dash(value: object) -> object:
    return "-" if value is None else value


def main(argv: Sequence[str] | None = None) -> int:
    return kit.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
