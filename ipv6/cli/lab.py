"""``ipv6 lab``: up, down, status, exec, examples."""

from __future__ import annotations

import argparse
import os
import time

from .._errors import BadInput
from . import kit

FORMAT_HELP = (
    "docs/lab-format.md describes the TOML format; 'ipv6 lab examples' lists shipped labs."
)

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any


def register(groups: Any) -> None:
    _, commands = kit.group(
        groups,
        "lab",
        "network-namespace labs: up, down, status, exec",
        description="Labs of network namespaces (hosts) joined by veth links and bridges. "
        + FORMAT_HELP,
    )

    up = kit.subcommand(
        commands,
        "up",
        cmd_up,
        "bring a lab up from a TOML file (or a shipped lab's name)",
        description="Build every host, link, address, route and sysctl of the lab. If a step "
        "fails, everything made so far is removed and the failing step is named. " + FORMAT_HELP,
    )
    up.add_argument("file", metavar="FILE", help="a lab file, or the name of a shipped lab (lan)")
    up.add_argument("--name", help="run the lab under this name instead of the file's")
    up.add_argument(
        "--dry-run", action="store_true", help="check the file and print the steps; make nothing"
    )
    up.add_argument("-v", "--verbose", action="store_true", help="print every step as it runs")
    kit.add_json(up)

    down = kit.subcommand(
        commands,
        "down",
        cmd_down,
        "take a lab down: remove every namespace, link and bridge it made",
    )
    down.add_argument("target", metavar="NAME|FILE", nargs="?", help="the lab's name or its file")
    down.add_argument("--all", action="store_true", help="take every lab down")
    kit.add_json(down)

    status = kit.subcommand(
        commands,
        "status",
        cmd_status,
        "show the labs that are up, or one lab's hosts, interfaces and addresses",
    )
    status.add_argument("target", metavar="NAME", nargs="?", help="one lab to show in detail")
    kit.add_json(status)

    exe = kit.subcommand(
        commands,
        "exec",
        cmd_exec,
        "run a command inside a lab host",
        description="Run CMD inside HOST of lab NAME, as 'ip netns exec' would: the command sees "
        "the host's interfaces (also under /sys/class/net) and exits with its own status.",
    )
    exe.add_argument("target", metavar="NAME", help="the lab's name")
    exe.add_argument("host", metavar="HOST", help="the host to run in")
    exe.add_argument("command", metavar="-- CMD ...", nargs=argparse.REMAINDER)

    examples = kit.subcommand(
        commands, "examples", cmd_examples, "list the labs shipped with the toolkit"
    )
    kit.add_json(examples)


def _load(file: str, name: str | None) -> Any:
    from ..lab import builtin_lab, load_config

    path = file
    if not os.path.exists(path):
        shipped = builtin_lab(file)
        if shipped is not None:
            path = shipped
    return load_config(path, name=name)


def cmd_up(args: argparse.Namespace) -> int:
    from ..lab import planned, summary, up

    config = _load(args.file, args.name)
    if args.dry_run:
        plan = planned(config)
        if args.json:
            kit.print_json({"name": config.name, "steps": [s.describe() for s in plan.steps]})
        else:
            print(f"lab {config.name!r} would be built in {len(plan.steps)} steps:")
            for i, step in enumerate(plan.steps, 1):
                print(f"  {i:>3}. {step.describe()}")
        return 0
    progress = kit.Progress(verbose=args.verbose)
    started = time.monotonic()
    try:
        # SIGTERM or SIGHUP: up() stops before its next step and removes what it made.
        with kit.termination_requests() as asked:
            record = up(config, progress=progress, stop=lambda: asked.signal)
    finally:
        progress.done()
    elapsed = time.monotonic() - started
    if args.json:
        kit.print_json(
            summary(record).to_json() | {"namespaces": record.hosts, "seconds": round(elapsed, 3)}
        )
        return 0
    hosts = ", ".join(sorted(record.hosts))
    print(f"lab {record.name!r} is up in {elapsed:.2f} s (tag {record.tag}): hosts {hosts}")
    first = sorted(record.hosts)[0]
    print(f"  run a command in a host:  ipv6 lab exec {record.name} {first} -- CMD")
    print(f"  look inside:              ipv6 lab status {record.name}")
    print(f"  take it down:             ipv6 lab down {record.name}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ..lab import down, records

    if args.all == bool(args.target):
        raise BadInput("name one lab (NAME or FILE) or give --all")
    targets = [r.name for r in records()] if args.all else [args.target]
    reports = [down(t) for t in targets]
    if args.json:
        kit.print_json([r.__dict__ for r in reports])
        return 0
    if not reports:
        print("no lab is up")
    for report in reports:
        note = f"; {len(report.missing)} already gone" if report.missing else ""
        stopped = f"; stopped {len(report.stopped)} processes" if report.stopped else ""
        print(
            f"lab {report.name!r} is down: removed {len(report.removed)} namespaces{note}{stopped}"
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from ..lab import describe, find, records, summary

    if args.target is None:
        labs = [summary(r) for r in records()]
        if args.json:
            kit.print_json(labs)
        elif not labs:
            print("no lab is up (bring one up with: ipv6 lab up FILE)")
        else:
            rows = [
                (
                    lab.name,
                    lab.status,
                    lab.tag,
                    ",".join(lab.hosts),
                    lab.links,
                    _age(lab.created),
                    lab.source,
                )
                for lab in labs
            ]
            print(kit.table(rows, ("NAME", "STATUS", "TAG", "HOSTS", "LINKS", "AGE", "FILE")))
        return 0
    detail = describe(find(args.target))
    if args.json:
        kit.print_json(detail.to_json())
        return 0
    print(f"lab {detail.name!r} ({detail.status}, tag {detail.tag}) from {detail.source}")
    for link in detail.links:
        ends = " <-> ".join(f"{h}:{i}" for h, i in link.endpoints)
        kind = "bridge" if link.kind == "bridge" else "veth"
        print(f"  link {link.name} ({kind}): {ends}")
    for host, info in detail.hosts.items():
        if not info.present:
            print(f"  host {host}: GONE (namespace {info.namespace} no longer exists)")
            continue
        print(f"  host {host} (namespace {info.namespace})")
        for iface in info.interfaces:
            link_name = f" link {iface.link}" if iface.link else ""
            print(
                f"    {iface.name:<8} {iface.state:<8} mtu {iface.mtu:<5} "
                f"{iface.mac or '':<17}{link_name}"
            )
            for addr in iface.addresses:
                flags = " tentative" if addr.tentative else ""
                flags += " DAD-FAILED" if addr.dad_failed else ""
                print(f"      {addr.address} ({addr.scope}){flags}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from ..lab import exec_in_host

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise BadInput(
            "give the command to run after --, e.g. ipv6 lab exec lan a -- ping 10.0.1.2"
        )
    exec_in_host(args.target, args.host, command)
    return 0  # not reached: the command replaced this process


def cmd_examples(args: argparse.Namespace) -> int:
    from ..lab._shipped import shipped_labs

    found = shipped_labs()
    if args.json:
        kit.print_json(found)
        return 0
    rows = [(f.name, ",".join(f.hosts), f.description) for f in found]
    print(kit.table(rows, ("LAB", "HOSTS", "DESCRIPTION")))
    from ..lab._shipped import shipped_directory

    print(f"\nbring one up with: ipv6 lab up NAME (the files are in {shipped_directory()})")
    return 0


def _age(created: float) -> str:
    seconds = max(0, int(time.time() - created))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
