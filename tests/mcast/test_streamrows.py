"""Statistics for whole batches, from buffers laid out as recvmmsg leaves them.

The buffers are written here byte by byte from the Linux ABI (struct cmsghdr,
struct timespec, struct in_pktinfo and in6_pktinfo, sockaddr_in and _in6),
not with the module's own layouts, and the expected numbers are worked out by
hand from the patterns sent."""

from __future__ import annotations

import itertools
import socket
import struct

import pytest

from mcast.streams._streamheader import encode_iperf2, encode_toolkit
from mcast.streams._streamrows import BatchColumns, control_layout
from mcast.streams._streamstats import Streams, StreamStats

MS = 1_000_000
SLOTS, SIZE, NAME, SPACE = 16, 64, 28, 128
SOL_SOCKET, SO_TIMESTAMPNS, SO_RXQ_OVFL = 1, 35, 40
IP_PKTINFO, IPV6_PKTINFO = 8, 50


def cmsg(level: int, kind: int, data: bytes) -> bytes:
    length = 16 + len(data)
    return struct.pack("=QiI", length, level, kind) + data + bytes(-length % 8)


def arrival(ns: int) -> bytes:
    return cmsg(SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("=qq", *divmod(ns, 1_000_000_000)))


def info4(group: str) -> bytes:
    data = struct.pack("=i", 2) + socket.inet_aton("0.0.0.0") + socket.inet_aton(group)
    return cmsg(0, IP_PKTINFO, data)


def info6(group: str) -> bytes:
    return cmsg(41, IPV6_PKTINFO, socket.inet_pton(socket.AF_INET6, group) + struct.pack("=I", 2))


def name4(source: str, port: int) -> bytes:
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(source)


def name6(source: str, port: int) -> bytes:
    raw = socket.inet_pton(socket.AF_INET6, source)
    return struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0) + raw


class Batch:
    """Fixed slots, filled row by row as the kernel would."""

    def __init__(self) -> None:
        self.payloads = bytearray(SLOTS * SIZE)
        self.names = bytearray(SLOTS * NAME)
        self.controls = bytearray(SLOTS * SPACE)
        self.columns = BatchColumns(
            self.payloads,
            self.names,
            self.controls,
            count=SLOTS,
            size=SIZE,
            name_size=NAME,
            space=SPACE,
        )
        self.rows: list[tuple[int, int]] = []

    def put(self, payload: bytes, name: bytes, control: bytes) -> None:
        row = len(self.rows)
        self.payloads[row * SIZE : row * SIZE + len(payload)] = payload
        self.names[row * NAME : row * NAME + len(name)] = name
        self.controls[row * SPACE : row * SPACE + len(control)] = control
        self.rows.append((len(payload), len(control)))

    def measure(self, streams: Streams, *, ipv6: bool = False, now_ns: int = 0) -> None:
        import numpy as np

        lengths = np.array([r[0] for r in self.rows], np.int64)
        controls = np.array([r[1] for r in self.rows], np.int64)
        self.columns.measure(streams, lengths, controls, ipv6=ipv6, now_ns=now_ns)
        self.rows.clear()  # the next batch reuses the slots, as recvmmsg does


def toolkit(batch: Batch, source: str, stream: int, sequence: int, *, sent: int, at: int) -> None:
    payload = encode_toolkit(stream, sequence, sent, 48)
    batch.put(payload, name4(source, 5000), arrival(at) + info4("232.1.1.1"))


def test_one_stream_over_two_batches_gap_late_repeat_delay_and_jitter() -> None:
    streams = Streams(joined_ns=0)
    batch = Batch()
    transits = [2, 3, 2, 5, 2]  # ms, for 0, 1, 2, 4, 5 (3 is missing from the first batch)
    for sequence, transit in zip([0, 1, 2, 4, 5], transits, strict=True):
        sent = 10 * MS + sequence * MS
        toolkit(batch, "10.0.0.1", 7, sequence, sent=sent, at=sent + transit * MS)
    batch.measure(streams)
    (report,) = streams.reports()
    assert (report.received, report.lost, report.reordered, report.duplicates) == (5, 1, 0, 0)
    # Second batch: 3 arrives late, 5 again, then 6.
    toolkit(batch, "10.0.0.1", 7, 3, sent=13 * MS, at=30 * MS)  # 17 ms on the way
    toolkit(batch, "10.0.0.1", 7, 5, sent=15 * MS, at=31 * MS)
    toolkit(batch, "10.0.0.1", 7, 6, sent=16 * MS, at=18 * MS)  # 2 ms
    batch.measure(streams)
    (report,) = streams.reports()
    assert (report.received, report.lost, report.reordered, report.duplicates) == (7, 0, 1, 1)
    assert (report.delay_ms.min, report.delay_ms.max) == (2.0, 17.0)
    assert report.delay_ms.avg == pytest.approx((2 + 3 + 2 + 5 + 2 + 17 + 2) / 7)
    assert report.first_after_join_ms == 12.0
    expected = 0.0  # the repeat of 5 is not data: it makes no jitter
    order = [*transits, 17, 2]
    for before, after in itertools.pairwise(order):
        expected += (abs(after - before) - expected) / 16
    assert report.jitter_ms == pytest.approx(expected)
    assert report.bytes == 7 * 48


