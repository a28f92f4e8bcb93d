"""The Trio drivers (PgmSender, PgmListener) over an in-memory wire with seeded
loss, on Trio's virtual clock: everything but the sockets. A slow reader must
still get every message in order (its session's packets and timers both make
deliveries), and must hold back only its own session."""

from __future__ import annotations

import errno
import os
import random
from ipaddress import IPv4Address
from typing import cast

import trio

from mcast.pgm._pgmnet import PgmTransport
from mcast.pgm._pgmreceiver import ReceiverConfig
from mcast.pgm._pgmsession import PgmListener, PgmSender, SenderOptions

GROUP = IPv4Address("239.192.0.1")


class Wire:
    """One sender and some listeners; each packet to the group may be lost on its
    way to each listener, as may each NAK. Full inboxes drop, as a socket does."""

    def __init__(self, loss: float, seed: int, errors: float = 0.0) -> None:
        self.loss, self.rng = loss, random.Random(seed)
        self.errors = errors  # how often a receive reports an ICMP error instead
        self.ends: dict[IPv4Address, End] = {}

    def end(self, address: str) -> End:
        end = End(self, IPv4Address(address))
        self.ends[end.address] = end
        return end

    def carry(self, packet: bytes, source: IPv4Address, to: IPv4Address | None) -> None:
        for end in self.ends.values():
            if end.address == source or (to is not None and end.address != to):
                continue
            if to is None and not end.joined:
                continue
            if self.rng.random() >= self.loss:
                try:
                    end.inbox.send_nowait((packet, source))
                except trio.WouldBlock:
                    end.overflow += 1


class End:
    group = GROUP

    def __init__(self, wire: Wire, address: IPv4Address) -> None:
        self.wire, self.address = wire, address
        self.inbox, self.outbox = trio.open_memory_channel[tuple[bytes, IPv4Address]](4096)
        self.joined = False
        self.overflow = 0

    async def send(self, packet: bytes, to: IPv4Address | None = None) -> None:
        await trio.sleep(0)  # a checkpoint, as a real send is one
        self.wire.carry(packet, self.address, to)

    def send_now(self, packet: bytes, to: IPv4Address | None = None) -> bool:
        self.wire.carry(packet, self.address, to)
        return True

    def _error(self) -> None:
        if self.wire.errors and self.wire.rng.random() < self.wire.errors:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    def receive_now(self) -> tuple[bytes, IPv4Address] | None:
        self._error()
        try:
            return self.outbox.receive_nowait()
        except trio.WouldBlock:
            return None

    async def receive(self) -> tuple[bytes, IPv4Address]:
        await trio.sleep(0)  # a checkpoint, as a real send is one
        self._error()
        return await self.outbox.receive()


def messages(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [n.to_bytes(4, "big") + os.urandom(rng.choice([10, 1000, 3000, 9000]))
            for n in range(count)]  # fmt: skip


async def run_session(autojump_clock, *, loss: float, seed: int, slow: set[int],
                      sessions: int = 1, ended: dict[int, float] | None = None,
                      errors: float = 0.0, senders: list[PgmSender] | None = None,
                      ) -> list[PgmListener]:  # fmt: skip
    wire = Wire(loss, seed, errors)
    ends = [wire.end(f"10.0.0.{n + 10}") for n in range(2)]
    for end in ends:
        end.joined = True
    config = ReceiverConfig(GROUP, 7500, late_join=True, need_syn=True)
    listeners = [PgmListener(cast(PgmTransport, end), config) for end in ends]
    data = {s: messages(300, seed * 10 + s) for s in range(sessions)}
    got: dict[tuple[int, int], list[bytes]] = {}

    async def read(index: int, listener: PgmListener) -> None:
        async with trio.open_nursery() as readers:
            for _ in range(sessions):
                session = await listener.accept()
                readers.start_soon(read_one, index, session)

    async def read_one(index: int, session) -> None:
        first = await session.receive()
        assert first is not None
        which = first[:4] == b"\0\0\0\0" and next(
            s for s in data if data[s][0] == first)  # fmt: skip
        out = got.setdefault((index, which), [first])
        while (message := await session.receive()) is not None:
            out.append(message)
            if which in slow:
                await trio.sleep(0.05)  # a slow reader: the session's queue fills
        if ended is not None:
            ended[which] = max(ended.get(which, 0.0), trio.current_time())

    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(listener.run)
        async with trio.open_nursery() as reading:
            for index, listener in enumerate(listeners):
                reading.start_soon(read, index, listener)
            async with trio.open_nursery() as sending:
                for s in range(sessions):
                    end = wire.end(f"10.0.1.{s + 1}")
                    sender = PgmSender(
                        cast(PgmTransport, end), 7500, SenderOptions(rate=2_000_000, window=20000)
                    )
                    if senders is not None:
                        senders.append(sender)
                    sending.start_soon(send_all, sender, data[s])
        nursery.cancel_scope.cancel()
    for (index, which), out in got.items():
        assert out == data[which], (index, which, len(out))
    assert len(got) == len(listeners) * sessions
    return listeners


async def send_all(sender: PgmSender, data: list[bytes]) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.run)
        for message in data:
            await sender.send(message)
        await sender.finish(30.0)  # longer than the slow reader takes
        nursery.cancel_scope.cancel()


