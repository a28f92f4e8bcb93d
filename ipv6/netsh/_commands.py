"""One netsh command or script, start to end: what the ``netsh`` command line
calls (parse, one call here, print). Shows and dumps read; everything else
changes the kernel as one transaction, after the privilege check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .._privilege import NETSH_NEEDS, require_capabilities
from .._result import Result
from ._executor import Executor
from ._grammar import Command, decode_script
from ._journal import kept_commands
from ._script import Line, parse_script
from ._show import dump, show
from ._store import load_state
from ._transaction import run_lines


@dataclass
class Outcome:
    """What a command gives the command line to print."""

    messages: list[str] = field(default_factory=list)  # what changed: "Ok. 3 changes made."
    rows: Sequence[Result] | None = None  # a show: one row per object
    script: list[str] | None = None  # a dump: the commands that recreate the configuration


def execute(command: Command) -> Outcome:
    """Carry out one parsed command."""
    if command.family == "6to4":
        return _sixto4(command)
    if command.verb in ("show", "dump"):
        executor = Executor(load_state())
        try:
            if command.verb == "dump":
                return Outcome(script=dump(executor, command.family))
            return Outcome(
                rows=show(executor, command.family, command.noun, command.values.get("interface"))
            )
        finally:
            executor.close()
    require_capabilities(command.text, NETSH_NEEDS)
    if command.verb == "reset":
        return Outcome(run_lines([Line(1, command.text, command)]))
    if command.verb == "restore":
        kept = kept_commands(load_state())
        if not kept:
            return Outcome(["Ok. (nothing persistent)"])
        return Outcome(run_lines(parse_script(kept), restoring=True))
    return Outcome(run_lines([Line(1, command.text, command)]))


def run_script(data: bytes, source: str) -> Outcome:
    """A script file's bytes, checked whole, then run as one transaction."""
    lines = parse_script(decode_script(data, source))
    require_capabilities(f"running {source}", NETSH_NEEDS)
    return Outcome(run_lines(lines))


def _sixto4(command: Command) -> Outcome:
    """The 6to4 context: settings kept by the toolkit, applied as 6to4cfg applies them."""
    from ..tunnel._sixto4host import netsh_set, netsh_show

    if command.verb == "show":
        return Outcome(rows=netsh_show(command.noun))
    require_capabilities(command.text, NETSH_NEEDS)
    return Outcome(netsh_set(command.noun, command.values))
