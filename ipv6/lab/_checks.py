"""The checks every table of a lab file goes through, each failing with one
:class:`LabConfigError` that names the file, the key and the problem (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import LabConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class Checks:
    """A value read from a file, checked; ``source`` is the file's name."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> LabConfigError:
        return LabConfigError(self.source, key, problem)

    def table(self, value: object, key: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table, not {kind_of(value)}")
        for k in value:
            if k not in allowed:
                raise self.fail(
                    f"{key}.{k}" if key else k,
                    f"unknown key {k!r} (known keys: {', '.join(allowed)})",
                )
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {kind_of(value)}")
        return value

    def integer(self, value: object, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, not {kind_of(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range ({low} to {high})")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {kind_of(value)}")
        return value

    def array(self, value: object, key: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be an array, not {kind_of(value)}")
        return value

    def name(self, value: object, key: str, what: str, limit: int) -> str:
        text = self.string(value, key)
        if not NAME.match(text):
            raise self.fail(
                key,
                f"{what} name {text!r} must start with a letter or digit and hold only "
                "letters, digits, '-' and '_'",
            )
        if len(text) > limit:
            raise self.fail(key, f"{what} name {text!r} is {len(text)} characters; at most {limit}")
        return text


class AnyKey(tuple[str, ...]):
    """An 'allowed keys' list that allows every key (tables of names)."""

    def __contains__(self, item: object) -> bool:
        return True


def kind_of(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
