"""The one shape of a library result: a dataclass whose JSON form is its
fields, in order (nested results and lists of them included), so that a
command prints attributes and ``--json`` prints the same thing whole."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class Result:
    """Mixed into a dataclass: ``to_json()`` gives its fields as a dict."""

    def to_json(self) -> dict[str, Any]:
        import dataclasses  # when a result is printed, not when a pure command starts

        assert dataclasses.is_dataclass(self)
        return dataclasses.asdict(self)


def counts_text(counts: Mapping[str, int], empty: str = "") -> str:
    """``"reason 3, other 1"``: counts by reason, sorted, as the counter lines of
    services and commands print them; ``empty`` when there are none."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or empty
