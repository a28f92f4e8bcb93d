"""The one shape of a library result: a dataclass whose JSON form is its
fields, in order (nested results and lists of them included), so that a
command prints attributes and ``--json`` prints the same thing whole."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Self


class Result:
    """Mixed into a dataclass: ``to_json()`` gives its fields as a dict."""

    def to_json(self) -> dict[str, Any]:
        import dataclasses  # when a result is printed, not when a pure command starts

        assert dataclasses.is_dataclass(self)
        return _plain(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """The result a ``to_json()`` (a command's ``--json``) stands for: its fields
        by their types, nested results and lists and maps of them included; a key it
        does not know is left out (a newer command's output read by an older library)."""
        import dataclasses
        import typing

        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: _revive(hints[k], v) for k, v in data.items() if k in known})


def _plain(value: Any) -> Any:
    """``dataclasses.asdict``, but a Counter (or any mapping) becomes a plain dict:
    asdict rebuilds a mapping by its own type from (key, value) pairs, which a
    Counter counts as keys."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if not hasattr(value, "_fields") else value
    return value


def _revive(kind: Any, value: Any) -> Any:
    """``value`` (from JSON) as ``kind`` says: a Result, a list, tuple, dict, Counter."""
    import collections
    import types
    import typing

    if value is None:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if option is type(None):
                continue
            if isinstance(option, type) and issubclass(option, Result):
                if isinstance(value, dict):
                    return option.from_json(value)
                continue
            return _revive(option, value)
        return value
    if origin in (list, tuple) and isinstance(value, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(_revive(a, v) for a, v in zip(args, value, strict=False))
        inner = args[0] if args else Any
        revived = [_revive(inner, v) for v in value]
        return tuple(revived) if origin is tuple else revived
    if origin in (dict, collections.Counter) and isinstance(value, dict):
        inner = args[-1] if args else Any
        mapping = {k: _revive(inner, v) for k, v in value.items()}
        return collections.Counter(mapping) if origin is collections.Counter else mapping
    if isinstance(kind, type) and issubclass(kind, Result) and isinstance(value, dict):
        return kind.from_json(value)
    if isinstance(kind, type) and isinstance(value, (str, int)) and not isinstance(value, kind):
        # What the JSON holds as text or a number: an address, a network, a path, an enum.
        import enum
        import ipaddress
        import pathlib

        textual = (ipaddress._BaseAddress, ipaddress._BaseNetwork, pathlib.PurePath)
        if issubclass(kind, (*textual, enum.Enum)):
            maker: Any = kind  # each of these takes its own text form
            return maker(value)
    return value


def counts_text(counts: Mapping[str, int], empty: str = "") -> str:
    """``"reason 3, other 1"``: counts by reason, sorted, as the counter lines of
    services and commands print them; ``empty`` when there are none."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or empty
