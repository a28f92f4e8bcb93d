"""Pacing from a fixed start (no drift), rates with SI suffixes, and a paced
stream sent on loopback and measured by the receiver: every datagram numbered
once, in order, none lost."""

from __future__ import annotations

import pytest
import trio

from mcast._datagram import Datagram
from mcast.streams._pacing import Schedule, parse_rate
from mcast.streams._receiver import open_receiver
from mcast.streams._sender import open_sender
from mcast.streams._streamheader import decode
from mcast.streams._streaming import send_stream


def test_the_schedule_counts_from_the_start_not_from_the_last_send() -> None:
    s = Schedule(rate=1000, burst=10, start=100.0)
    assert s.due(100.0) == 10  # the first burst at the start
    assert s.due(100.0099) == 10 and s.due(100.01) == 20
    assert s.due(101.0) == 1010  # one second: 1,000 and the burst at t=1 s
    assert s.due(160.0, total=5000) == 5000  # a late wake-up sends what is due, capped
    assert s.next_time(25) == pytest.approx(100.02)  # datagram 25 is in the third burst
    assert Schedule(rate=0).due(5.0, total=7) == 7  # unpaced: everything at once


@pytest.mark.parametrize(
    ("text", "value"), [("10000", 1e4), ("2.5k", 2500), ("100M", 1e8), ("1G", 1e9), ("0", 0)]
)
def test_rates_take_si_suffixes(text: str, value: float) -> None:
    assert parse_rate(text) == value


@pytest.mark.parametrize("text", ["-5", "fast", "1T", "inf"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


async def test_a_paced_stream_on_loopback_arrives_whole_and_in_order() -> None:
    group = "239.1.9.9"
    async with open_receiver(0, measure="toolkit") as rx:
        rx.join(group, "lo")
        got: list[Datagram] = []
        with open_sender(group, interface="lo") as tx:
            report = await send_stream(tx, group, rx.port, size=64, count=500, rate=5000, burst=5)
        with trio.move_on_after(2):
            while len(got) < 500:
                got += await rx.receive_batch()
        assert rx.streams is not None
        (stream,) = rx.streams.reports()
    assert report.sent == 500 and report.errors == {}
    assert report.seconds >= 0.099  # paced: 100 bursts of 5, a millisecond apart
    sequences = [stamp.sequence for stamp in (decode(d.payload) for d in got) if stamp]
    assert sequences == list(range(500))
    assert (stream.received, stream.lost, stream.duplicates, stream.reordered) == (500, 0, 0, 0)
