"""A netsh script as one transaction, flowing one way: parsed lines
(:mod:`._script`) are planned once into operations, plain additions are
batched into pipelined netlink writes, everything is applied in order, and
the journal (netsh's memory and the persistent commands) is written last.

If a line fails, the inverses of everything applied run in reverse order and
the error names the line, the command, the kernel's reason and what undoing
did: each change undone, and any undo step that failed, with what is left.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, fields

from .. import _statefile
from .._kernelops import AddAddress, AddRoute, DeleteAddress, DeleteRoute, Interface
from .._transact import Undone
from . import _journal
from ._executor import Executor, NetshFailed, reason
from ._grammar import NetshSyntaxError
from ._ops import AddTranslator, AddTunnel, DeleteTunnel, Op, Remember, plan
from ._pipeline import Pipeline, describe, inverse, pipelined
from ._script import Line
from ._store import load_state, save_state

NOT_IN_SCRIPTS = ("show", "dump", "restore")
# The lines a reset leaves alone when the script adds them back as they are: a
# tunnel, an address or a route is one object, whatever else changes. (A setting
# may be undone by another, global forwarding by an interface's, so it is always
# written.)
_SETTLED = re.compile(r" add (address|route|v6v4tunnel|nat64) ")


@dataclass(frozen=True)
class Planned:
    """One line and the operations it stands for."""

    line: Line
    ops: tuple[Op, ...]


class _LineFailed(Exception):
    def __init__(self, line: Line, why: str) -> None:
        super().__init__(why)
        self.line, self.why = line, why


def plan_lines(lines: list[Line], interfaces: dict[str, Interface]) -> list[Planned]:
    """Every line's operations, planned once, before anything changes (so bad input,
    an unknown interface say, changes nothing). An interface a tunnel line makes is
    named in later lines' operations by its name; its index exists only once it does."""
    known = dict(interfaces)
    planned = []
    for line in lines:
        if line.command.verb in NOT_IN_SCRIPTS:
            raise NetshSyntaxError(
                f"line {line.number}: {line.command.verb} cannot be part of a script here"
            )
        try:
            ops = plan(line.command, known)
        except NetshSyntaxError as exc:
            raise NetshSyntaxError(f"line {line.number}: {line.text}: {exc}") from None
        for op in ops:
            if isinstance(op, (AddTunnel, AddTranslator)):
                known[op.name] = op.name
            elif isinstance(op, DeleteTunnel):
                known.pop(op.name, None)
        planned.append(Planned(line, tuple(ops)))
    return planned


def _expand_resets(executor: Executor, lines: list[Line]) -> list[Line]:
    """A ``reset`` line stands for the commands that return what netsh manages to
    the defaults, as the kernel is now (a dump starts with one, so that running it
    brings back exactly what was dumped, whatever changed since). An object that a
    later line of the script would add back exactly as it is now (a tunnel, an
    address, a route) is left alone, and that line dropped: what is already right is not
    taken down and made again (nor undone into a state the kernel would not take
    back, should a later line fail)."""
    from ._script import parse_script
    from ._show import configuration, reset_script

    out: list[Line] = []
    dropped: set[str] = set()
    for index, line in enumerate(lines):
        text = line.text.strip()
        if text in dropped:
            dropped.discard(text)
            continue
        if line.command.verb != "reset":
            out.append(line)
            continue
        later = {each.text.strip() for each in lines[index + 1 :]}
        same = frozenset(
            text
            for text in set(configuration(executor, line.command.family)) & later
            if _SETTLED.search(text)  # settings and neighbours are always written again
        )
        dropped |= same
        expanded = parse_script(reset_script(executor, line.command.family, keep=same))
        out.extend(Line(line.number, f"{line.text}: {e.text}", e.command) for e in expanded)
    return out


