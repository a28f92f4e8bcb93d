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


def build_parser() -> argparse.ArgumentParser:
    from . import (
        addr,
        capabilities,
        dns64,
        dualstack,
        interfaces,
        ipv6exe,
        lab,
        nat64,
        ping,
        sixto4cfg,
        tunnel,
    )

    parser, commands = kit.program("ipv6", DESCRIPTION)
    addr.register(commands)
    capabilities.register(commands)
    dns64.register(commands)
    dualstack.register(commands)
    interfaces.register(commands)
    lab.register(commands)
    nat64.register(commands)
    nat64.register_clat(commands)
    ping.register(commands)
    sixto4cfg.register(commands)
    tunnel.register(commands)
    ipv6exe.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return kit.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
