"""``mcast tour``: a guided run of the toolkit's main jobs."""

from __future__ import annotations

import argparse
from typing import Any

from ipv6.cli import kit


def register(commands: Any) -> None:
    tour = kit.subcommand(
        commands,
        "tour",
        cmd_tour,
        "a guided run of the toolkit: a network-namespace lab as root, loopback otherwise",
        description="Walk through the toolkit's main jobs and show what happens. As root it "
        "builds a small network-namespace lab (and removes it after); otherwise, or with "
        "--loopback, it works on this host's loopback interface.",
    )
    where = tour.add_mutually_exclusive_group()
    where.add_argument("--loopback", action="store_true", help="use loopback even as root")
    where.add_argument(
        "--lab", metavar="FILE", help="tour this lab file instead of the embedded one (root)"
    )


def cmd_tour(args: argparse.Namespace) -> int:
    import trio

    from ..tour import run_tour

    return trio.run(run_tour, "loopback" if args.loopback else None, args.lab)
