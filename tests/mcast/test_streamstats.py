"""Stream statistics against known patterns: the numbers are worked out by hand
from the pattern, not from the code (RFC 3550's jitter is recomputed here from
its formula)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcast.streams._streamheader import (
    Stamp,
    decode,
    decode_iperf2,
    encode_iperf2,
    encode_toolkit,
    split_toolkit,
)
from mcast.streams._streamstats import Streams, StreamStats

MS = 1_000_000  # nanoseconds


def feed(order: list[int], *, sent_every: int = MS, delay: int = 2 * MS) -> StreamStats:
    stats = StreamStats("10.0.0.1", 5000, "232.1.1.1", 7, format="toolkit", joined_ns=0)
    for sequence in order:
        sent = 10 * MS + sequence * sent_every
        stats.add(Stamp("toolkit", 7, sequence, sent), 100, sent + delay)
    return stats


def test_a_clean_stream() -> None:
    report = feed(list(range(100))).report()
    assert (report.received, report.lost, report.duplicates, report.reordered) == (100, 0, 0, 0)
    assert report.delay_ms.min == report.delay_ms.max == report.delay_ms.p99 == 2.0
    assert report.jitter_ms == 0.0  # constant transit
    assert report.first_after_join_ms == 12.0  # sent at 10 ms, 2 ms on the way
    assert report.bytes == 100 * 100


def test_gaps_are_lost_until_they_arrive_late_then_reordered() -> None:
    stats = feed([0, 1, 5, 6])
    assert stats.lost == 3  # 2, 3, 4: proved missing by 5
    stats.add(Stamp("toolkit", 7, 3, 0), 100, 50 * MS)
    report = stats.report()
    assert (report.received, report.lost, report.reordered, report.duplicates) == (5, 2, 1, 0)


def test_duplicates_are_not_received_twice() -> None:
    report = feed([0, 1, 1, 2, 0, 2]).report()
    assert (report.received, report.duplicates, report.lost, report.reordered) == (3, 3, 0, 0)


def test_a_late_datagram_from_a_gap_is_reordered_once_then_a_duplicate() -> None:
    report = feed([0, 2, 1, 1]).report()
    assert (report.received, report.reordered, report.duplicates, report.lost) == (3, 1, 1, 0)


def test_delay_statistics_from_chosen_delays() -> None:
    stats = StreamStats("s", 1, "g", 0)
    delays_ms = list(range(1, 101))  # 1..100 ms
    for sequence, d in enumerate(delays_ms):
        stats.add(Stamp("toolkit", 0, sequence, 0), 50, d * MS)
    delay = stats.report().delay_ms
    assert (delay.min, delay.max, delay.avg) == (1.0, 100.0, 50.5)
    assert delay.p99 == 99.0  # nearest rank: the 99th of 100


def test_jitter_is_rfc_3550s() -> None:
    transits = [5, 7, 4, 9, 9, 3]  # ms
    stats = StreamStats("s", 1, "g", 0)
    for sequence, transit in enumerate(transits):
        sent = sequence * 20 * MS
        stats.add(Stamp("toolkit", 0, sequence, sent), 50, sent + transit * MS)
    expected = 0.0
    for before, after in itertools.pairwise(transits):
        expected += (abs(after - before) - expected) / 16
    assert stats.report().jitter_ms == pytest.approx(expected)


def test_a_sender_clock_ahead_makes_delay_relative() -> None:
    stats = StreamStats("s", 1, "g", 0)
    stats.add(Stamp("toolkit", 0, 0, 10 * MS), 50, 5 * MS)
    assert stats.report().delay_relative


def test_streams_are_kept_apart_and_iperf2_fins_are_not_data() -> None:
    streams = Streams(joined_ns=0)
    for source, stream in (("10.0.0.1", 1), ("10.0.0.1", 2), ("10.0.0.2", 1)):
        for sequence in range(3):
            payload = encode_toolkit(stream, sequence, 0, 64)
            streams.add(source, 5000, "232.1.1.1", payload, arrived_ns=MS, stamp=decode(payload))
    fin = encode_iperf2(-3, 0, 64)
    streams.add("10.0.0.3", 5001, "232.1.1.1", fin, arrived_ns=MS, stamp=decode(fin))
    reports = streams.reports()
    assert [(r.source, r.stream, r.received) for r in reports] == [
        ("10.0.0.1", 1, 3),
        ("10.0.0.1", 2, 3),
        ("10.0.0.2", 1, 3),
    ]
    assert streams.finals == 1


@given(
    sequence=st.integers(min_value=0, max_value=2**63 - 1),
    sent_ns=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_iperf2_headers_round_trip_at_microsecond_precision(sequence: int, sent_ns: int) -> None:
    stamp = decode_iperf2(encode_iperf2(sequence, sent_ns, 100))
    assert stamp is not None and stamp.sequence == sequence and not stamp.final
    seconds = (sent_ns // 1_000_000_000) & 0xFFFFFFFF  # iperf2 keeps 32-bit seconds
    assert stamp.sent_ns == seconds * 1_000_000_000 + sent_ns % 1_000_000_000 // 1000 * 1000


def test_auto_prefers_the_toolkit_and_refuses_text() -> None:
    assert decode(encode_toolkit(5, 9, 1, 40)) == Stamp("toolkit", 5, 9, 1)
    assert decode(b"mcast seq 1 from the old sender, plain text") is None
    assert decode(encode_toolkit(5, 9, 1, 40), "none") is None
    with pytest.raises(ValueError, match="at least 32"):
        encode_toolkit(1, 1, 1, 31)


def test_a_late_join_does_not_count_what_was_sent_before_it() -> None:
    report = feed([1000, 1001, 1003]).report()  # joined while the sender was at 1,000
    assert (report.received, report.lost) == (3, 1)  # only 1,002 is missing


@given(
    payloads=st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.builds(
                lambda stream, sequence, sent: encode_toolkit(stream, sequence, sent, 40),
                st.integers(0, 3),
                st.integers(0, 2**64 - 1),
                st.integers(0, 2**64 - 1),
            ),
            st.builds(
                lambda sequence, sent: encode_iperf2(sequence, sent, 24),
                st.integers(-(2**63), 2**63 - 1),
                st.integers(0, 2**63),
            ),
        ),
        max_size=60,
    )
)
def test_whatever_a_peer_sends_is_counted_and_never_raises(payloads: list[bytes]) -> None:
    streams = Streams()
    for n, payload in enumerate(payloads):
        streams.add("10.0.0.9", 9, "239.1.1.1", payload, arrived_ns=n, stamp=decode(payload))
    reports = streams.reports()
    counted = sum(r.received + r.duplicates for r in reports) + streams.finals
    assert counted == len(payloads)
    assert all(
        r.lost >= 0 and len(s._gaps) <= 2 * 4096
        for r, s in zip(reports, streams.by_key.values(), strict=False)
    )


def _datagram(stream: int, sequence: int, sent_ns: int, size: int) -> bytes:
    """The toolkit's header as docs/multicast.md lays it out, written here by hand."""
    head = b"MCST" + bytes([1, 0, 0, 0]) + stream.to_bytes(4, "big")
    head += sequence.to_bytes(8, "big") + sent_ns.to_bytes(8, "big") + size.to_bytes(4, "big")
    return head + b"\xaa" * (size - 32)


DATAGRAM = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(32, 300),
)


@given(st.lists(DATAGRAM, max_size=30))
def test_datagrams_a_program_wrote_back_to_back_are_cut_by_their_lengths(
    datagrams: list[tuple[int, int, int, int]],
) -> None:
    data = b"".join(_datagram(*d) for d in datagrams)
    stamps, rest = split_toolkit(data)
    assert [(s.stream, s.sequence, s.sent_ns) for s in stamps] == [d[:3] for d in datagrams]
    assert rest == 0


def test_a_torn_or_foreign_datagram_ends_the_cut_and_is_counted() -> None:
    two = _datagram(1, 0, 5, 40) + _datagram(1, 1, 6, 100)
    assert ([s.sequence for s in split_toolkit(two[:-1])[0]], split_toolkit(two[:-1])[1]) == (
        [0],
        99,
    )
    stamps, rest = split_toolkit(_datagram(1, 0, 5, 40) + b"hello" + _datagram(1, 1, 6, 40))
    assert [s.sequence for s in stamps] == [0] and rest == 45
    lying = bytearray(_datagram(1, 0, 5, 40))
    lying[28:32] = (10).to_bytes(4, "big")  # shorter than its own header
    assert split_toolkit(bytes(lying)) == ([], 40)