def test_a_mixed_batch_is_split_by_source_stream_and_format() -> None:
    streams = Streams(joined_ns=0)
    batch = Batch()
    for sequence in range(3):
        toolkit(batch, "10.0.0.1", 1, sequence, sent=MS, at=2 * MS)
        toolkit(batch, "10.0.0.1", 2, sequence, sent=MS, at=2 * MS)
        toolkit(batch, "10.0.0.2", 1, sequence, sent=MS, at=2 * MS)
    iperf2 = name4("10.0.0.3", 6000), arrival(5 * MS) + info4("232.1.1.1")
    batch.put(encode_iperf2(1, 4 * MS, 40), *iperf2)
    batch.put(encode_iperf2(3, 4 * MS, 40), *iperf2)  # 2 is missing
    batch.put(encode_iperf2(-4, 4 * MS, 40), *iperf2)  # the FIN: not data
    batch.put(b"plain text, no header", name4("10.0.0.4", 7000), arrival(MS) + info4("232.1.1.1"))
    batch.measure(streams)
    rows = [
        (r.source, r.source_port, r.stream, r.format, r.received, r.lost) for r in streams.reports()
    ]
    assert rows == [
        ("10.0.0.1", 5000, 1, "toolkit", 3, 0),
        ("10.0.0.1", 5000, 2, "toolkit", 3, 0),
        ("10.0.0.2", 5000, 1, "toolkit", 3, 0),
        ("10.0.0.3", 6000, 0, "iperf2", 2, 1),
        ("10.0.0.4", 7000, 0, "none", 1, 0),
    ]
    assert streams.finals == 1
    by_source = {r.source: r for r in streams.reports()}
    assert by_source["10.0.0.3"].delay_ms.min == 1.0
    assert by_source["10.0.0.4"].delay_ms.min is None  # no sender's time, no delay


def test_iperf2_numbers_with_and_without_the_high_word() -> None:
    streams = Streams(format="iperf2")
    batch = Batch()
    control = arrival(MS) + info4("239.1.1.1")
    big = (1 << 32) + 5  # needs the high word (HEADER_SEQNO64B)
    for sequence in (big, big + 1, big + 3):
        batch.put(encode_iperf2(sequence, 0, 40), name4("10.0.0.1", 1), control)
    for sequence in (7, 8):  # 12 bytes: id, tv_sec, tv_usec only (32-bit numbers)
        batch.put(encode_iperf2(sequence, 0, 40)[:12], name4("10.0.0.2", 1), control)
    batch.measure(streams)
    wide, narrow = streams.reports()
    assert (wide.received, wide.lost, narrow.received, narrow.lost) == (3, 1, 2, 0)
    assert streams.by_key[("10.0.0.1", 1, "239.1.1.1", 0)].highest == big + 3


def test_control_data_of_another_layout_is_read_alone() -> None:
    streams = Streams(joined_ns=0)
    batch = Batch()
    usual = arrival(3 * MS) + info4("232.1.1.1")
    batch.put(encode_toolkit(0, 0, MS, 40), name4("10.0.0.1", 1), usual)
    # The drop counter appears once the socket has dropped: longer control data.
    dropped = arrival(4 * MS) + cmsg(SOL_SOCKET, SO_RXQ_OVFL, struct.pack("=I", 9))
    batch.put(encode_toolkit(0, 1, MS, 40), name4("10.0.0.1", 1), dropped + info4("232.1.1.1"))
    # As long as the usual, but other messages where the usual ones were learnt.
    swapped = info4("232.1.1.1") + arrival(6 * MS)
    assert len(swapped) == len(usual)
    batch.put(encode_toolkit(0, 2, MS, 40), name4("10.0.0.1", 1), swapped)
    # No arrival time at all: the time the batch was read.
    batch.put(encode_toolkit(0, 3, MS, 40), name4("10.0.0.1", 1), info4("232.1.1.1"))
    batch.measure(streams, now_ns=8 * MS)
    (report,) = streams.reports()
    assert report.received == 4 and report.group == "232.1.1.1"
    stats = streams.by_key[("10.0.0.1", 1, "232.1.1.1", 0)]
    assert stats._delays[:4].tolist() == [2 * MS, 3 * MS, 5 * MS, 7 * MS]


def test_ipv6_sources_and_groups() -> None:
    streams = Streams()
    batch = Batch()
    control = arrival(2 * MS) + info6("ff3e::4321")
    for sequence in range(4):
        batch.put(encode_toolkit(9, sequence, MS, 40), name6("2001:db8::2", 4000), control)
    batch.measure(streams, ipv6=True)
    (report,) = streams.reports()
    assert (report.source, report.source_port, report.group, report.stream) == (
        "2001:db8::2",
        4000,
        "ff3e::4321",
        9,
    )
    assert (report.received, report.delay_ms.max) == (4, 1.0)


def test_format_none_counts_without_reading_headers() -> None:
    streams = Streams(format="none")
    batch = Batch()
    for sequence in range(3):
        batch.put(encode_toolkit(1, sequence, 0, 40), name4("10.0.0.1", 1), arrival(MS))
    batch.measure(streams)
    (report,) = streams.reports()
    assert (report.format, report.received, report.stream, report.group) == ("none", 3, 0, "")


def test_a_learnt_layout_needs_both_messages() -> None:
    assert control_layout(arrival(1)) is None
    layout = control_layout(arrival(1) + info6("ff02::1"))
    assert layout is not None and layout.address_size == 16


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_statistics_do_not_depend_on_how_datagrams_are_batched(chunk: int) -> None:
    import numpy as np

    order = [0, 1, 2, 4, 5, 3, 5, 7, 9, 8, 8, 10]  # 0..10 but 6; 3, 8 late; 5, 8 twice
    stats = StreamStats("s", 1, "g", 0)
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        sent = np.array([s * MS for s in part], np.int64)
        stats.add_many(
            np.array(part, np.uint64), sent, sent + 2 * MS, np.full(len(part), 10, np.int64)
        )
    report = stats.report()
    assert (report.received, report.lost, report.reordered, report.duplicates) == (10, 1, 2, 2)
    assert report.bytes == 100 and report.delay_ms.max == 2.0 and report.jitter_ms == 0.0
