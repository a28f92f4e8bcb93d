"""PGM sessions from Trio, in the shape the seeds give them (SOCK_RDM): a sender
connects to a group and sends, blocking while its window is full; a listener
accepts a session when a new source's first packets arrive and hands over its
data whole and in order, or says from where it became unrecoverable.

The drivers only move bytes and time: what to send, repair and deliver is
decided by the pure machines (:mod:`mcast.pgm._pgmsource`, :mod:`mcast.pgm._pgmreceiver`).
Nothing a peer sends ends them: a malformed packet, one for another port or
session, or one past the bounds is counted by reason and dropped. A session's
messages wait for its reader (up to 65,536, then the listener waits too): none
is ever dropped between the receiver and the application.

Past 400 lines as one concept: the sender and the listener are the two ends of
one session's driver, sharing its transport, fault counting and bounds.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from ipv6 import InterfaceRef, Result, lone_error

from .._datagram import IPAddress
from .._errors import McastBadInput, McastError
from ..wire._wirecommon import MalformedPacket
from ._pgm import Data, Nak, PgmType, Spm, decode_pgm_untrusted, encode_pgm
from ._pgmfec import FecConfig
from ._pgmmodes import (
    MODES,
    MessageBoundary,
    MessageParts,
    StreamBytes,
    StreamPacker,
)
from ._pgmnet import PgmTransport, receive_fault
from ._pgmreceiver import (
    HIGH_SPEED,
    Deliver,
    Receiver,
    ReceiverConfig,
    ReceiverStatistics,
    SendNak,
    Unrecoverable,
)
from ._pgmsource import Source, SourceConfig, SourceStatistics, Transmit
from ._pgmstats import RmReceiverStats, RmSenderStats

MAX_SESSIONS = 64
BATCH = 64  # packets taken from the socket at most between checkpoints
QUEUE = 1024  # messages a session's reader may be behind before its backlog grows
BACKLOG_LIMIT = 8192  # messages in a session's backlog before its new data is dropped
ENDED_KEPT = 1024  # ended sessions remembered, so that their late packets are ignored


MAX_LINGER = 300.0  # seconds a finished source stays while NAKs keep coming


@dataclass
class SenderStatistics(SourceStatistics, Result):
    """What a PGM source counted (RM_SENDER_STATISTICS), and the faults its socket
    reported, by errno; ``--json`` prints them."""

    faults: dict[str, int] = field(default_factory=dict)
    RM_SENDER_STATISTICS: RmSenderStats | None = None  # the same, under the seeds' names


@dataclass
class SessionStatistics(ReceiverStatistics, Result):
    """What a PGM receiver counted of one session (RM_RECEIVER_STATISTICS), the
    listener's faults, and where data became unrecoverable (None: nowhere)."""

    faults: dict[str, int] = field(default_factory=dict)
    unrecoverable_at: int | None = None
    RM_RECEIVER_STATISTICS: RmReceiverStats | None = None  # the same, under the seeds' names


class PgmUnrecoverable(McastError):
    """Data of a session will never arrive; ``offset`` is how many octets came before."""

    exit_code = 5

    def __init__(self, offset: int, why: str) -> None:
        self.offset = offset
        # The session's statistics up to the loss, when the caller had them to give.
        self.statistics: SessionStatistics | None = None
        super().__init__(f"data became unrecoverable at offset {offset}: {why}")


