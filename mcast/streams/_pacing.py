"""When each datagram of a paced stream may go (pure).

A stream at ``rate`` datagrams a second in bursts of ``burst`` sends burst
``i`` at ``start + i * burst / rate``: every time comes from the start and
the burst's number, never from the previous send, so a long run does not
drift however late one wake-up was. A sender that fell behind sends what is
due at once (up to its batch size) and is back on schedule. Rate 0: no pace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UNBOUNDED = 2**62  # "every datagram so far" for an unpaced stream without a count
SI = {"": 1, "k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000, "g": 10**9, "G": 10**9}


def parse_rate(text: str) -> float:
    """``10000``, ``2.5k``, ``100M``, ``1G`` -> a number (k, M, G: powers of 1,000)."""
    body = text.strip()
    unit = body[-1:] if body[-1:] in SI and body[-1:] else ""
    number = body[: len(body) - len(unit)] if unit else body
    try:
        value = float(number) * SI[unit]
    except ValueError:
        raise ValueError(f"{text!r} is not a rate (a number, with k, M or G after it)") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{text!r}: a rate is 0 (as fast as possible) or more")
    return value


@dataclass(frozen=True)
class Schedule:
    rate: float  # datagrams a second; 0: as fast as the host allows
    burst: int = 1  # datagrams sent back to back per tick
    start: float = 0.0  # seconds, on the clock the caller uses

    def due(self, now: float, total: int | None = None) -> int:
        """How many datagrams should have gone by ``now`` (at most ``total``)."""
        if self.rate <= 0:
            return total if total is not None else UNBOUNDED
        ticks = math.floor((now - self.start) * self.rate / self.burst) + 1
        due = max(0, ticks) * self.burst
        return due if total is None else min(due, total)

    def next_time(self, sent: int) -> float:
        """When the burst holding datagram number ``sent`` (0-based) may go."""
        if self.rate <= 0:
            return self.start
        return self.start + (sent // self.burst) * self.burst / self.rate
