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
from typing import Any

import numpy as np
import numpy.typing as npt

from ipv6 import Result

from ._streamheader import Stamp

MAX_GAPS = 4096
DELAY_SAMPLES = 65536
MAX_TIME = 1 << 61  # send times are clamped to this (about the year 2043): no overflow

Ints = npt.NDArray[np.int64]
Numbers = npt.NDArray[np.int64] | npt.NDArray[np.uint64]  # sequence numbers
Bools = npt.NDArray[np.bool_]
_CHUNK = 4096
_DECAY = (15 / 16) ** np.arange(_CHUNK + 1, dtype=np.float64)  # a^0 .. a^CHUNK


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
    _delays: Ints = field(default_factory=lambda: np.empty(64, np.int64))  # grows
    _delay_count: int = 0
    _delay_sum: float = 0.0
    _delay_min: int | None = None
    _delay_max: int | None = None

    @property
    def lost(self) -> int:
        return self.forgotten + sum(end - start for start, end in self._gaps)

    def add(self, stamp: Stamp | None, length: int, arrived_ns: int) -> None:
        """One datagram: its header (None: it has none), length and arrival time."""
        one = np.array([arrived_ns], np.int64)
        if stamp is None:
            self.add_many(None, None, one, np.array([length], np.int64))
        else:
            self.add_many(
                np.array([stamp.sequence], _sequence_type(stamp.sequence)),
                np.array([min(max(stamp.sent_ns, 0), MAX_TIME)], np.int64),
                one,
                np.array([length], np.int64),
            )

    def add_many(
        self,
        sequences: Numbers | None,
        sent_ns: Ints | None,
        arrived_ns: Ints,
        lengths: Ints,
    ) -> None:
        """Datagrams of this stream in the order they arrived, a column each: their
        sequence numbers and send times (None: they carry no header), arrival times
        (nanoseconds) and lengths. A batch costs about what one datagram does."""
        if not len(arrived_ns):
            return
        if self.first_ns is None:
            self.first_ns = int(arrived_ns[0])
        if sequences is None or sent_ns is None:
            self.received += len(arrived_ns)
            self.bytes += int(lengths.sum())
            # Without the sender's time, the transit is the arrival alone: what is
            # left is the variation of the gaps between arrivals.
            self._jitter(arrived_ns)
            return
        kept = self._sequence(sequences)
        if kept is not None:  # duplicates are not data: no bytes, jitter or delay
            sent_ns, arrived_ns, lengths = sent_ns[kept], arrived_ns[kept], lengths[kept]
        if not len(arrived_ns):
            return
        self.received += len(arrived_ns)
        self.bytes += int(lengths.sum())
        transit = arrived_ns - sent_ns
        self._jitter(transit)
        self._delay(transit)

    # -- sequence --

    def _sequence(self, sequences: Numbers) -> Bools | None:
        """Count the numbers' gaps, late arrivals and repeats; which datagrams are
        new (None: all of them)."""
        first, last, n = int(sequences[0]), int(sequences[-1]), len(sequences)
        if self.highest < 0 and self.received == 0:
            # The first datagram sets the baseline: what was sent before it (before
            # the join, or iperf2's numbering from 1) was never this receiver's to lose.
            self.highest = first - 1
        if first == self.highest + 1 and last - first == n - 1:
            steps = sequences[1:] - sequences[:-1]
            if bool((steps == 1).all()):  # the usual case: each one more than the last
                self.highest = last
                return None
        if first > self.highest and bool((sequences[1:] > sequences[:-1]).all()):
            # Rising, with gaps: each gap is proved lost by the number after it.
            if first > self.highest + 1:
                self._gap(self.highest + 1, first)
            steps = sequences[1:] - sequences[:-1]
            for at in np.flatnonzero(steps != 1).tolist():
                self._gap(int(sequences[at]) + 1, int(sequences[at + 1]))
            self.highest = last
            return None
        kept = np.ones(len(sequences), np.bool_)
        for at, sequence in enumerate(sequences.tolist()):
            if sequence == self.highest + 1:
                self.highest = sequence
            elif sequence <= self.highest:
                if self._fill(sequence):
                    self.reordered += 1
                else:
                    self.duplicates += 1
                    kept[at] = False
            else:
                self._gap(self.highest + 1, sequence)
                self.highest = sequence
        return kept

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

    def _jitter(self, transit: Ints) -> None:
        """RFC 3550's J += (|D| - J) / 16 over consecutive transits, a batch at once:
        after m differences, J = a^m J + sum(a^(m-k) |D_k|) / 16 with a = 15/16."""
        jitter = self.jitter_ns
        if self._transit is not None:  # the difference from the last batch's last
            jitter += (abs(int(transit[0]) - self._transit) - jitter) / 16
        self._transit = int(transit[-1])
        differences = np.abs(transit[1:] - transit[:-1])
        for start in range(0, len(differences), _CHUNK):
            part = differences[start : start + _CHUNK]
            m = len(part)
            jitter = float(_DECAY[m] * jitter + (_DECAY[m - 1 :: -1] @ part) / 16)
        self.jitter_ns = jitter

    def _delay(self, transit: Ints) -> None:
        """One-way delays: min, max and sum over all; the newest kept for the p99."""
        low, high = int(transit.min()), int(transit.max())
        if low < 0:
            self.delay_relative = True  # the sender's clock is ahead: not a common clock
        count = self._delay_count
        if count == 0 or low < self._delay_min:  # type: ignore[operator]
            self._delay_min = low
        if count == 0 or high > self._delay_max:  # type: ignore[operator]
            self._delay_max = high
        self._delay_count = count + len(transit)
        self._delay_sum += float(transit.sum(dtype=np.float64))
        # The most recent DELAY_SAMPLES delays make the percentile: a ring, grown
        # by doubling until it is that long.
        newest = transit[-DELAY_SAMPLES:]
        needed = min(count + len(transit), DELAY_SAMPLES)
        if len(self._delays) < needed:
            grown = np.empty(min(DELAY_SAMPLES, max(needed, 2 * len(self._delays))), np.int64)
            grown[: min(count, len(self._delays))] = self._delays[: min(count, len(self._delays))]
            self._delays = grown
        at = (count + len(transit) - len(newest)) % DELAY_SAMPLES
        head = min(len(newest), DELAY_SAMPLES - at)
        self._delays[at : at + head] = newest[:head]
        if head < len(newest):
            self._delays[: len(newest) - head] = newest[head:]

    def report(self) -> StreamReport:
        delay = Delay()
        if self._delay_count:
            kept = self._delays[: min(self._delay_count, DELAY_SAMPLES)]
            rank = max(0, -(-99 * len(kept) // 100) - 1)  # nearest rank
            assert self._delay_min is not None and self._delay_max is not None
            delay = Delay(
                min=_ms(self._delay_min),
                avg=_ms(self._delay_sum / self._delay_count),
                max=_ms(self._delay_max),
                p99=_ms(int(np.partition(kept, rank)[rank])),
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


def _sequence_type(sequence: int) -> type[np.integer[Any]]:
    return np.uint64 if sequence >= 0 else np.int64


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
        """One datagram (a batch goes faster through :meth:`stream` and
        :meth:`StreamStats.add_many`)."""
        if stamp is not None and stamp.final:
            self.finals += 1
            return
        stats = self.stream(
            (source, source_port, group, stamp.stream if stamp else 0),
            stamp.format if stamp else "none",
            1,
        )
        if stats is not None:
            stats.add(stamp, len(payload), arrived_ns)

    def stream(self, key: StreamKey, format: str, datagrams: int) -> StreamStats | None:
        """The numbers of stream ``key``, made on its first datagram; None (and its
        ``datagrams`` counted as untracked) once there are MAX_STREAMS."""
        stats = self.by_key.get(key)
        if stats is None:
            if len(self.by_key) >= MAX_STREAMS:
                self.untracked += datagrams
                return None
            stats = self.by_key[key] = StreamStats(
                *key, format=format, joined_ns=self.joins.get(key[2], self.joined_ns)
            )
        return stats

    def joined(self, group: str, when_ns: int) -> None:
        """``group`` was joined at ``when_ns`` (the first join counts)."""
        self.joins.setdefault(group, when_ns)

    def reports(self) -> list[StreamReport]:
        return [
            self.by_key[key].report()
            for key in sorted(self.by_key, key=lambda k: (k[2], k[0], k[1], k[3]))
        ]