async def test_a_finished_source_stays_until_no_nak_came_for_its_linger(autojump_clock) -> None:
    """Idle with its FIN out, a source with a linger of 1 s stays while NAKs keep
    coming (here one at 0.5, 1.4 and 2.3 s after it is idle) and goes 1 s after
    the last."""
    wire = Wire(0.0, 1)
    sender = PgmSender(cast(PgmTransport, wire.end("10.0.1.1")), 7500,
                       SenderOptions(rate=2_000_000, window=100))  # fmt: skip
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.run)
        await sender.send(b"x" * 100)
        began = trio.current_time()

        async def naks() -> None:
            for at in (0.5, 1.4, 2.3):
                await trio.sleep_until(began + at)
                sender.source.statistics.naks_received += 1

        nursery.start_soon(naks)
        await sender.finish(1.0)
        took = trio.current_time() - began
        nursery.cancel_scope.cancel()
    assert 3.3 <= took <= 3.5, took


async def test_a_slow_reader_gets_every_message_in_order_through_loss(autojump_clock) -> None:
    for seed in range(3):
        await run_session(autojump_clock, loss=0.05, seed=seed, slow={0})


async def test_past_its_backlog_a_slow_session_drops_new_data_to_repair_later(
    autojump_clock, monkeypatch
) -> None:
    # Small bounds, so that the queue and then the backlog fill: new data is dropped
    # (counted), NAKed and repaired from the window, and nothing arrives out of order.
    monkeypatch.setattr("mcast.pgm._pgmsession.QUEUE", 4)
    monkeypatch.setattr("mcast.pgm._pgmsession.BACKLOG_LIMIT", 16)
    listeners = await run_session(autojump_clock, loss=0.02, seed=5, slow={0})
    assert all(listener.faults["reader_behind"] > 0 for listener in listeners)


async def test_a_slow_session_holds_back_only_itself(autojump_clock, monkeypatch) -> None:
    monkeypatch.setattr("mcast.pgm._pgmsession.QUEUE", 4)
    monkeypatch.setattr("mcast.pgm._pgmsession.BACKLOG_LIMIT", 16)
    ends: dict[int, float] = {}
    listeners = await run_session(autojump_clock, loss=0.02, seed=9, slow={1}, sessions=2,
                                  ended=ends)  # fmt: skip
    assert ends[0] < 5.0 and ends[1] > 10.0  # the fast session did not wait for the slow one
    assert all(listener.faults["reader_behind"] > 0 for listener in listeners)


async def test_errors_the_sockets_report_are_counted_and_reading_goes_on(autojump_clock) -> None:
    """An ICMP error queued on a PGM socket (here one receive in ten) is reported by
    the next receive; the listeners and the source count it and read on."""
    senders: list[PgmSender] = []
    listeners = await run_session(autojump_clock, loss=0.05, seed=4, slow=set(), errors=0.1,
                                  senders=senders)  # fmt: skip
    assert all(listener.faults["receive_econnrefused"] > 0 for listener in listeners)
    assert all(sender.faults["receive_econnrefused"] > 0 for sender in senders)


def test_an_error_that_says_the_socket_is_unusable_is_raised() -> None:
    from mcast.pgm._pgmnet import receive_fault

    assert receive_fault(OSError(errno.EHOSTUNREACH, "No route to host")) == "receive_ehostunreach"
    bad = OSError(errno.EBADF, "Bad file descriptor")
    try:
        receive_fault(bad)
    except OSError as exc:
        assert exc is bad
    else:
        raise AssertionError("EBADF was counted, not raised")