@dataclass
class SenderOptions:
    """The seeds' RM_* sender options: rate, window (packets and seconds), TTL, the
    data mode, forward error correction (RM_USE_FEC, a :class:`FecConfig`)."""

    rate: int = 1_250_000  # bytes a second (10 Mbit/s)
    window: int = 4096  # packets (RM_RATE_WINDOW_SIZE's size)
    window_seconds: float | None = None  # RM_SEND_WINDOW_ADV_RATE: the window ages
    ttl: int = 1
    max_tsdu: int = 1400
    udp_port: int | None = None
    sport: int | None = None  # the session's port; random by default
    late_join: int | None = None  # RM_LATEJOIN: % of the window late joiners may ask for
    mode: str = "message"  # SOCK_RDM ("message": a send is a message) or SOCK_STREAM ("stream")
    advance: int = 15  # RM_SEND_WINDOW_ADV_RATE: % of a window in seconds it moves on at once
    fec: FecConfig | None = None  # RM_USE_FEC: parity proactively and/or on demand

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise McastBadInput(f"a PGM session's mode is message or stream, not {self.mode!r}")
        if not 1 <= self.advance <= 50:
            raise McastBadInput(f"the window advances by 1 to 50 % at a time, not {self.advance}")

    @classmethod
    def send_window(cls, rate_kbits_per_sec: int = 56, window_size_in_msecs: int = 0,
                    window_size_in_bytes: int = 10_000_000,
                    **more: Any) -> SenderOptions:  # fmt: skip
        """RM_RATE_WINDOW_SIZE as the seeds set it, with RM_SEND_WINDOW's three members and
        their defaults (56 kbit/s, 10 MB: "the default window size is therefore 1428
        seconds"): the members are bound by bytes = kbit/s / 8 x ms, so one given as 0
        is worked out from the other two. The window ages by time, as the seeds'
        does; ``more``: the other options."""
        rate, msecs, size = rate_kbits_per_sec, window_size_in_msecs, window_size_in_bytes
        if [rate, msecs, size].count(0) > 1 or min(rate, msecs, size) < 0:
            raise McastBadInput("RM_SEND_WINDOW: two of the rate, the window in ms and the "
                                "window in bytes are needed, none negative")  # fmt: skip
        if 0 not in (rate, msecs, size) and abs(size - rate * msecs / 8) > rate / 8:
            raise McastBadInput(f"RM_SEND_WINDOW: {rate} kbit/s for {msecs} ms is "
                                f"{rate * msecs // 8:,} bytes, not {size:,}")  # fmt: skip
        if not size:
            size = rate * msecs // 8
        elif not msecs:
            msecs = size * 8 // rate
        elif not rate:
            rate = -(-size * 8 // msecs)
        tsdu = more.get("max_tsdu", cls.max_tsdu)
        return cls(rate=rate * 1000 // 8, window=max(1, -(-size // tsdu)),
                   window_seconds=msecs / 1000, **more)  # fmt: skip


class PgmSender:
    """One PGM session's source (:func:`open_pgm_sender` gives one): ``send`` data,
    its statistics, and the repairs, SPMs and NCFs it sends meanwhile."""

    def __init__(self, transport: PgmTransport, port: int, options: SenderOptions) -> None:
        self.transport = transport
        gsi = os.urandom(6)
        sport = options.sport or random.randrange(1024, 65536)
        self.source = Source(SourceConfig(
            gsi, sport, port, transport.group, transport.address, max_tsdu=options.max_tsdu,
            rate=options.rate, window=options.window, window_seconds=options.window_seconds,
            late_join=options.late_join, advance=options.advance, fec=options.fec,
        ), now=trio.current_time())  # fmt: skip
        self.wake = trio.Event()
        self.space = trio.Event()
        self.faults: collections.Counter[str] = collections.Counter()
        self.mode = options.mode
        self.boundary = MessageBoundary()
        self.packer = StreamPacker(options.max_tsdu) if options.mode == "stream" else None
        self.sending = False  # a stream send is queueing its packets

    @property
    def statistics(self) -> SenderStatistics:
        """RM_SENDER_STATISTICS's counts, and what the socket reported (faults)."""
        return SenderStatistics(
            **vars(self.source.statistics), faults=dict(self.faults),
            RM_SENDER_STATISTICS=self.source.rm_statistics(trio.current_time()),
        )  # fmt: skip

    async def send(self, data: bytes) -> None:
        """Message mode: one message (or the next part of the one
        :meth:`set_message_boundary` announced). Stream mode: bytes, packed into
        packets as they fill. Waits while the window's worth of packets waits to go."""
        if self.packer is not None:
            # While this send queues its packets, the run loop must not send the tail
            # it keeps: the tail comes after them.
            self.sending = True
            try:
                for packet in self.packer.give(data):
                    await self._send_apdu(packet)
                if not self.source.waiting:  # nothing to coalesce with: the rest goes now
                    await self._flush()
            finally:
                self.sending = False
            return
        whole = self.boundary.give(data)  # BoundaryError (McastBadInput) past the boundary
        if whole is not None:
            await self._send_apdu(whole)

    def set_message_boundary(self, size: int) -> None:
        """RM_SET_MESSAGE_BOUNDARY: the next ``size`` octets, given in as many sends as
        the caller likes, are one message (message mode only)."""
        if self.packer is not None:
            raise McastBadInput("RM_SET_MESSAGE_BOUNDARY is for message mode (SOCK_RDM)")
        self.boundary.announce(size)

    async def _send_apdu(self, apdu: bytes) -> None:
        while not self.source.send(apdu):
            self.space = trio.Event()
            await self.space.wait()
        self.wake.set()

    async def _flush(self) -> None:
        rest = self.packer.flush() if self.packer is not None else None
        if rest is not None:
            await self._send_apdu(rest)

    async def finish(self, linger: float) -> None:
        """OPT_FIN after the data; then stay for the receivers' repairs until ``linger``
        seconds pass with no NAK (a receiver still repairing keeps the source; a slow
        machine's receivers are not left without their repairs), at most
        :data:`MAX_LINGER` seconds in all. A message announced and not whole is
        McastBadInput; a stream's last bytes go first."""
        if self.boundary.pending:
            raise McastBadInput(f"the announced message still lacks {self.boundary.pending} "
                                "octets")  # fmt: skip
        await self._flush()
        self.source.close()
        self.wake.set()
        while not self.source.idle:
            self.space = trio.Event()
            await self.space.wait()
        with trio.move_on_after(max(linger, MAX_LINGER)):
            naks = self.source.statistics.naks_received
            quiet_since = trio.current_time()
            while trio.current_time() - quiet_since < linger:
                await trio.sleep(min(0.1, linger))
                if self.source.statistics.naks_received != naks:
                    naks, quiet_since = self.source.statistics.naks_received, trio.current_time()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._naks)
            while True:
                if self.packer is not None and not self.source.waiting and not self.sending:
                    await self._flush()  # what waited to coalesce goes once the queue is empty
                await self._send_all(self.source.tick(trio.current_time()))
                self.space.set()
                with trio.move_on_at(self.source.next_deadline()):
                    await self.wake.wait()
                self.wake = trio.Event()

    async def _send_all(self, out: list[Transmit]) -> None:
        for transmit in out:
            packet = encode_pgm(transmit.packet)
            try:
                if not self.transport.send_now(packet, transmit.to):
                    await self.transport.send(packet, transmit.to)  # the socket is full: wait
            except McastError:
                self.faults["send_failed"] += 1
        await trio.lowlevel.checkpoint()

    async def _naks(self) -> None:
        while True:
            try:
                data, _ = await self.transport.receive()
            except OSError as exc:
                self.faults[receive_fault(exc)] += 1
                continue
            try:
                packet = decode_pgm_untrusted(data)
            except MalformedPacket:
                self.faults["malformed"] += 1
                continue
            if not isinstance(packet, Nak) or packet.kind != PgmType.NAK:
                self.faults["not_a_nak"] += 1  # only NAKs are sent to a source
                continue
            if (packet.header.gsi, packet.header.dport) != (
                self.source.config.gsi,
                self.source.config.sport,
            ):
                self.faults["other_session"] += 1  # another source's, on this host
                continue
            await self._send_all(self.source.receive(packet, trio.current_time()))
            self.wake.set()