def run_lines(lines: list[Line], *, restoring: bool = False) -> list[str]:
    """Apply changing commands as one transaction; the messages to print.

    Plain additions go to the kernel in pipelined batches; everything else one
    operation at a time, after the batch before it has been acknowledged.
    ``restoring`` (``restore``) takes what is already there as done.
    """
    state = load_state()
    executor = Executor(state)
    done: list[Op] = []
    try:
        lines = _expand_resets(executor, lines)
        planned = plan_lines(lines, dict(executor.interfaces()))
        with Pipeline() as pipeline:
            try:
                _apply_all(executor, pipeline, planned, done, restoring=restoring)
                for each in planned:
                    _journal.keep(state, each.line.command)
                save_state(state)  # the transaction's last step: if it fails, undo the rest
            except _LineFailed as failed:
                undone = _undo(executor, pipeline, done)
                raise NetshFailed(
                    f"line {failed.line.number}: {failed.line.text}: {failed.why}; {undone}"
                ) from None
            except _statefile.StateWriteFailed as failed:
                raise NetshFailed(f"{failed}; {_undo(executor, pipeline, done)}") from None
    finally:
        executor.close()
    made = sum(not isinstance(op, Remember) for op in done)
    return [
        f"Ok. {made} change{'s' if made != 1 else ''} made." if made else "Ok. Nothing to change."
    ]


def _apply_all(
    executor: Executor,
    pipeline: Pipeline,
    planned: list[Planned],
    done: list[Op],
    *,
    restoring: bool,
) -> None:
    """Apply every op, adding the inverses of what changed to ``done``."""
    pending: list[tuple[Line, AddAddress | AddRoute]] = []
    for each in planned:
        line = each.line
        for op in each.ops:
            if isinstance(op, (AddAddress, AddRoute)) and pipelined(op):
                pending.append((line, op))
                continue
            if not isinstance(op, Remember):  # netsh's memory may go ahead of the kernel
                _flush(pipeline, pending, done, restoring=restoring)
            try:
                done += reversed(executor.apply(op))
            except NetshFailed as exc:
                if not restoring:
                    raise _LineFailed(line, str(exc)) from None
            except OSError as exc:
                if not (restoring and exc.errno == errno.EEXIST):  # restoring what is there
                    raise _LineFailed(line, reason(exc)) from None
    _flush(pipeline, pending, done, restoring=restoring)


def _flush(
    pipeline: Pipeline,
    pending: list[tuple[Line, AddAddress | AddRoute]],
    done: list[Op],
    *,
    restoring: bool,
) -> None:
    if not pending:
        return
    verdicts = pipeline.send([op for _, op in pending])
    failed: _LineFailed | None = None
    for (line, op), code in zip(pending, verdicts, strict=True):
        if code == 0:
            done.append(inverse(op))
        elif failed is None and not (restoring and code == errno.EEXIST):
            failed = _LineFailed(line, _refusal(op, code))
    pending.clear()
    if failed is not None:
        raise failed


def _refusal(op: AddAddress | AddRoute, code: int) -> str:
    if code == errno.EEXIST and isinstance(op, AddAddress):
        return f"the address {op.address.ip} is already there (use set address)"
    if code == errno.EEXIST and isinstance(op, AddRoute):
        return f"the route {op.prefix} is already there (use set route)"
    return describe(code)


def _op_text(op: Op) -> str:
    """An operation as a user can read it: its kind and its fields."""
    values = ", ".join(f"{f.name}={getattr(op, f.name)}" for f in fields(op))
    return f"{type(op).__name__}({values})"


def _undo(executor: Executor, pipeline: Pipeline, done: list[Op]) -> Undone:
    """Apply the inverses, newest first; what was undone and what could not be."""
    result = Undone()
    batch: list[DeleteAddress | DeleteRoute] = []

    def attempt(op: Op) -> None:
        try:
            executor.apply(op)
        except (NetshFailed, OSError) as exc:
            result.failed.append(f"{_op_text(op)} ({reason(exc)})")
        else:
            result.count += not isinstance(op, Remember)  # netsh's own memory is not a change

    def flush() -> None:
        for op, code in zip(batch, pipeline.send(batch) if batch else [], strict=True):
            if code == 0:
                result.count += 1
            else:  # e.g. an address the kernel holds with another length: the slow way
                attempt(op)
        batch.clear()

    for op in reversed(done):
        if isinstance(op, (DeleteAddress, DeleteRoute)) and pipelined(op):
            batch.append(op)
            continue
        flush()
        attempt(op)
    flush()
    return result
