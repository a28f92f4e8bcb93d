"""What arrived of a test stream: loss, duplicates, reordering, jitter, delay.

Rules of this module:
- Pure: :meth:`StreamStats.add` takes a datagram's header (:mod:`._streamheader`),
  its length and its arrival time (the kernel's, in nanoseconds since the
  epoch); nothing here reads a clock.
- Loss is proved, not guessed: a sequence number is missing when a higher one
  has arrived. A missing one that arrives later is *reordered* (and no longer
  lost); one that arrives again is a *duplicate*. At any moment ``lost`` is
  what is still missing below the highest sequence seen.
- Jitter is RFC 3550's interarrival jitter (6.4.1): J += (|D| - J) / 16, with
  D the difference of transit times of consecutive arrivals.
- One-way delay is arrival minus the sender's timestamp: meaningful when both
  clocks are one (a lab on one host) or synchronised; ``delay_relative`` says
  when it cannot be (a negative delay was seen, so the clocks differ).
- Memory is bounded: at most 2 x :data:`MAX_GAPS` ranges of missing numbers
  are tracked (past that the oldest half is taken as lost for good, counted in
  ``lost`` and no longer matched), and the percentile is over the most
  recent :data:`DELAY_SAMPLES` delays (min, average and max over all).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ipv6 import Result

from ._streamheader import Stamp

MAX_GAPS = 4096
DELAY_SAMPLES = 65536


@dataclass
class Delay(Result):
    min: float | None = None  # milliseconds
    avg: float | None = None
    max: float | None = None
    p99: float | None = None


@dataclass
class StreamReport(Result):
    """One stream's numbers, as ``mcast join --json`` prints them."""

    source: str
    source_port: int
    group: str
    stream: int
    format: str
    received: int
    lost: int
    duplicates: int
    reordered: int
    bytes: int
    jitter_ms: float
    delay_ms: Delay
    delay_relative: bool
    first_after_join_ms: float | None


