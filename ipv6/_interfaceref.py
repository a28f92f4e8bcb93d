"""An interface as the toolkit names it: its index and its name (a pure value).

Looking one up, or asking whether it still exists, is :mod:`ipv6._interfaces`'s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InterfaceRef:
    index: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} (index {self.index})"
