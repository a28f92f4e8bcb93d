"""The ``ipv6`` command: one module per command group, heavy imports inside
the commands that need them so that pure commands start fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import kit

DESCRIPTION = """\
IPv6 lab and transition tools.

Addresses explained and derived (addr), this host's interfaces, ping with
zones, labs of network namespaces joined by veth links and bridges, 6to4
and 6in4 tunnels (6to4cfg, tunnel), NAT64 and SIIT translators (nat64)
with DNS64 (dns64) and a CLAT (clat), and the seeds' Ipv6.exe subcommands
(if, ifc, ifd, nc, ncf, rc, rcf, bc, adu, spt, spu, rt, rtu); what this
kernel has of what they use (capabilities).
"""


# Each command word, and the module and function that register it: only the word
# run is registered (tests/test_cli.py holds this table to what the modules make).
COMMANDS: dict[str, tuple[str, str]] = {
    "addr": ("addr", "register"),
    "capabilities": ("capabilities", "register"),
    "dns64": ("dns64", "register"),
    "dualstack": ("dualstack", "register"),
    "interfaces": ("interfaces", "register"),
    "lab": ("lab", "register"),
    "nat64": ("nat64", "register"),
    "clat": ("nat64", "register_clat"),
    "ping": ("ping", "register"),
    "6to4cfg": ("sixto4cfg", "register"),
    "tunnel": ("tunnel", "register"),
    **{verb: ("ipv6exe", "register") for verb in (
        "if", "ifc", "ifd", "nc", "ncf", "rc", "rcf", "bc", "adu", "spt", "spu", "rt", "rtu")},
}  # fmt: skip


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``ipv6`` parser: only the command in ``argv`` (every one without it)."""
    return kit.build_program("ipv6", DESCRIPTION, __name__, COMMANDS, argv if argv else [])


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    return kit.run(build_parser(words), argv)


if __name__ == "__main__":
    sys.exit(main())
