"""Netsh words over Linux interfaces: a pure grammar and planner, a thin kernel layer.

``parse_command`` turns words into a ``Command``; ``plan`` turns a command
into operations; ``run_lines`` applies them as one transaction.
"""

from ._apply import Kernel, Line, NetshFailed, parse_script, run_lines
from ._grammar import Command, NetshSyntaxError, parse_command, split
from ._ops import plan

__all__ = [
    "Command",
    "Kernel",
    "Line",
    "NetshFailed",
    "NetshSyntaxError",
    "parse_command",
    "parse_script",
    "plan",
    "run_lines",
    "split",
]
