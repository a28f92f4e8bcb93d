"""The one shape of a library result: a dataclass whose JSON form is its
fields, in order (nested results and lists of them included), so that a
command prints attributes and ``--json`` prints the same thing whole."""

from __future__ import annotations

import dataclasses
from typing import Any


class Result:
    """Mixed into a dataclass: ``to_json()`` gives its fields as a dict."""

    def to_json(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        return dataclasses.asdict(self)
