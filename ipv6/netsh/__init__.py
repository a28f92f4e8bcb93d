"""Netsh words over Linux interfaces: a pure grammar and planner, a thin kernel layer.

``parse_command`` turns words into a ``Command``; ``plan`` turns a command
into operations; ``run_lines`` applies them as one transaction. The pure
parts load with the package, the kernel layer on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._grammar import Command, NetshSyntaxError, parse_command, split
from ._ops import plan

if TYPE_CHECKING:
    from ._executor import Executor, NetshFailed
    from ._script import Line, parse_script
    from ._transaction import run_lines

__all__ = [
    "Command",
    "Executor",
    "Line",
    "NetshFailed",
    "NetshSyntaxError",
    "parse_command",
    "parse_script",
    "plan",
    "run_lines",
    "split",
]

_LAZY = {
    "Executor": "_executor",
    "NetshFailed": "_executor",
    "Line": "_script",
    "parse_script": "_script",
    "run_lines": "_transaction",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
