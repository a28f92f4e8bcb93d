"""What the benchmarks share: a lab to run in, and printing ratios."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def require_root() -> None:
    from ipv6._privilege import require_capabilities

    require_capabilities("this benchmark (it builds a lab)")


def busy_seconds() -> float:
    """The whole machine's non-idle CPU time so far (/proc/stat), in seconds: the
    kernels' forwarding runs in softirq, which no process's times show."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def unique(name: str) -> str:
    return f"{name}{os.getpid() % 10000}"


def table(rows: list[tuple[object, ...]], header: tuple[str, ...]) -> str:
    from ipv6.cli.kit import table as render

    return render(rows, header)


def rounds_and_lab(doc: str, name: str) -> tuple[Any, Any]:
    """The usual --seconds/--rounds options, and a two-host lab to run in (as root)."""
    import argparse

    from ipv6.lab import load_config, up

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    require_root()
    record = up(load_config(ROOT / "configs/lab/two-hosts.toml", name=unique(name)))
    return args, record
