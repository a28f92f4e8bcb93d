"""The seeds' two data modes (message: SOCK_RDM, stream: SOCK_STREAM): message
boundaries kept exactly, RM_SET_MESSAGE_BOUNDARY's message given in several
sends, partial receives (WSAEMSGSIZE / MSG_PARTIAL), and a stream that delivers
the same bytes whatever the packetisation; the pure parts first, then the
session drivers over a lossy in-memory wire."""

from __future__ import annotations

import itertools
import random
from typing import cast

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from mcast import McastBadInput
from mcast.pgm._pgmmodes import (
    BoundaryError,
    MessageBoundary,
    MessageParts,
    StreamBytes,
    StreamPacker,
)
from mcast.pgm._pgmnet import PgmTransport
from mcast.pgm._pgmreceiver import ReceiverConfig
from mcast.pgm._pgmsession import PgmListener, PgmSender, SenderOptions
from tests.mcast.test_pgm_sessions import GROUP, Wire

message = st.binary(max_size=300)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at the given points (sorted, within it): parts that join to it."""
    marks = sorted({min(p, len(data)) for p in points})
    edges = [0, *marks, len(data)]
    parts = [data[a:b] for a, b in itertools.pairwise(edges)]
    return [p for p in parts if p] or [b""]  # an empty send would be a message of its own


@given(st.lists(st.tuples(message, st.lists(st.integers(0, 300), max_size=5)), max_size=8))
def test_an_announced_message_given_in_parts_is_one_message(
    plan: list[tuple[bytes, list[int]]],
) -> None:
    boundary, out = MessageBoundary(), []
    for whole, points in plan:
        boundary.announce(len(whole))
        for part in cut(whole, points):
            done = boundary.give(part)
            if done is not None:
                out.append(done)
    assert out == [whole for whole, _ in plan]
    assert boundary.pending == 0


def test_without_an_announcement_each_send_is_a_message_and_parts_must_fit() -> None:
    boundary = MessageBoundary()
    assert [boundary.give(b"a"), boundary.give(b""), boundary.give(b"bc")] == [b"a", b"", b"bc"]
    boundary.announce(5)
    assert boundary.give(b"abc") is None and boundary.pending == 2
    with pytest.raises(BoundaryError, match="2 of its 5 octets remain"):
        boundary.give(b"xyz")
    with pytest.raises(BoundaryError, match="still lacks 2"):
        boundary.announce(3)
    assert boundary.give(b"de") == b"abcde"
    boundary.announce(0)
    assert boundary.give(b"") == b""  # an empty message, announced


@given(message, st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_a_message_larger_than_the_room_comes_in_parts_flagged_until_the_last(
    whole: bytes, rooms: list[int]
) -> None:
    parts = MessageParts()
    parts.hold(whole)
    got, flags = [], []
    for room in rooms * (len(whole) + 1):
        part, partial = parts.take(room)
        assert len(part) <= room
        got.append(part)
        flags.append(partial)
        if not partial:
            break
    assert b"".join(got) == whole
    assert flags[-1] is False and all(flags[:-1])
    assert not parts.holding


@given(st.lists(st.binary(max_size=200), max_size=20), st.integers(1, 64),
       st.lists(st.integers(1, 100), min_size=1, max_size=10))  # fmt: skip
def test_a_stream_delivers_the_same_bytes_whatever_the_packets_and_the_reads(
    sends: list[bytes], size: int, rooms: list[int]
) -> None:
    packer, reader = StreamPacker(size), StreamBytes()
    for data in sends:
        for packet in packer.give(data):
            assert len(packet) == size
            reader.hold(packet)
    rest = packer.flush()
    if rest is not None:
        assert 0 < len(rest) < size
        reader.hold(rest)
    out, turn = b"", 0
    while reader.held:
        room = rooms[turn % len(rooms)]
        piece = reader.take(room)
        assert 0 < len(piece) <= room
        out += piece
        turn += 1
    assert out == b"".join(sends)


# --- the session drivers, over a wire that loses 5 % of what it carries -------------------


async def session_pair(autojump_clock, options: SenderOptions, give, take, *, seed: int,
                       loss: float = 0.05) -> None:  # fmt: skip
    """A sender (``give(sender)`` sends) and one listener (``take(session)`` reads),
    over a wire with loss; both run to the session's end."""
    wire = Wire(loss, seed)
    end = wire.end("10.0.0.10")
    end.joined = True
    listener = PgmListener(cast(PgmTransport, end),
                           ReceiverConfig(GROUP, 7500, late_join=True, need_syn=True))  # fmt: skip
    sender = PgmSender(cast(PgmTransport, wire.end("10.0.1.1")), 7500, options)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listener.run)
        nursery.start_soon(sender.run)

        async def read() -> None:
            await take(await listener.accept())

        async with trio.open_nursery() as both:
            both.start_soon(read)
            await give(sender)
            await sender.finish(5.0)
        nursery.cancel_scope.cancel()