@asynccontextmanager
async def open_pgm_sender(
    group: IPAddress, port: int, interface: InterfaceRef, options: SenderOptions | None = None
) -> AsyncIterator[PgmSender]:
    """A PGM session to ``group``, data port ``port``, leaving by ``interface``."""
    options = options or SenderOptions()
    transport = PgmTransport(group, interface, udp_port=options.udp_port, ttl=options.ttl)
    try:
        sender = PgmSender(transport, port, options)
        with lone_error():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender.run)
                yield sender
                nursery.cancel_scope.cancel()
    finally:
        transport.close()


@dataclass
class PgmSession:
    """One accepted session: its data, in order, from :meth:`receive`."""

    tsi: tuple[bytes, int]
    source: IPAddress
    receiver: Receiver
    data: trio.MemorySendChannel[bytes | Unrecoverable | None]
    reader: trio.MemoryReceiveChannel[bytes | Unrecoverable | None]
    backlog: collections.deque[bytes | Unrecoverable | None] = field(
        default_factory=collections.deque
    )
    more: trio.Event = field(default_factory=trio.Event)
    ended: bool = False  # its last item (the end, or the loss) was handed over
    parts: MessageParts = field(default_factory=MessageParts)
    stream: StreamBytes = field(default_factory=StreamBytes)

    @property
    def behind(self) -> bool:
        """Its reader is too far behind: its new data is dropped, its timers wait."""
        return len(self.backlog) >= BACKLOG_LIMIT

    async def receive(self) -> bytes | None:
        """The next message; None once the source ended the session (OPT_FIN)."""
        try:
            item = await self.reader.receive()
        except trio.EndOfChannel:
            raise McastError("the PGM listener stopped before the session's end") from None
        if isinstance(item, Unrecoverable):
            raise PgmUnrecoverable(item.offset, item.why)
        return item

    async def receive_message(self, room: int | None = None) -> tuple[bytes, bool] | None:
        """Message mode, as the seeds' recv: at most one message, or its next part when
        it is larger than ``room`` (the flag is True while more of it remains:
        WSAEMSGSIZE / MSG_PARTIAL); None once the source ended the session."""
        if not self.parts.holding:
            message = await self.receive()
            if message is None:
                return None
            self.parts.hold(message)
        return self.parts.take(room)

    async def receive_bytes(self, room: int) -> bytes:
        """Stream mode: up to ``room`` octets of what has arrived, in order, message
        boundaries not kept; b"" once the source ended the session."""
        if room <= 0:
            raise McastBadInput("a receive needs room for at least one octet")
        while not self.stream.held:
            message = await self.receive()
            if message is None:
                return b""
            self.stream.hold(message)
        return self.stream.take(room)

    @property
    def statistics(self) -> SessionStatistics:
        """RM_RECEIVER_STATISTICS's counts of this session."""
        return SessionStatistics(
            **vars(self.receiver.statistics),
            RM_RECEIVER_STATISTICS=self.receiver.rm_statistics(trio.current_time()),
        )


