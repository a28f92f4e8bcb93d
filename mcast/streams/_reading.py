"""Reading a receiver's sockets: each drained in batches whenever it is
readable, and every batch handed over whole to the receiver's channel.

With recvmmsg (``ipv6.batch``) up to :data:`BATCH` datagrams take one system
call; without it, recvmsg drains the queue. Each reader checks that its
socket is still open before every read, so a closed socket's descriptor
(which the kernel may already have given to another socket) is never read.
"""

from __future__ import annotations

import collections
import errno
import socket
import time
from typing import TYPE_CHECKING

import trio

from ipv6 import batch as mmsg

from .._datagram import Datagram, DatagramContext, datagrams, drops_in
from ..membership._slot import Slot
from ._streamheader import TOOLKIT_SIZE, decode

if TYPE_CHECKING:  # numpy (about 60 ms) loads only for a receiver that measures
    from . import _streamrows
    from ._streamstats import Streams

MAX_DATAGRAM = 65535
ANCILLARY_SPACE = 256
BATCH = 64
# Statistics cost a few microseconds a batch, whatever its size: a measuring
# receiver reads larger batches (the slots' memory is only touched as far as
# datagrams fill them).
BATCH_MEASURING = 256
PACE = 0.0005  # seconds between drains while datagrams keep coming


class Reading:
    """The readers of one receiver's sockets, and what they counted."""

    def __init__(
        self,
        send: trio.MemorySendChannel[list[Datagram]],
        names: dict[int, str],
        max_datagram: int = MAX_DATAGRAM,
        pace: float = PACE,
        streams: Streams | None = None,
    ) -> None:
        self._send = send
        self._streams = streams  # per-stream statistics, counted as batches are read
        self._names = names  # interface names by index, shared with the receiver
        self._max = max_datagram
        self._pace = pace
        self._batch_reader: mmsg.BatchReader | None = None
        self._columns: _streamrows.BatchColumns | None = None
        if streams is not None:
            from . import _streamrows

            self._rows = _streamrows
        self.truncated = 0
        self.errors: collections.Counter[str] = collections.Counter()  # by errno

    async def read(self, slot: Slot, port: int) -> None:
        """Drain the socket whenever it is readable; hand over whole batches."""
        if mmsg.recvmmsg_available():
            await self._read_many(slot, port)
        else:
            await self._read_each(slot, port)

    async def _read_many(self, slot: Slot, port: int) -> None:
        """recvmmsg: up to BATCH datagrams per system call."""
        if self._batch_reader is None:
            # One set of buffers serves every socket: Trio runs the reads one at a time.
            count = BATCH if self._streams is None else BATCH_MEASURING
            self._batch_reader = mmsg.BatchReader(count, self._max, ANCILLARY_SPACE)
        reader = self._batch_reader
        streams = self._streams
        columns = None
        if streams is not None and reader.size >= TOOLKIT_SIZE:
            columns = self._columns_of(reader)
        ipv6 = slot.family == socket.AF_INET6
        context = DatagramContext(slot.family, port, self._names)
        fd = slot.sock.fileno()
        trunc_flag = int(socket.MSG_TRUNC)  # an enum member: its & costs a microsecond
        while not slot.closed:  # checked before every read: never a stale descriptor
            try:
                raw = reader.read(fd)
            except OSError as exc:
                self._failed(exc)  # an error queued on the socket: counted, reading goes on
                await trio.lowlevel.checkpoint()
                continue
            if not raw:
                try:
                    await trio.lowlevel.wait_readable(slot.sock)
                except trio.ClosedResourceError:
                    return  # the receiver closed this socket (notify_closing woke us)
                continue
            if columns is not None:  # counted now, while the buffers hold this batch
                assert streams is not None
                lengths, control_lengths = reader.lengths(len(raw))
                columns.measure(streams, lengths, control_lengths, ipv6=ipv6, now_ns=time.time_ns())
            batch = datagrams(raw, context)
            if streams is not None and columns is None:  # slots too small for the columns
                self._rows.measure_datagrams(streams, _facts(batch, streams.format))
            self._deliver(slot, batch, raw[-1][2], sum(1 for r in raw if r[3] & trunc_flag))
            await self._send.send(batch)
            if len(batch) < reader.count and self._pace:
                await trio.sleep(self._pace)

    async def _read_each(self, slot: Slot, port: int) -> None:
        """recvmsg: one system call per datagram, drained until the queue is empty."""
        sock = slot.sock
        recvmsg = sock.recvmsg
        context = DatagramContext(slot.family, port, self._names)
        size = self._max
        trunc_flag = int(socket.MSG_TRUNC)  # an enum member: its & costs a microsecond
        while not slot.closed:  # checked before every read: never a stale descriptor
            batch: list[Datagram] = []
            append = batch.append
            truncated = 0
            anc: list[tuple[int, int, bytes]] = []
            try:
                while len(batch) < BATCH:
                    data, anc, flags, address = recvmsg(size, ANCILLARY_SPACE)
                    if flags & trunc_flag:
                        truncated += 1
                    append(Datagram(data, address, anc, flags, context))
            except BlockingIOError:
                pass
            except OSError as exc:
                self._failed(exc)  # an error queued on the socket: counted, reading goes on
            if not batch:
                try:
                    await trio.lowlevel.wait_readable(sock)
                except trio.ClosedResourceError:
                    return  # the receiver closed this socket (notify_closing woke us)
                continue
            if self._streams is not None:
                self._rows.measure_datagrams(self._streams, _facts(batch, self._streams.format))
            self._deliver(slot, batch, anc, truncated)
            await self._send.send(batch)
            if len(batch) < BATCH and self._pace:
                await trio.sleep(self._pace)

    def _columns_of(self, reader: mmsg.BatchReader) -> _streamrows.BatchColumns:
        if self._columns is None:
            payloads, names, controls = reader.buffers
            self._columns = self._rows.BatchColumns(
                payloads,
                names,
                controls,
                count=reader.count,
                size=reader.size,
                name_size=mmsg.SOCKADDR_SIZE,
                space=reader.control_space,
            )
        return self._columns

    def _failed(self, exc: OSError) -> None:
        self.errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1

    def _deliver(
        self,
        slot: Slot,
        batch: list[Datagram],
        last_ancillary: list[tuple[int, int, bytes]] | bytes,
        truncated: int,
    ) -> None:
        drops = drops_in(last_ancillary) if last_ancillary else None
        if drops is not None:
            slot.drops = drops  # a running total: the last datagram's is the newest
        self.truncated += truncated


def _facts(batch: list[Datagram], fmt: str) -> list[_streamrows.Fact]:
    """What per-stream statistics need of datagrams read one at a time."""
    now = time.time_ns()
    return [
        (
            d.source,
            d.source_port,
            d.group,
            len(d.payload),
            d.arrived_ns or now,
            decode(d.payload, fmt),
        )
        for d in batch
    ]
