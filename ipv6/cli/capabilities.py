"""``ipv6 capabilities``: what this kernel has of what the toolkit uses, and what
each missing feature changes."""

from __future__ import annotations

import argparse

from . import kit

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    show = kit.subcommand(
        groups,
        "capabilities",
        cmd_capabilities,
        "what this kernel has of the features the toolkit uses (probed by trying each), "
        "and what the toolkit does without each",
    )
    show.add_argument(
        "--refresh", action="store_true", help="probe again instead of reading what was found"
    )
    kit.add_json(show)


def cmd_capabilities(args: argparse.Namespace) -> int:
    from .._probe import capabilities

    found = capabilities(refresh=args.refresh)
    if args.json:
        kit.print_json([f.to_json() for f in found])
        return 0
    width = max(len(f.name) for f in found)
    for f in found:
        print(f"{f.name.ljust(width)}  {f.state:<7}  {f.title} ({f.config})")
        pad = " " * (width + 2)
        print(f"{pad}used by: {f.used_by}")
        if f.state == "absent":
            print(f"{pad}without it: {f.without}")
        print(f"{pad}probe: {f.how}")
    lacking = [f.name for f in found if f.state == "absent"]
    unknown = [f.name for f in found if f.state == "unknown"]
    print()
    print(f"absent: {', '.join(lacking) or 'none'}")
    if unknown:
        print(f"not probed ({'run as root' if _unprivileged() else 'see probe'}): "
              f"{', '.join(unknown)}")  # fmt: skip
    return 0


def _unprivileged() -> bool:
    from .._privilege import missing_privileges

    return bool(missing_privileges())
