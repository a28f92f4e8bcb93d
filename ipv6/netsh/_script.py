"""A netsh script as lines of checked commands: the first stage of running one
(parse, then plan, batch, apply and journal in :mod:`._transaction`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._grammar import Command, NetshSyntaxError, parse_command, split


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    command: Command


def parse_script(lines: Iterable[str], context: tuple[str, ...] = ()) -> list[Line]:
    """Every command of a script, checked before anything runs (pushd/popd understood)."""
    parsed = []
    stack: list[tuple[str, ...]] = [context]
    for number, raw in enumerate(lines, 1):
        try:
            words = split(raw)
            if not words:
                continue
            head = words[0].lower()
            if head in ("netsh",):
                words = words[1:]
                head = words[0].lower() if words else ""
            if head == "pushd":
                stack.append(tuple(words[1:]))
                continue
            if head == "popd":
                stack.pop() if len(stack) > 1 else None
                continue
            parsed.append(Line(number, raw.strip(), parse_command(words, stack[-1])))
        except NetshSyntaxError as exc:
            raise NetshSyntaxError(f"line {number}: {raw.strip()}: {exc}") from None
    return parsed
