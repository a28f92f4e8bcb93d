"""What every tour scene writes to, and the lab it may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ipv6.lab import RunningLab


@dataclass
class Stage:
    """Where the tour plays: ``mode`` is "lab" or "loopback"; ``lab`` is set in a lab."""

    mode: str
    out: TextIO
    lab: RunningLab | None = field(default=None)

    def heading(self, number: int, title: str) -> None:
        self.out.write(f"\n== {number}. {title} ==\n")
        self.out.flush()

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show(self, lines: list[str], indent: str = "   ") -> None:
        for line in lines:
            self.out.write(f"{indent}{line}\n")
        self.out.flush()

    def blank(self) -> None:
        self.out.write("\n")