@dataclass
class PgmListener:
    """Sessions to one group and data port. Each session's messages go to its reader
    through a queue and a backlog; while a session's backlog is at ``BACKLOG_LIMIT``
    its new data is dropped here (counted as reader_behind) and its timers wait,
    and once the reader catches up what was dropped is asked for again and
    repaired from the source's window (a reader slower than the window allows
    gets unrecoverable loss, as PGM gives any receiver that falls behind). So a
    slow reader holds back only its own session, never the others, and a message
    is never lost between receiver and reader. Ended sessions are remembered (up
    to ``ENDED_KEPT``) so that their late packets do not start them again."""

    transport: PgmTransport
    config: ReceiverConfig
    sessions: dict[tuple[bytes, int], PgmSession] = field(default_factory=dict)
    faults: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self.accepted, self.incoming = trio.open_memory_channel[PgmSession](MAX_SESSIONS)
        self.wake = trio.Event()
        self.rng = random.Random()
        self.ended: collections.OrderedDict[tuple[bytes, int], None] = collections.OrderedDict()
        self.nursery: trio.Nursery | None = None

    async def accept(self) -> PgmSession:
        """The next new session (a source whose first packets arrived)."""
        return await self.incoming.receive()

    @property
    def interfaces(self) -> list[InterfaceRef]:
        """The interfaces the group is received on, in the order they were added."""
        return list(self.transport.joined)

    def add_receive_interface(self, interface: InterfaceRef) -> None:
        """RM_ADD_RECEIVE_IF: receive the group on ``interface`` too (a multihomed
        receiver); a session's packets count once whichever interface brought them."""
        self.transport.join(interface)

    def remove_receive_interface(self, interface: InterfaceRef) -> None:
        """RM_DEL_RECEIVE_IF: no longer receive on ``interface`` (never the last one)."""
        self.transport.leave(interface)

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._timers)
            while True:
                try:
                    data, source = await self.transport.receive()
                except OSError as exc:
                    self.faults[receive_fault(exc)] += 1
                    continue
                await self._packet(data, source)
                for _ in range(BATCH):  # what else waits, before the next checkpoint
                    try:
                        waiting = self.transport.receive_now()
                    except OSError as exc:
                        self.faults[receive_fault(exc)] += 1
                        break
                    if waiting is None:
                        break
                    await self._packet(*waiting)

    async def _packet(self, data: bytes, source: IPAddress) -> None:
        try:
            packet = decode_pgm_untrusted(data)
        except MalformedPacket:
            self.faults["malformed"] += 1
            return
        if isinstance(packet, Nak) and packet.kind != PgmType.NCF:
            return  # other receivers' NAKs (sent to the group by some stacks)
        if packet.header.tsi in self.ended:
            self.faults["after_end"] += 1
            return
        if packet.header.dport != self.config.dport:
            self.faults["other_port"] += 1
            return
        session = self.sessions.get(packet.header.tsi)
        if session is None:
            if not isinstance(packet, Data | Spm):
                self.faults["unknown_session"] += 1
                return
            session = self._open(packet.header.tsi, source)
            if session is None:
                return
        if (
            isinstance(packet, Data)
            and session.behind
            and packet.sqn not in session.receiver.missing
        ):
            self.faults["reader_behind"] += 1  # its reader is slow: new data is repaired later
            return
        missing = len(session.receiver.missing)
        now = trio.current_time()
        await self._act(session, session.receiver.receive(packet, now, len(data)))
        if len(session.receiver.missing) > missing or session.ended:
            self.wake.set()  # a deadline may now come sooner (the timers sleep till then)

    def _open(self, tsi: tuple[bytes, int], source: IPAddress) -> PgmSession | None:
        if len(self.sessions) >= MAX_SESSIONS:
            self.faults["too_many_sessions"] += 1
            return None
        send, read = trio.open_memory_channel[bytes | Unrecoverable | None](QUEUE)
        receiver = Receiver(self.config, tsi, self.rng.random)
        session = PgmSession(tsi, source, receiver, send, read)
        try:
            self.accepted.send_nowait(session)
        except trio.WouldBlock:
            self.faults["accept_queue_full"] += 1
            return None
        self.sessions[tsi] = session
        assert self.nursery is not None
        self.nursery.start_soon(self._pump, session)
        return session

    async def _act(self, session: PgmSession, actions: list[Any]) -> None:
        """The receiver's actions, in its order. What goes to the reader is put in the
        backlog before anything is awaited: another task's actions for the same session
        (a packet's and a timer's) can never come between."""
        naks = []
        for action in actions:
            if session.ended:
                break
            if isinstance(action, SendNak):
                naks.append(action)
            elif isinstance(action, Deliver):
                session.backlog.append(action.apdu)
            elif isinstance(action, Unrecoverable):
                session.backlog.append(action)
                if session.receiver.stopped:
                    self._end(session)  # refused, or the source is gone: nothing follows
        receiver = session.receiver
        if not session.ended and receiver.finished and not receiver.missing:
            session.backlog.append(None)
            self._end(session)
        session.more.set()
        for nak in naks if not session.ended else ():
            try:
                await self.transport.send(encode_pgm(nak.packet), nak.to)
            except McastError:
                self.faults["nak_send_failed"] += 1

    def _end(self, session: PgmSession) -> None:
        """Its last item is in the backlog; its packets are ignored from now on."""
        session.ended = True
        session.more.set()
        del self.sessions[session.tsi]
        self.ended[session.tsi] = None
        while len(self.ended) > ENDED_KEPT:
            self.ended.popitem(last=False)

    async def _pump(self, session: PgmSession) -> None:
        """The session's backlog to its reader, waiting for the reader as long as it
        takes (only this session waits)."""
        async with session.data:
            while True:
                while session.backlog:
                    if len(session.backlog) == BACKLOG_LIMIT:
                        self.wake.set()  # no longer behind: its timers go on
                    try:
                        await session.data.send(session.backlog.popleft())
                    except trio.BrokenResourceError:
                        self.faults["session_abandoned"] += 1  # its reader went away
                        session.backlog.clear()
                        if not session.ended:
                            self._end(session)
                        return
                if session.ended:
                    return
                session.more = trio.Event()
                await session.more.wait()

    async def _timers(self) -> None:
        while True:
            # A session whose reader is behind waits: its NAKs would bring repairs it
            # would drop, and its retries would run out.
            deadlines = [d for s in self.sessions.values()
                         if not s.behind and (d := s.receiver.next_deadline()) is not None
                         ]  # fmt: skip
            with trio.move_on_at(min(deadlines, default=trio.current_time() + 1.0)):
                await self.wake.wait()
            self.wake = trio.Event()
            now = trio.current_time()
            for session in list(self.sessions.values()):
                if not session.behind:
                    await self._act(session, session.receiver.tick(now))


