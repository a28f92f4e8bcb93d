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


# Each command word, and the module and function that register it (see ipv6.cli).
COMMANDS: dict[str, tuple[str, str]] = {
    word: (word, "register")
    for word in ("join", "send", "ping", "pgm", "route", "show", "querier", "proxy", "tour",
                 "watch")
}  # fmt: skip


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``mcast`` parser: only the command in ``argv`` (every one without it)."""
    return kit.build_program("mcast", DESCRIPTION, __name__, COMMANDS, argv if argv else [])


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    return kit.run(build_parser(words), argv, errors=(McastError,))


if __name__ == "__main__":
    sys.exit(main())
