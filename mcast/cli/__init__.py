"""The ``mcast`` command: one module per command group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ipv6.cli import kit

from .._errors import McastError

DESCRIPTION = """\
Multicast tools for scripts and labs.

Start with the tour: a guided run of the toolkit on a network-namespace lab
(as root) or on loopback (otherwise).
"""


def build_parser() -> argparse.ArgumentParser:
    from . import join, pgm, ping, proxy, querier, route, send, show, tour, watch

    parser, commands = kit.program("mcast", DESCRIPTION)
    join.register(commands)
    send.register(commands)
    ping.register(commands)
    pgm.register(commands)
    route.register(commands)
    show.register(commands)
    querier.register(commands)
    proxy.register(commands)
    tour.register(commands)
    watch.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return kit.run(build_parser(), argv, errors=(McastError,))


if __name__ == "__main__":
    sys.exit(main())
