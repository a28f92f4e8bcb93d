"""The ``netsh`` command: Windows netsh words over Linux interfaces.

Not built yet: this version only says so, in its help and with a clear
error for any command, so nothing pretends to configure an interface.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._errors import Ipv6Error
from . import _kit

DESCRIPTION = """\
netsh-like configuration of Linux interfaces (NOT YET AVAILABLE).

This version does not configure anything yet. What is coming:
  netsh interface ipv6 add|set|delete address|route|neighbors ...
  netsh interface ipv6 set interface|global ...
  netsh interface ipv6 show interfaces|addresses|route|neighbors|joins ... [--json]
  netsh interface ipv6 dump | reset | restore
  netsh interface 6to4 set state|relay|routing ...; show state|relay|routing
  netsh -f FILE, netsh exec FILE, and an interactive shell with contexts.
Until then, configure lab hosts through their lab file (ipv6 lab up FILE).
"""


class NotAvailable(Ipv6Error):
    exit_code = 1


def build_parser() -> argparse.ArgumentParser:
    parser = _kit.Parser(
        prog="netsh", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "words", nargs=argparse.REMAINDER, help="a netsh command (not yet available)"
    )
    parser.set_defaults(handler=_refuse, prog="netsh")
    return parser


def _refuse(args: argparse.Namespace) -> int:
    said = " ".join(args.words) or "the interactive shell"
    raise NotAvailable(
        f"{said!s}: netsh is not available in this version yet; nothing was changed "
        "(see 'netsh --help' for what is coming)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return _kit.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
