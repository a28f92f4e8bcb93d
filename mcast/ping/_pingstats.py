"""What a multicast ping saw on each path, unicast and multicast.

Rules of this module:
- Pure: replies come in as (sequence, round-trip time, hop limit left); nothing
  here reads a clock or a socket.
- A reply is counted once per path; one that comes again is a duplicate.
- The hop distance is read as ssmping reads it: the responder sends with a
  hop limit of 64 (:data:`mcast.ping._mping.HOPS`), so 64 minus what is left is the
  number of routers crossed (a limit above 64 is taken as a start of 128 or 255).
- Loss is given twice for multicast: over every request sent, and since the
  first multicast reply (the requests sent before the tree formed are not the
  network's losses), as ssmping does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ipv6 import Result

from ._mping import HOPS


@dataclass
class Rtt(Result):
    min: float | None = None  # milliseconds
    avg: float | None = None
    max: float | None = None
    mdev: float | None = None  # standard deviation


@dataclass
class PathReport(Result):
    """One path's numbers, as ``mcast ping --json`` prints them."""

    path: str  # "unicast" or "multicast"
    sent: int
    received: int
    duplicates: int
    loss_percent: float
    loss_since_first_percent: float | None  # from the first reply's sequence on
    rtt_ms: Rtt
    distance: int | None  # routers crossed, from the last reply's hop limit
    first_reply_ms: float | None  # from the first request to the first reply


def distance(hops_left: int | None) -> int | None:
    """Routers crossed, from the hop limit a reply arrived with."""
    if hops_left is None or hops_left < 0:
        return None
    start = HOPS if hops_left <= HOPS else 128 if hops_left <= 128 else 255
    return start - hops_left


@dataclass
class PathTally:
    """The running numbers of one path."""

    path: str
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    rtts_ns: list[int] = field(default_factory=list)
    first_sequence: int | None = None
    first_reply_ns: int | None = None  # since the first request
    last_hops: int | None = None

    def add(self, sequence: int, rtt_ns: int, hops_left: int | None, since_start_ns: int) -> bool:
        """One reply; False when it is a duplicate (not counted again)."""
        if sequence in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(sequence)
        self.rtts_ns.append(rtt_ns)
        if self.first_sequence is None or sequence < self.first_sequence:
            self.first_sequence = sequence
        if self.first_reply_ns is None:
            self.first_reply_ns = since_start_ns
        if hops_left is not None:
            self.last_hops = hops_left
        return True

    def report(self, sent: int) -> PathReport:
        received = len(self.seen)
        since = None
        if self.first_sequence is not None:
            expected = sent - self.first_sequence + 1  # sequences count from 1
            since = _percent(expected - received, expected)
        return PathReport(
            path=self.path,
            sent=sent,
            received=received,
            duplicates=self.duplicates,
            loss_percent=_percent(sent - received, sent),
            loss_since_first_percent=since,
            rtt_ms=_rtt(self.rtts_ns),
            distance=distance(self.last_hops),
            first_reply_ms=None if self.first_reply_ns is None else _ms(self.first_reply_ns),
        )


def _percent(part: int, whole: int) -> float:
    return round(100 * max(0, part) / whole, 3) if whole > 0 else 0.0


def _rtt(values: list[int]) -> Rtt:
    if not values:
        return Rtt()
    mean = sum(values) / len(values)
    deviation = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return Rtt(_ms(min(values)), _ms(mean), _ms(max(values)), _ms(deviation))


def _ms(nanoseconds: float) -> float:
    return round(nanoseconds / 1e6, 3)


# Exit statuses of a ping (docs/cli.md): both paths answered; unicast did not
# (whether or not multicast did: without unicast the test says nothing); unicast
# answered and multicast did not.
ANSWERED, NO_UNICAST, NO_MULTICAST = 0, 3, 6


def verdict(unicast: PathReport, multicast: PathReport) -> int:
    if unicast.received == 0:
        return NO_UNICAST
    if multicast.received == 0:
        return NO_MULTICAST
    return ANSWERED
