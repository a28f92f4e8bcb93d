"""What the benchmarks share: a lab to run in, and printing ratios."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def require_root() -> None:
    from ipv6._privilege import require_capabilities

    require_capabilities("this benchmark (it builds a lab)")


def unique(name: str) -> str:
    return f"{name}{os.getpid() % 10000}"


def table(rows: list[tuple[object, ...]], header: tuple[str, ...]) -> str:
    from ipv6.cli.kit import table as render

    return render(rows, header)
