"""Multicast reception from Trio, with source filters that filter.

A :class:`Receiver` listens on one UDP port. Its memberships are checked by
the pure model (:mod:`mcast.membership._membership`) before anything reaches the
kernel, and a kernel refusal comes back as the same rule's error. Linux caps
memberships per socket (net.ipv4.igmp_max_memberships), so a receiver spreads
its groups over as many sockets as it needs, all bound to the same port.

Each socket is non-blocking and drained in batches: one wake-up reads every
datagram that is queued, so a fast sender does not overrun the socket while
the loop awaits them one by one. Each datagram carries its destination group
and arrival interface (IP_PKTINFO / IPV6_RECVPKTINFO), TTL or hop limit, TOS
or traffic class, and a truncation flag; the kernel's drop counter
(SO_RXQ_OVFL) is summed in :attr:`Receiver.dropped`.

A wildcard-bound Linux socket would also receive every group other sockets
of the host joined; IP_MULTICAST_ALL and IPV6_MULTICAST_ALL are turned off so
a receiver hears only its own groups.

Past 400 lines as one concept: the receiver and its sockets' membership
bookkeeping, which must change together when a group moves between sockets.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from ipv6 import InterfaceRef, lone_error

from .._datagram import Datagram, IPAddress, as_address
from .._errors import KernelRefused, McastBadInput, McastError
from .._lookup import as_interface
from ..membership import _membercalls
from ..membership._conflicts import error_for_kernel
from ..membership._membership import Call, Filter, GroupKey, Memberships, Mode
from ..membership._slot import Slot
from ._reading import MAX_DATAGRAM, PACE, Reading
from ._streamheader import FORMATS

if TYPE_CHECKING:
    from ._streamstats import Streams


class Receiver:
    """Multicast reception on one UDP port; see :func:`open_receiver`."""

    def __init__(
        self,
        nursery: trio.Nursery,
        port: int,
        *,
        bind: str | IPAddress | None = None,
        rcvbuf: int | None = None,
        protocol_independent: bool = True,
        max_datagram: int = MAX_DATAGRAM,
        pace: float = PACE,
        measure: str | None = None,
        timestamps: bool = False,
    ) -> None:
        self._nursery = nursery
        self._timestamps = timestamps or measure is not None
        if measure is not None and measure not in FORMATS:
            raise McastBadInput(f"unknown stream format {measure!r} (one of {', '.join(FORMATS)})")
        # Per-stream statistics (loss, order, jitter, delay), kept when asked for.
        self.streams: Streams | None = None
        if measure is not None:
            from ._streamstats import Streams  # numpy loads only for a receiver that measures

            self.streams = Streams(format=measure)
        self.port = port
        self._bind = as_address(bind) if bind is not None else None
        self._rcvbuf = rcvbuf
        self._protocol_independent = protocol_independent
        self._slots: list[Slot] = []
        self._slot_of: dict[GroupKey, Slot] = {}  # which socket holds each membership
        self._filling: dict[int, Slot] = {}  # per family, the socket new joins go to
        send, self._receive = trio.open_memory_channel[list[Datagram]](1024)
        self._pending: deque[Datagram] = deque()
        # Interface names, read where the sockets were made: a receiver may
        # live in a lab host while its reader runs in another thread.
        self._names: dict[int, str] = {}
        self._reading = Reading(send, self._names, max_datagram, pace, self.streams)
        self.received = 0
        self._closed = False

    # -- sockets --

    def _slot_for(self, key: GroupKey, joining: bool) -> Slot:
        """The socket that holds ``key``, or the one a new membership goes to."""
        held = self._slot_of.get(key)
        if held is not None:
            return held
        family = socket.AF_INET if key.group.version == 4 else socket.AF_INET6
        current = self._filling.get(family)
        if not joining and current is not None:
            return current  # not joined anywhere: any socket gives the model's answer
        if current is None or not current.has_room():
            current = self._open_slot(family)
            self._filling[family] = current
        return current

    def _open_slot(self, family: int) -> Slot:
        if self._bind is not None and (self._bind.version == 4) != (family == socket.AF_INET):
            raise McastBadInput(f"this receiver is bound to {self._bind}, of the other family")
        port = self.port
        slot = Slot(family, port, self._bind, self._rcvbuf, timestamps=self._timestamps)
        if not self._slots:
            self._names.update(socket.if_nameindex())
        if self.port == 0:
            self.port = slot.port  # the first socket picked the port; the rest share it
        self._slots.append(slot)
        self._nursery.start_soon(self._reading.read, slot, self.port)
        return slot

    # -- memberships: change-based --

    def join(
        self,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
        *,
        source: str | IPAddress | None = None,
    ) -> GroupKey:
        """Join any-source, or with ``source`` the (source, group) channel."""
        call = Call.JOIN if source is None else Call.JOIN_SOURCE
        return self._change(call, group, interface, source)

    def leave(
        self,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
        *,
        source: str | IPAddress | None = None,
    ) -> GroupKey:
        """Leave the group, or with ``source`` only that channel."""
        call = Call.LEAVE if source is None else Call.LEAVE_SOURCE
        return self._change(call, group, interface, source)

    def block(
        self,
        group: str | IPAddress,
        source: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
    ) -> GroupKey:
        """Stop receiving ``source`` on a group joined any-source."""
        return self._change(Call.BLOCK, group, interface, source)

    def unblock(
        self,
        group: str | IPAddress,
        source: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
    ) -> GroupKey:
        """Receive a blocked source again."""
        return self._change(Call.UNBLOCK, group, interface, source)

    def _key(
        self, group: str | IPAddress, interface: str | int | InterfaceRef | None
    ) -> tuple[GroupKey, InterfaceRef | None]:
        address = as_address(group)
        if not address.is_multicast:
            raise McastBadInput(f"{address} is not a multicast address")
        ref = as_interface(interface)
        return GroupKey(address, ref.index if ref else 0), ref

    def _change(
        self,
        call: Call,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None,
        source: str | IPAddress | None,
    ) -> GroupKey:
        if self._closed:
            raise McastError("this receiver is closed")
        key, ref = self._key(group, interface)
        src = as_address(source) if source is not None else None
        joining = call in (Call.JOIN, Call.JOIN_SOURCE)
        slot = self._slot_for(key, joining)
        if ref is not None:
            slot.model.names[ref.index] = ref.name
            self._names[ref.index] = ref.name
        after = slot.model.check(call, key, src)  # the rules first: nothing reaches the kernel
        try:
            self._kernel_call(slot, call, key, src)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS and joining and key not in slot.model.filters:
                # The kernel has no room on this socket: use another one.
                slot.full = True
                fresh = self._slot_for(key, joining)
                if ref is not None:
                    fresh.model.names[ref.index] = ref.name
                try:
                    self._kernel_call(fresh, call, key, src)
                except OSError as again:
                    raise self._explain(fresh, call, key, src, again) from again
                self._record(fresh, key, fresh.model.apply(call, key, src))
                self._joined(key)
                return key
            raise self._explain(slot, call, key, src, exc) from exc
        slot.model.commit(key, after)
        self._record(slot, key, after)
        if joining:
            self._joined(key)
        return key

    def _joined(self, key: GroupKey) -> None:
        if self.streams is not None:  # the time the first datagram is measured from
            self.streams.joined(str(key.group), time.time_ns())

    def _kernel_call(self, slot: Slot, call: Call, key: GroupKey, src: IPAddress | None) -> None:
        _membercalls.change(
            slot.sock, call, key, src, protocol_independent=self._protocol_independent
        )

    def _record(self, slot: Slot, key: GroupKey, after: Filter | None) -> None:
        if after is None:
            self._slot_of.pop(key, None)
        else:
            self._slot_of[key] = slot

    def _explain(
        self, slot: Slot, call: Call, key: GroupKey, src: IPAddress | None, exc: OSError
    ) -> McastError:
        if exc.errno == errno.ENODEV:
            return McastBadInput(f"no interface with index {key.ifindex} for {key.group}")
        return error_for_kernel(
            slot.model,
            call,
            key=key,
            source=src,
            code=exc.errno or 0,
            option=_membercalls.option_name(call),
        )

    # -- memberships: final state --

    def set_filter(
        self,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None,
        mode: Mode | str,
        sources: Iterable[str | IPAddress] = (),
    ) -> Filter | None:
        """Set the group's whole filter at once (INCLUDE with no source leaves)."""
        mode = Mode(mode) if isinstance(mode, str) else mode
        key, ref = self._key(group, interface)
        wanted = frozenset(as_address(s) for s in sources)
        slot = self._slot_for(key, joining=True)
        if ref is not None:
            slot.model.names[ref.index] = ref.name
        probe = Memberships(limits=slot.model.limits, filters=dict(slot.model.filters))
        probe.set_filter(key, mode, wanted)  # limits and families first
        current = slot.model.filter_of(key)
        if mode is Mode.INCLUDE and not wanted:
            if current is not None:
                self._kernel_call(slot, Call.LEAVE, key, None)
            self._record(slot, key, None)
            return slot.model.set_filter(key, mode, wanted)
        try:
            if current is None:
                # Linux sets a filter only on a joined group: join, then set it whole.
                first = min(wanted, key=int) if mode is Mode.INCLUDE else None
                self._kernel_call(
                    slot, Call.JOIN if first is None else Call.JOIN_SOURCE, key, first
                )
            _membercalls.set_msfilter(slot.sock, key, mode, wanted)
        except OSError as exc:
            raise KernelRefused(
                f"setting the filter of {slot.model.where(key)} failed: {exc.strerror}"
            ) from exc
        after = slot.model.set_filter(key, mode, wanted)
        self._record(slot, key, after)
        self._joined(key)
        return after

    def kernel_filter(
        self, group: str | IPAddress, interface: str | int | InterfaceRef | None = None
    ) -> Filter | None:
        """The group's filter as the kernel holds it on this receiver (MCAST_MSFILTER)."""
        key, _ = self._key(group, interface)
        slot = self._slot_of.get(key)
        if slot is None:
            return None
        return _membercalls.read_filter(
            slot.sock, key, max(64, len(slot.model.filters[key].sources))
        )

    def filters(self) -> dict[GroupKey, Filter]:
        """Every (group, interface) this receiver has joined, with its filter."""
        out: dict[GroupKey, Filter] = {}
        for slot in self._slots:
            out.update(slot.model.filters)
        return out

    @property
    def sockets(self) -> int:
        return len(self._slots)

    @property
    def truncated(self) -> int:
        """Datagrams longer than the receiver's buffer, cut short."""
        return self._reading.truncated

    @property
    def errors(self) -> collections.Counter[str]:
        """Errors the sockets reported while reading (queued ICMP errors), by errno."""
        return self._reading.errors

    @property
    def dropped(self) -> int:
        """Datagrams the kernel dropped because a socket's queue was full."""
        return sum(slot.drops for slot in self._slots)

    @property
    def receive_buffer(self) -> int | None:
        """Each socket's receive buffer, as the kernel counts it (None: no socket yet)."""
        from ..membership._slot import receive_buffer

        return max((receive_buffer(slot.sock) for slot in self._slots), default=None)

    # -- receiving --

    async def receive_batch(self) -> list[Datagram]:
        """Every datagram that arrived since the last call, waiting for at least one."""
        if self._pending:
            batch = list(self._pending)
            self._pending.clear()
        else:
            batch = await self._receive.receive()
        self._count(batch)
        return batch

    async def receive(self) -> Datagram:
        """The next datagram."""
        if not self._pending:
            batch = await self._receive.receive()
            self._count(batch)
            self._pending.extend(batch)
        return self._pending.popleft()

    def _count(self, batch: list[Datagram]) -> None:
        self.received += len(batch)  # (the reader counts streams as it reads)

    def __aiter__(self) -> AsyncIterator[Datagram]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Datagram]:
        while True:
            yield await self.receive()

    # -- closing --

    def leave_all(self) -> None:
        """Leave every group this receiver joined (the kernel sends the reports now)."""
        for slot in self._slots:
            for key in list(slot.model.filters):
                with contextlib.suppress(OSError):  # closing the socket leaves it anyway
                    self._kernel_call(slot, Call.LEAVE, key, None)
                slot.model.filters.pop(key, None)
                self._slot_of.pop(key, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.leave_all()
        for slot in self._slots:
            slot.close()


@asynccontextmanager
async def open_receiver(
    port: int = 0,
    *,
    bind: str | IPAddress | None = None,
    rcvbuf: int | None = None,
    protocol_independent: bool = True,
    max_datagram: int = MAX_DATAGRAM,
    pace: float = PACE,
    measure: str | None = None,
    timestamps: bool = False,
) -> AsyncIterator[Receiver]:
    """A :class:`Receiver` on ``port``; every group is left on exit, cancelled or not.

    ``measure`` ("auto", "toolkit", "iperf2" or "none": which header to read)
    keeps per-stream statistics in :attr:`Receiver.streams`; ``timestamps``
    gives each datagram the kernel's arrival time (:attr:`Datagram.arrived_ns`;
    a measuring receiver has them anyway)."""
    with lone_error():
        async with trio.open_nursery() as nursery:
            receiver = Receiver(
                nursery,
                port,
                bind=bind,
                rcvbuf=rcvbuf,
                protocol_independent=protocol_independent,
                max_datagram=max_datagram,
                pace=pace,
                measure=measure,
                timestamps=timestamps,
            )
            try:
                yield receiver
            finally:
                receiver.close()
                nursery.cancel_scope.cancel()