@asynccontextmanager
async def open_pgm_listener(group: IPAddress, port: int,
                            interface: InterfaceRef | Sequence[InterfaceRef], *,
                            udp_port: int | None = None, late_join: bool = False,
                            need_syn: bool = False, peer_expiry: float = 300.0,
                            high_speed: bool = False) -> AsyncIterator[PgmListener]:  # fmt: skip
    """Receive PGM sessions to ``group`` and data port ``port`` on ``interface`` (or
    on each of several: RM_ADD_RECEIVE_IF; more can be added and removed while it
    runs) (``late_join``, ``need_syn`` and ``peer_expiry``: see
    :class:`mcast.pgm._pgmreceiver.ReceiverConfig`; ``high_speed``: the seeds'
    RM_HIGH_SPEED_INTRANET_OPT, NAK timers for a fast LAN)."""
    interfaces = [interface] if isinstance(interface, InterfaceRef) else list(interface)
    if not interfaces:
        raise McastBadInput("a PGM listener receives on at least one interface")
    transport = PgmTransport(group, interfaces[0], udp_port=udp_port)
    try:
        for each in interfaces:
            transport.join(each)
        config = ReceiverConfig(group, port, late_join=late_join, need_syn=need_syn,
                                peer_expiry=peer_expiry)  # fmt: skip
        if high_speed:
            config = dataclasses.replace(config, **HIGH_SPEED)
        listener = PgmListener(transport, config)
        with lone_error():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(listener.run)
                yield listener
                nursery.cancel_scope.cancel()
    finally:
        transport.close()