async def test_message_mode_keeps_every_boundary_through_loss(autojump_clock) -> None:
    rng = random.Random(3)
    # A window of 64 packets of 500 octets at 20 kB/s (1.6 s: room for the repairs'
    # round trips); messages of 0 octets to several windows, some announced and
    # given in parts.
    options = SenderOptions(rate=20_000, window=64, max_tsdu=500)
    sizes = [0, 1, 499, 500, 501, 5000, 0, 40_000, 77_777, 3]
    messages = [rng.randbytes(n) for n in sizes]
    got: list[bytes] = []

    async def give(sender: PgmSender) -> None:
        for index, whole in enumerate(messages):
            if index % 2:
                sender.set_message_boundary(len(whole))
                for part in cut(whole, [rng.randrange(len(whole) + 1) for _ in range(4)]):
                    await sender.send(part)
            else:
                await sender.send(whole)

    async def take(session) -> None:
        while (item := await session.receive_message()) is not None:
            data, partial = item
            assert not partial
            got.append(data)

    await session_pair(autojump_clock, options, give, take, seed=11)
    assert got == messages


async def test_a_receive_with_less_room_gets_the_message_in_partial_parts(autojump_clock) -> None:
    messages = [bytes([n]) * size for n, size in enumerate([3000, 10, 0, 2049])]
    parts: list[tuple[bytes, bool]] = []

    async def give(sender: PgmSender) -> None:
        for whole in messages:
            await sender.send(whole)

    async def take(session) -> None:
        while (item := await session.receive_message(1024)) is not None:
            parts.append(item)

    await session_pair(autojump_clock, SenderOptions(rate=2_000_000, max_tsdu=700),
                       give, take, seed=4)  # fmt: skip
    assert [(len(p), flag) for p, flag in parts] == [
        (1024, True), (1024, True), (952, False),  # 3000
        (10, False), (0, False),
        (1024, True), (1024, True), (1, False),  # 2049
    ]  # fmt: skip
    assert b"".join(p for p, _ in parts) == b"".join(messages)


async def test_stream_mode_delivers_the_same_bytes_whatever_the_sends(autojump_clock) -> None:
    rng = random.Random(7)
    sends = [rng.randbytes(rng.choice([1, 7, 300, 1400, 5000])) for _ in range(200)]
    received = bytearray()
    options = SenderOptions(rate=40_000, window=64, max_tsdu=1000, mode="stream")

    async def give(sender: PgmSender) -> None:
        for data in sends:
            await sender.send(data)

    async def take(session) -> None:
        while chunk := await session.receive_bytes(rng.choice([1, 100, 4096])):
            received.extend(chunk)

    await session_pair(autojump_clock, options, give, take, seed=8)
    assert bytes(received) == b"".join(sends)


def test_the_modes_refuse_what_they_do_not_have() -> None:
    with pytest.raises(McastBadInput, match="message or stream"):
        SenderOptions(mode="datagram")


async def test_a_stream_session_has_no_message_boundary_and_an_unfinished_message_is_said(
    autojump_clock,
) -> None:
    wire = Wire(0.0, 1)
    stream = PgmSender(cast(PgmTransport, wire.end("10.0.1.1")), 7500, SenderOptions(mode="stream"))
    with pytest.raises(McastBadInput, match="for message mode"):
        stream.set_message_boundary(10)
    sender = PgmSender(cast(PgmTransport, wire.end("10.0.1.2")), 7500, SenderOptions())
    sender.set_message_boundary(10)
    await sender.send(b"12345")
    with pytest.raises(McastBadInput, match="goes past the announced message"):
        await sender.send(b"123456")
    with pytest.raises(McastBadInput, match="still lacks 5 octets"):
        await sender.finish(0.1)


