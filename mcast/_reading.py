"""Reading a receiver's sockets: each drained in batches whenever it is
readable, and every batch handed over whole to the receiver's channel.

With recvmmsg (``_recvmmsg``) up to :data:`BATCH` datagrams take one system
call; without it, recvmsg drains the queue. Each reader checks that its
socket is still open before every read, so a closed socket's descriptor
(which the kernel may already have given to another socket) is never read.
"""

from __future__ import annotations

import collections
import errno
import socket

import trio

from . import _recvmmsg
from ._datagram import Datagram, DatagramContext, drops_in
from ._slot import Slot

MAX_DATAGRAM = 65535
ANCILLARY_SPACE = 256
BATCH = 64
PACE = 0.0005  # seconds between drains while datagrams keep coming


class Reading:
    """The readers of one receiver's sockets, and what they counted."""

    def __init__(
        self,
        send: trio.MemorySendChannel[list[Datagram]],
        names: dict[int, str],
        max_datagram: int = MAX_DATAGRAM,
        pace: float = PACE,
    ) -> None:
        self._send = send
        self._names = names  # interface names by index, shared with the receiver
        self._max = max_datagram
        self._pace = pace
        self._batch_reader: _recvmmsg.BatchReader | None = None
        self.truncated = 0
        self.errors: collections.Counter[str] = collections.Counter()  # by errno

    async def read(self, slot: Slot, port: int) -> None:
        """Drain the socket whenever it is readable; hand over whole batches."""
        if _recvmmsg.available():
            await self._read_many(slot, port)
        else:
            await self._read_each(slot, port)

    async def _read_many(self, slot: Slot, port: int) -> None:
        """recvmmsg: up to BATCH datagrams per system call."""
        if self._batch_reader is None:
            # One set of buffers serves every socket: Trio runs the reads one at a time.
            self._batch_reader = _recvmmsg.BatchReader(BATCH, self._max, ANCILLARY_SPACE)
        reader = self._batch_reader
        context = DatagramContext(slot.family, port, self._names)
        fd = slot.sock.fileno()
        trunc_flag = socket.MSG_TRUNC
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
            batch = [Datagram(p, name, control, flags, context) for p, name, control, flags in raw]
            self._deliver(slot, batch, raw[-1][2], sum(1 for r in raw if r[3] & trunc_flag))
            await self._send.send(batch)
            if len(batch) < BATCH and self._pace:
                await trio.sleep(self._pace)

    async def _read_each(self, slot: Slot, port: int) -> None:
        """recvmsg: one system call per datagram, drained until the queue is empty."""
        sock = slot.sock
        recvmsg = sock.recvmsg
        context = DatagramContext(slot.family, port, self._names)
        size = self._max
        trunc_flag = socket.MSG_TRUNC
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
            self._deliver(slot, batch, anc, truncated)
            await self._send.send(batch)
            if len(batch) < BATCH and self._pace:
                await trio.sleep(self._pace)

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
