"""The PGM source and receiver state machines, without a network: a simulated
link with seeded random loss carries every packet (encoded and decoded again
by the codec) between one source and three receivers, on a simulated clock.
What each receiver hands over is compared with what the source was given."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

import pytest

from mcast.pgm._pgm import (
    Data,
    Header,
    Nak,
    Options,
    PgmType,
    Spm,
    decode_pgm_untrusted,
    encode_pgm,
)
from mcast.pgm._pgmreceiver import Deliver, Receiver, ReceiverConfig, SendNak, Unrecoverable
from mcast.pgm._pgmsource import EARLY_SPMS, Source, SourceConfig, after

GROUP, SOURCE = IPv4Address("239.192.0.1"), IPv4Address("10.0.0.1")
GSI = bytes.fromhex("0a0000010001")


def apdus(count: int, seed: int = 1) -> list[bytes]:
    """Each one different (it starts with its number), of sizes from 4 octets to 9 KB."""
    rng = random.Random(seed)
    return [n.to_bytes(4, "big") + rng.randbytes(rng.choice([0, 100, 1400, 3000, 9000]))
            for n in range(count)]  # fmt: skip


@dataclass
class Listener:
    receiver: Receiver
    loss: float
    joins_at: float = 0.0
    drops: set[int] = field(default_factory=set)  # data sequence numbers lost once, for sure
    delivered: list[bytes] = field(default_factory=list)
    lost: list[Unrecoverable] = field(default_factory=list)


class Link:
    """One source, several receivers, every packet through the codec, seeded loss."""

    def __init__(self, source: Source, listeners: list[Listener], seed: int = 7) -> None:
        self.source, self.listeners = source, listeners
        self.rng = random.Random(seed)
        self.now = 0.0
        self.naks_on_wire = 0

    def carry(self, packet: Any, to: Listener) -> Any:
        if self.now < to.joins_at or self.rng.random() < to.loss:
            return None
        if isinstance(packet, Data) and packet.sqn in to.drops:
            to.drops.discard(packet.sqn)
            return None
        return decode_pgm_untrusted(encode_pgm(packet))

    def to_receivers(self, packets: list[Any]) -> None:
        for packet in packets:
            for listener in self.listeners:
                arrived = self.carry(packet.packet, listener)
                if arrived is not None:
                    self.act(listener, listener.receiver.receive(arrived, self.now))

    def act(self, listener: Listener, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Deliver):
                listener.delivered.append(action.apdu)
            elif isinstance(action, Unrecoverable):
                listener.lost.append(action)
            elif isinstance(action, SendNak):
                assert action.to == SOURCE
                self.naks_on_wire += 1
                if self.rng.random() >= listener.loss:  # NAKs get lost too
                    nak = decode_pgm_untrusted(encode_pgm(action.packet))
                    self.to_receivers(self.source.receive(nak, self.now))

    def run(self, data: list[bytes], *, until: float = 120.0, close: bool = True) -> None:
        pending = list(data)
        closed = False
        while self.now < until:
            while pending and self.source.send(pending[0]):
                pending.pop(0)
            if not pending and close and not closed:
                self.source.close()
                closed = True
            self.to_receivers(self.source.tick(self.now))
            for listener in self.listeners:
                self.act(listener, listener.receiver.tick(self.now))
            if closed and self.source.idle and all(
                    not listener.receiver.missing and listener.receiver.finished
                    for listener in self.listeners):  # fmt: skip
                return
            deadlines = [self.source.next_deadline()] + [
                d for listener in self.listeners
                if (d := listener.receiver.next_deadline()) is not None
            ]  # fmt: skip
            self.now = max(self.now + 1e-4, min(deadlines))


def session(*, loss: float = 0.0, receivers: int = 3, window: int = 4096, rate: int = 10**7,
            late_join: bool = False, joins_at: float = 0.0, first_sqn: int = 0,
            seed: int = 7, need_syn: bool = False) -> Link:  # fmt: skip
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, rate=rate, window=window,
                                 first_sqn=first_sqn), now=0.0)  # fmt: skip
    listeners = []
    for index in range(receivers):
        rng = random.Random(seed * 100 + index)
        config = ReceiverConfig(GROUP, 7500, late_join=late_join, need_syn=need_syn)
        listeners.append(Listener(Receiver(config, (GSI, 4000), rng.random), loss,
                                  joins_at if index == 0 else 0.0))  # fmt: skip
    return Link(source, listeners, seed)


def test_without_loss_every_receiver_gets_every_apdu_and_no_nak_is_sent() -> None:
    data = apdus(300)
    link = session()
    link.run(data)
    for listener in link.listeners:
        assert listener.delivered == data and not listener.lost
        assert listener.receiver.statistics.naks_sent == 0
    assert link.source.statistics.repairs_sent == 0
    assert link.source.statistics.bytes_sent == sum(len(a) for a in data)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_five_percent_loss_naks_and_repairs_make_it_whole(seed: int) -> None:
    data = apdus(400, seed)
    link = session(loss=0.05, seed=seed)
    link.run(data)
    for listener in link.listeners:
        assert listener.delivered == data, (len(listener.delivered), listener.lost[:3])
        stats = listener.receiver.statistics
        assert stats.naks_sent > 0 and stats.repairs_received > 0 and not listener.lost
    assert link.source.statistics.repairs_sent > 0 and link.source.statistics.ncfs_sent > 0


def test_an_ncf_suppresses_the_other_receivers_nak() -> None:
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE), now=0.0)
    for n in range(3):
        source.send(bytes([n]))
    spm, *sent = (t.packet for t in source.tick(0.0))
    data = [p for p in sent if isinstance(p, Data)]  # the early SPMs between them aside
    quick = Receiver(ReceiverConfig(GROUP, 7500), (GSI, 4000), lambda: 0.0)
    slow = Receiver(ReceiverConfig(GROUP, 7500), (GSI, 4000), lambda: 0.99)
    for receiver in (quick, slow):
        receiver.receive(spm, 0.0)
        for packet in (data[0], data[2]):  # both lost sequence number 1
            receiver.receive(packet, 0.0)
    (nak,) = quick.tick(0.001)
    assert isinstance(nak, SendNak) and nak.packet.sqn == 1 and slow.tick(0.001) == []
    (ncf,) = (t.packet for t in source.receive(nak.packet, 0.002))
    assert slow.receive(ncf, 0.003) == [] and quick.receive(ncf, 0.003) == []
    assert slow.tick(0.1) == []  # its back-off ended after the NCF: no NAK of its own
    assert slow.statistics.naks_sent == 0 and quick.statistics.naks_sent == 1
    (repair,) = (t.packet for t in source.tick(0.004))
    assert isinstance(repair, Data) and repair.repair and repair.sqn == 1
    for receiver in (quick, slow):
        assert receiver.receive(repair, 0.005) == [Deliver(bytes([1])), Deliver(bytes([2]))]
        assert receiver.statistics.repairs_received == 1


def test_loss_the_window_cannot_repair_is_said_with_its_offset_and_nothing_corrupt_is_given(
) -> None:  # fmt: skip
    data = apdus(600, 5)
    link = session(loss=0.4, window=32, seed=5)
    link.run(data, until=60.0)
    for listener in link.listeners:
        assert listener.lost, "40 % loss with a 32-packet window must lose something"
        first = listener.lost[0]
        # Everything handed over is a whole APDU of the source's, in order.
        positions = [data.index(apdu) for apdu in listener.delivered]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        prefix = 0
        for index, apdu in enumerate(data):
            if index >= len(listener.delivered) or listener.delivered[index] != apdu:
                break
            prefix += len(apdu)
        assert first.offset == prefix  # the octets delivered before the first loss
        assert listener.receiver.statistics.lost_unrecoverable >= 1


def test_a_late_joiner_gets_what_the_window_still_holds_then_the_rest() -> None:
    data = apdus(400, 6)
    link = session(late_join=True, joins_at=0.05, rate=2_000_000)
    link.run(data)
    late, early = link.listeners[0], link.listeners[1]
    assert early.delivered == data
    assert late.delivered == data  # the window (4,096 packets) still held the beginning
    assert late.receiver.statistics.naks_sent > 0


def test_without_late_join_it_starts_where_it_came_in() -> None:
    data = apdus(400, 6)
    link = session(late_join=False, joins_at=0.05, rate=2_000_000)
    link.run(data)
    late = link.listeners[0]
    assert late.receiver.statistics.naks_sent == 0 and not late.lost
    assert 0 < len(late.delivered) < len(data)
    assert late.delivered == data[-len(late.delivered) :]


def test_the_first_packet_lost_is_asked_for_when_the_beginning_is_needed() -> None:
    data = apdus(50, 9)
    link = session(late_join=True, need_syn=True)
    for listener in link.listeners:
        listener.drops = {0}  # the packet with OPT_SYN
    link.run(data)
    for listener in link.listeners:
        assert listener.delivered == data and not listener.lost
        assert listener.receiver.statistics.repairs_received >= 1


def test_a_receiver_that_joins_after_the_beginning_left_the_window_says_so() -> None:
    data = apdus(400, 10)
    link = session(late_join=True, need_syn=True, joins_at=0.2, rate=2_000_000, window=64)
    link.run(data, until=20.0)
    late = link.listeners[0]
    assert late.delivered == []
    (lost,) = late.lost
    assert lost.offset == 0 and "beginning has left the sender's window" in lost.why
    assert late.receiver.refused and late.receiver.tick(100.0) == []
    assert link.listeners[1].delivered == data


def test_a_source_without_opt_syn_is_had_from_the_start_its_first_spm_shows() -> None:
    # OpenPGM marks no first packet with OPT_SYN; its first SPM shows an empty window
    # (leading edge one before the trailing edge), and an SPM with OPT_FIN ends it.
    header = Header(4000, 7500, GSI)
    receiver = Receiver(ReceiverConfig(GROUP, 7500, late_join=True, need_syn=True),
                        (GSI, 4000), lambda: 0.5)  # fmt: skip
    assert receiver.receive(Spm(header, 0, 100, 99, SOURCE), 0.0) == []
    out = [receiver.receive(Data(header, sqn, 100, bytes([sqn])), 0.1) for sqn in (100, 101)]
    assert out == [[Deliver(bytes([100]))], [Deliver(bytes([101]))]]
    assert not receiver.finished
    receiver.receive(Spm(header, 1, 100, 102, SOURCE, Options(fin=True)), 0.2)
    assert not receiver.finished  # 102 is still to come
    assert receiver.receive(Data(header, 102, 100, b"end"), 0.3) == [Deliver(b"end")]
    assert receiver.finished


def test_without_that_spm_a_session_with_no_opt_syn_is_refused_when_the_start_is_needed() -> None:
    header = Header(4000, 7500, GSI)
    receiver = Receiver(ReceiverConfig(GROUP, 7500, late_join=True, need_syn=True),
                        (GSI, 4000), lambda: 0.5)  # fmt: skip
    (lost,) = receiver.receive(Data(header, 100, 100, b"x"), 0.0)
    assert isinstance(lost, Unrecoverable) and lost.offset == 0 and receiver.refused


def test_a_window_aged_while_idle_still_shows_data_was_sent() -> None:
    # A window that ages (window_seconds) keeps its newest packet: an SPM of an empty
    # window would tell a receiver joining now that the session starts there.
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, window_seconds=1.0), now=0.0)
    for apdu in (b"one", b"two"):
        assert source.send(apdu)
    sent = [t.packet for t in source.tick(0.0) if isinstance(t.packet, Data)]
    assert [p.sqn for p in sent] == [0, 1]
    spms = [t.packet for t in source.tick(60.0) if isinstance(t.packet, Spm)]
    assert spms and (spms[-1].trail, spms[-1].lead) == (1, 1)
    receiver = Receiver(ReceiverConfig(GROUP, 7500, late_join=True, need_syn=True),
                        (GSI, 4000), lambda: 0.5)  # fmt: skip
    receiver.receive(spms[-1], 60.0)
    assert not receiver.start_known
    assert source.send(b"three")
    actions, now = [], 61.0
    while not receiver.refused and now < 70.0:  # it asks for 1, and learns 1 is gone
        for transmit in source.tick(now):
            actions += receiver.receive(transmit.packet, now)
        for action in receiver.tick(now):
            actions.append(action)
            if isinstance(action, SendNak):
                source.receive(action.packet, now)
        now += 0.05
    assert receiver.refused and not any(isinstance(a, Deliver) for a in actions)
    (lost,) = [a for a in actions if isinstance(a, Unrecoverable)]
    assert lost.offset == 0 and "beginning has left" in lost.why


def test_a_source_that_falls_silent_before_its_end_is_gone_after_the_peer_expiry() -> None:
    header = Header(4000, 7500, GSI)
    receiver = Receiver(ReceiverConfig(GROUP, 7500, peer_expiry=30.0), (GSI, 4000), lambda: 0.5)
    receiver.receive(Spm(header, 0, 100, 99, SOURCE), 0.0)
    for sqn in (100, 101):
        receiver.receive(Data(header, sqn, 100, b"abc"), 1.0)
    receiver.receive(Spm(header, 1, 100, 103, SOURCE), 2.0)  # 102 and 103 exist, unseen
    assert receiver.next_deadline() is not None
    receiver.missing.clear()  # (their NAKs are not what this test is about)
    assert receiver.next_deadline() == 32.0 and receiver.tick(31.9) == []
    (gone,) = receiver.tick(32.0)
    assert isinstance(gone, Unrecoverable) and (gone.first, gone.last, gone.offset) == (102, 103, 6)
    assert "fell silent for 30 s" in gone.why and receiver.expired
    assert receiver.receive(Data(header, 102, 100, b"late"), 33.0) == []
    assert receiver.tick(100.0) == [] and receiver.next_deadline() is None


def test_a_session_that_ended_does_not_expire() -> None:
    header = Header(4000, 7500, GSI)
    receiver = Receiver(ReceiverConfig(GROUP, 7500, peer_expiry=30.0), (GSI, 4000), lambda: 0.5)
    receiver.receive(Spm(header, 0, 100, 99, SOURCE), 0.0)
    out = receiver.receive(Data(header, 100, 100, b"all", options=Options(fin=True)), 1.0)
    assert out == [Deliver(b"all")] and receiver.finished
    assert receiver.next_deadline() is None and receiver.tick(1000.0) == []


def test_a_source_that_limits_late_joiners_says_where_with_opt_join() -> None:
    # RM_LATEJOIN: a late joiner may ask for 50 % of what the window holds, no more.
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, late_join=50), now=0.0)
    for n in range(100):
        assert source.send(n.to_bytes(2, "big"))
    sent = [t.packet for t in source.tick(0.0) if isinstance(t.packet, Data)]
    assert [p.options.join for p in sent[:3]] == [0, 0, 1]  # half of 1, 2, 3 held
    assert sent[-1].options.join == 99 - 100 * 50 // 100
    receiver = Receiver(ReceiverConfig(GROUP, 7500, late_join=True), (GSI, 4000), lambda: 0.5)
    assert receiver.receive(sent[-1], 0.1) == []
    assert receiver.next == 49 and set(receiver.missing) == set(range(49, 99))
    for packet in sent[49:99]:
        receiver.receive(packet, 0.2)
    assert receiver.statistics.apdus_delivered == 51  # 49 to 99, nothing older


def test_without_opt_join_a_late_joiner_may_ask_for_the_whole_window() -> None:
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE), now=0.0)
    for n in range(10):
        source.send(bytes([n]))
    sent = [t.packet for t in source.tick(0.0) if isinstance(t.packet, Data)]
    assert all(p.options.join is None for p in sent)
    receiver = Receiver(ReceiverConfig(GROUP, 7500, late_join=True), (GSI, 4000), lambda: 0.5)
    receiver.receive(sent[-1], 0.1)
    assert receiver.next == 0


def test_sequence_numbers_wrap() -> None:
    data = apdus(200, 8)
    link = session(loss=0.05, first_sqn=0xFFFFFFFF - 50)
    link.run(data)
    for listener in link.listeners:
        assert listener.delivered == data
    assert after(0, 0xFFFFFFFF) and not after(0xFFFFFFFF, 0)


def test_the_rate_holds_and_the_window_keeps_its_size() -> None:
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, rate=100_000, window=50),
                    now=0.0)  # fmt: skip
    sent = 0
    now = 0.0
    while now < 2.0:
        while source.send(b"x" * 1000):
            pass
        for out in source.tick(now):
            sent += len(encode_pgm(out.packet)) + 20
        now = max(now + 1e-4, source.next_deadline())
    assert 190_000 <= sent <= 210_000  # 2 s at 100,000 bytes a second
    assert len(source.window) == 50
    assert not source.send(b"more") or len(source.waiting) <= 50


def test_a_nak_outside_the_window_is_counted_and_ignored() -> None:
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, window=10), now=0.0)
    for _ in range(30):
        assert source.send(b"d")
        source.tick(0.0)
    assert list(source.window) == list(range(20, 30))
    header = Header(7500, 4000, GSI)  # a receiver's NAK: to the session's port
    nak = Nak(header, PgmType.NAK, 2, SOURCE, GROUP)
    assert source.receive(nak, 0.1) == []
    assert source.statistics.naks_outside_window == 1


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"rate": 0}, "rate of 0"),
        ({"window": 0}, "at least one packet"),
        ({"max_tsdu": 0}, "1 to 65535"),
        ({"window_seconds": 0.0}, "more than 0 seconds"),
        ({"late_join": 76}, "0 to 75 %"),
        ({"advance": 0}, "1 to 50 %"),
        ({"advance": 51}, "1 to 50 %"),
    ],
)
def test_a_source_refuses_what_cannot_work(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, **config)


def test_the_first_data_each_come_after_an_spm_so_no_receiver_is_left_without_one() -> None:
    """A receiver NAKs only to a source whose SPM it has had, and takes the window
    to begin where the first SPM or ODATA it hears says: one that lost the
    session's first SPM still hears where the window begins before the first
    ODATA, and one that lost an SPM and then an ODATA has had the next SPM by the
    time it sees the gap; each asks for what it lost."""
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE), now=0.0)
    for n in range(EARLY_SPMS + 4):
        source.send(bytes([n]))
    sent = [t.packet for t in source.tick(0.0)]
    kinds = ["SPM" if isinstance(p, Spm) else p.sqn for p in sent]  # type: ignore[union-attr]
    early = [x for n in range(EARLY_SPMS) for x in ("SPM", n)]
    assert kinds == ["SPM", *early, *range(EARLY_SPMS, EARLY_SPMS + 4)]
    for n in range(EARLY_SPMS):  # each SPM's lead: the ODATA before it (none: 0 - 1)
        assert sent[1 + 2 * n].lead == (n - 1) & 0xFFFFFFFF  # type: ignore[union-attr]
    for lost in (2, 4):  # the first SPM and ODATA 0, or ODATA 1
        receiver = Receiver(ReceiverConfig(GROUP, 7500), (GSI, 4000), lambda: 0.0)
        for index, packet in enumerate(sent):
            if index not in (0, lost):
                receiver.receive(packet, 0.0)
        (nak,) = receiver.tick(0.01)
        assert isinstance(nak, SendNak) and nak.packet.sqn == sent[lost].sqn  # type: ignore[union-attr]


def aging_source(advance: int) -> Source:
    """A source whose window spans 10 s, given one packet every 0.1 s from 0 s to 14.9 s
    (sequence number n sent at n / 10 s) at a rate that sends each at once."""
    config = SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, rate=10**9, window_seconds=10.0,
                          advance=advance)  # fmt: skip
    return Source(config, now=0.0)


def feed(source: Source, until: int, nak: tuple[int, int] | None = None) -> None:
    for n in range(until):
        assert source.send(b"d")
        if nak is not None and n == nak[1]:
            header = Header(7500, 4000, GSI)
            source.receive(Nak(header, PgmType.NAK, nak[0], SOURCE, GROUP), n / 10)
            continue  # its repair waits: no tick before the window ages
        source.tick(n / 10)


def test_an_aging_window_moves_its_trailing_edge_in_steps_of_the_advance_rate() -> None:
    # RM_SEND_WINDOW_ADV_RATE 20 %: when the first packet is 10 s old, the trailing
    # edge moves past everything sent within 2 s of it (0 to 2.0 s: 21 packets), in
    # one step; then nothing until the new oldest (2.1 s) is 10 s old.
    source = aging_source(20)
    feed(source, 100)  # 0 to 9.9 s: nothing is 10 s old yet
    assert source._trail() == 0
    source.receive(Spm(Header(4000, 7500, GSI), 0, 0, 0, SOURCE), 10.0)  # the time passes
    assert source._trail() == 21
    source.receive(Spm(Header(4000, 7500, GSI), 0, 0, 0, SOURCE), 12.05)
    assert source._trail() == 21
    source.receive(Spm(Header(4000, 7500, GSI), 0, 0, 0, SOURCE), 12.1)
    assert source._trail() == 42
    assert source.rm_statistics(12.1).TrailingEdgeSeqId == 42


def test_the_default_step_is_15_percent_of_the_window() -> None:
    source = aging_source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE).advance)
    feed(source, 100)
    source.receive(Spm(Header(4000, 7500, GSI), 0, 0, 0, SOURCE), 10.0)
    assert source._trail() == 16  # 0 to 1.5 s


def test_a_repair_still_to_go_holds_the_window_until_it_has_gone() -> None:
    # A NAK for packet 5 arrives at 9.9 s and its repair waits; at 10 s the step
    # would drop 0 to 20, but stops at 5 ("advanced partially as each repair
    # packet in the window is sent out"); once the repair goes it moves on.
    source = aging_source(20)
    feed(source, 100, nak=(5, 99))
    source.receive(Spm(Header(4000, 7500, GSI), 0, 0, 0, SOURCE), 10.0)
    assert source._trail() == 5
    repairs = [
        t.packet for t in source.tick(10.0) if isinstance(t.packet, Data) and t.packet.repair
    ]
    assert [r.sqn for r in repairs] == [5]
    source.receive(Spm(Header(4000, 7500, GSI), 0, 0, 0, SOURCE), 10.0)
    assert source._trail() == 21