@dataclass
class StreamStats:
    """The running numbers of one stream (one source, port, group and stream id)."""

    source: str
    source_port: int
    group: str
    stream: int
    format: str = "none"
    joined_ns: int | None = None  # when the receiver joined (for first_after_join_ms)
    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    bytes: int = 0
    first_ns: int | None = None
    highest: int = -1
    forgotten: int = 0  # missing numbers no longer tracked (the oldest gaps): lost for good
    jitter_ns: float = 0.0
    delay_relative: bool = False
    _gaps: list[list[int]] = field(default_factory=list)  # [start, end) missing, sorted
    _transit: int | None = None
    _delays: list[int] = field(default_factory=list)
    _delay_count: int = 0
    _delay_sum: int = 0
    _delay_min: int | None = None
    _delay_max: int | None = None

    @property
    def lost(self) -> int:
        return self.forgotten + sum(end - start for start, end in self._gaps)

    def add(self, stamp: Stamp | None, length: int, arrived_ns: int) -> None:
        """One datagram: its header (None: it has none), length and arrival time."""
        if self.first_ns is None:
            self.first_ns = arrived_ns
        if stamp is None:
            self.received += 1
            self.bytes += length
            self._jitter(arrived_ns, 0)
            return
        sequence, sent_ns = stamp[2], stamp[3]
        if sequence == self.highest + 1:  # the usual case, first
            self.highest = sequence
        elif self.highest < 0 and self.received == 0:
            # The first datagram sets the baseline: what was sent before it (before
            # the join, or iperf2's numbering from 1) was never this receiver's to lose.
            self.highest = sequence
        elif sequence <= self.highest:
            if self._fill(sequence):
                self.reordered += 1
            else:
                self.duplicates += 1
                return
        else:
            self._gap(self.highest + 1, sequence)
            self.highest = sequence
        self.received += 1
        self.bytes += length
        # Jitter and delay, written out here: this runs once per datagram.
        transit = arrived_ns - sent_ns
        if self._transit is not None:
            self.jitter_ns += (abs(transit - self._transit) - self.jitter_ns) / 16
        self._transit = transit
        if transit < 0:
            self.delay_relative = True  # the sender's clock is ahead: not a common clock
        count = self._delay_count
        self._delay_count = count + 1
        self._delay_sum += transit
        if count == 0 or transit < self._delay_min:  # type: ignore[operator]
            self._delay_min = transit
        if count == 0 or transit > self._delay_max:  # type: ignore[operator]
            self._delay_max = transit
        if count < DELAY_SAMPLES:
            self._delays.append(transit)
        else:  # the most recent DELAY_SAMPLES delays make the percentile
            self._delays[count % DELAY_SAMPLES] = transit

    # -- sequence --

    def _gap(self, start: int, end: int) -> None:
        self._gaps.append([start, end])
        if len(self._gaps) > 2 * MAX_GAPS:  # forget the oldest half at once (amortised)
            old = self._gaps[:MAX_GAPS]
            del self._gaps[:MAX_GAPS]
            self.forgotten += sum(old_end - old_start for old_start, old_end in old)

    def _fill(self, sequence: int) -> bool:
        """Take ``sequence`` out of the missing ranges; False if it was not missing."""
        at = bisect.bisect_right(self._gaps, sequence, key=lambda gap: gap[0]) - 1
        if at < 0:
            return False
        start, end = self._gaps[at]
        if not start <= sequence < end:
            return False
        pieces = [[start, sequence], [sequence + 1, end]]
        self._gaps[at : at + 1] = [p for p in pieces if p[0] < p[1]]
        return True

    # -- time --

    def _jitter(self, arrived_ns: int, sent_ns: int) -> None:
        # Without the sender's time (0), the transit is the arrival alone: what
        # is left is the variation of the gaps between arrivals.
        transit = arrived_ns - sent_ns
        if self._transit is not None:
            self.jitter_ns += (abs(transit - self._transit) - self.jitter_ns) / 16
        self._transit = transit

    def report(self) -> StreamReport:
        delay = Delay()
        if self._delay_count:
            ordered = sorted(self._delays)
            rank = max(0, -(-99 * len(ordered) // 100) - 1)  # nearest rank
            assert self._delay_min is not None and self._delay_max is not None
            delay = Delay(
                min=_ms(self._delay_min),
                avg=_ms(self._delay_sum / self._delay_count),
                max=_ms(self._delay_max),
                p99=_ms(ordered[rank]),
            )
        first = None
        if self.first_ns is not None and self.joined_ns is not None:
            first = _ms(self.first_ns - self.joined_ns)
        return StreamReport(
            source=self.source,
            source_port=self.source_port,
            group=self.group,
            stream=self.stream,
            format=self.format,
            received=self.received,
            lost=self.lost,
            duplicates=self.duplicates,
            reordered=self.reordered,
            bytes=self.bytes,
            jitter_ms=round(self.jitter_ns / 1e6, 6),
            delay_ms=delay,
            delay_relative=self.delay_relative,
            first_after_join_ms=first,
        )


def _ms(nanoseconds: float) -> float:
    return round(nanoseconds / 1e6, 6)


StreamKey = tuple[str, int, str, int]  # source, source port, group, stream id
MAX_STREAMS = 10_000


@dataclass
class Streams:
    """Every stream a receiver heard, by (source, source port, group, stream id);
    at most :data:`MAX_STREAMS` (datagrams of streams past that are counted in
    ``untracked``, not measured)."""

    format: str = "auto"  # which header to read: auto, toolkit, iperf2, none
    joined_ns: int | None = None  # for every group, unless joined() says otherwise
    joins: dict[str, int] = field(default_factory=dict)  # group -> when it was joined
    by_key: dict[StreamKey, StreamStats] = field(default_factory=dict)
    untracked: int = 0
    finals: int = 0  # iperf2's FIN datagrams seen (not data)

    def add(
        self,
        source: str,
        source_port: int,
        group: str,
        payload: bytes,
        *,
        arrived_ns: int,
        stamp: Stamp | None,
    ) -> None:
        if stamp is not None and stamp.final:
            self.finals += 1
            return
        key = (source, source_port, group, stamp.stream if stamp else 0)
        stats = self.by_key.get(key)
        if stats is None:
            if len(self.by_key) >= MAX_STREAMS:
                self.untracked += 1
                return
            stats = self.by_key[key] = StreamStats(
                source,
                source_port,
                group,
                key[3],
                format=stamp.format if stamp else "none",
                joined_ns=self.joins.get(group, self.joined_ns),
            )
        stats.add(stamp, len(payload), arrived_ns)

    def joined(self, group: str, when_ns: int) -> None:
        """``group`` was joined at ``when_ns`` (the first join counts)."""
        self.joins.setdefault(group, when_ns)

    def reports(self) -> list[StreamReport]:
        return [
            self.by_key[key].report()
            for key in sorted(self.by_key, key=lambda k: (k[2], k[0], k[1], k[3]))
        ]