# --- RM_SENDER_STATISTICS and RM_RECEIVER_STATISTICS, under the seeds' names ----------------


def test_a_rate_meter_says_kilobits_a_second_overall_and_over_the_last_second() -> None:
    from mcast.pgm._pgmstats import RateMeter

    meter = RateMeter()
    for tenth in range(30):  # 125 octets every 0.1 s for 3 s: 10 kbit/s
        meter.add(10.0 + tenth / 10, 125)
    assert meter.overall_kbits(13.0) == 10 and meter.last_kbits(12.95) == 10
    assert meter.last_kbits(14.5) == 0  # a whole second went by with nothing
    assert RateMeter().overall_kbits(5.0) == 0


async def test_the_statistics_agree_between_the_ends_and_with_what_was_sent(
    autojump_clock,
) -> None:
    rng = random.Random(21)
    messages = [rng.randbytes(rng.choice([0, 100, 499, 2000, 9000])) for _ in range(120)]
    options = SenderOptions(rate=50_000, window=256, max_tsdu=500)
    ends: dict[str, object] = {}

    async def give(sender: PgmSender) -> None:
        for whole in messages:
            await sender.send(whole)
        ends["sender"] = sender

    async def take(session) -> None:
        while await session.receive() is not None:
            pass
        ends["session"] = session

    await session_pair(autojump_clock, options, give, take, seed=13)
    sent = ends["sender"].statistics  # type: ignore[attr-defined]
    got = ends["session"].statistics  # type: ignore[attr-defined]
    rs, rr = sent.RM_SENDER_STATISTICS, got.RM_RECEIVER_STATISTICS
    octets = sum(len(m) for m in messages)
    packets = sum(max(1, -(-len(m) // 500)) for m in messages) + 1  # and the FIN
    assert rs.DataBytesSent == octets and rs.TotalODataPacketsSent == packets
    # the window holds the last 256 packets sent
    assert (rs.TrailingEdgeSeqId, rs.LeadingEdgeSeqId) == (packets - 256, packets - 1)
    assert rs.RepairPacketsSent == sent.repairs_sent > 0 and rs.NaksReceived > 0
    assert rs.NumOutstandingNaks == 0 and rs.BufferSpaceAvailable == 256 * 500
    assert rs.TotalBytesSent > octets and 0 < rs.RateKBitsPerSecOverall <= 50_000 * 8 // 1000
    # Every data octet came, once: the 5 % the wire lost came as repairs.
    assert rr.DataBytesReceived == octets
    assert rr.NumODataPacketsReceived + rr.NumRDataPacketsReceived == packets
    assert rr.NumRDataPacketsReceived >= got.repairs_received > 0
    assert rr.TotalSelectiveNaksSent >= got.repairs_received
    assert (rr.TrailingEdgeSeqId, rr.LeadingEdgeSeqId) == (packets, packets - 1)  # all delivered
    assert (rr.NumPendingNaks, rr.NumOutstandingNaks, rr.NumDataPacketsBuffered) == (0, 0, 0)
    assert rr.FirstNakSequenceNumber == 0 and rr.TotalParityNaksSent == 0
    assert rr.MinSequencesInWindow <= rr.AverageSequencesInWindow <= rr.MaxSequencesInWindow
    assert rr.TotalBytesReceived > octets and rr.RateKBitsPerSecOverall > 0
    assert sent.to_json()["RM_SENDER_STATISTICS"]["DataBytesSent"] == octets


async def test_a_stream_send_that_waits_for_room_keeps_its_tail_behind_its_packets(
    autojump_clock,
) -> None:
    # A window of 2 packets: each send of 2.5 packets waits for room in the middle,
    # while the sender's loop runs; the half packet it keeps must still come last.
    sends = [bytes([n]) * 2500 for n in range(1, 60)]
    received = bytearray()
    options = SenderOptions(rate=2_000_000, window=2, max_tsdu=1000, mode="stream")

    async def give(sender: PgmSender) -> None:
        for data in sends:
            await sender.send(data)

    async def take(session) -> None:
        while chunk := await session.receive_bytes(65536):
            received.extend(chunk)

    await session_pair(autojump_clock, options, give, take, seed=2, loss=0.0)
    assert bytes(received) == b"".join(sends)
