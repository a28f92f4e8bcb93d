"""Watching IGMP and MLD on an interface, from Trio.

A packet socket (AF_PACKET) bound to the interface sees every frame it
sends and receives; it asks for all multicast (PACKET_MR_ALLMULTI) so a
NIC's multicast filter does not hide reports for groups this host has not
joined. Frames are decoded by :mod:`mcast.wire._frames`; what is not IGMP or MLD
is skipped, what claims to be and is not is reported as malformed.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from ipv6 import InterfaceRef, NeedsPrivilege, interface_present

from .._errors import McastError
from .._lookup import find_interface
from . import _capfilter
from ._frames import WireMessage, decode_frame_untrusted
from ._wirecommon import MalformedPacket

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_ALLMULTI = 2
PACKET_OUTGOING = 4
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
_TPACKET_STATS = struct.Struct("=II")  # tp_packets, tp_drops (reset when read)
_PACKET_MREQ = struct.Struct("=iHH8s")  # ifindex, type, address length, address


@dataclass(frozen=True)
class Observed:
    """One IGMP or MLD message seen on the wire."""

    time: float
    interface: str
    outgoing: bool
    wire: WireMessage
    frame: bytes = b""  # the Ethernet frame as captured


@dataclass(frozen=True)
class Garbled:
    """A frame that claimed to be IGMP or MLD and was not."""

    time: float
    interface: str
    error: MalformedPacket


class InterfaceGone(McastError):
    """The interface being watched was deleted."""


@dataclass
class CaptureCounters:
    """What the capture saw, and what it lost and why."""

    frames: int = 0  # frames the capture filter passed
    messages: int = 0  # IGMP or MLD messages decoded
    malformed: int = 0  # claimed to be IGMP or MLD and were not
    other: int = 0  # passed the filter, but not IGMP or MLD (ICMPv6 that is not MLD, ...)
    kernel_dropped: int = 0  # the socket's queue was full (PACKET_STATISTICS)
    interface_down: int = 0  # times the interface went down under the capture
    send_failed: collections.Counter[str] = field(default_factory=collections.Counter)

    def to_json(self) -> dict[str, object]:
        return {
            **{k: v for k, v in self.__dict__.items() if k != "send_failed"},
            "send_failed": dict(sorted(self.send_failed.items())),
        }


class Observer:
    """A capture of IGMP and MLD on one interface; close it (or use ``with``).

    A capture filter in the kernel (:mod:`mcast.wire._capfilter`) keeps other
    traffic out. When the interface goes down the capture waits for it to
    come back (counted); when it is deleted, :class:`InterfaceGone`.
    """

    def __init__(self, sock: socket.socket, interface: InterfaceRef) -> None:
        self._sock = sock
        self._waiter = trio.socket.from_stdlib_socket(sock)  # the same socket, to wait on
        self.interface = interface
        self.counters = CaptureCounters()

    @property
    def malformed(self) -> int:
        return self.counters.malformed

    @classmethod
    def open(cls, interface: str | int | InterfaceRef) -> Observer:
        """Start capturing now, in the calling thread's network namespace (CAP_NET_RAW)."""
        ref = interface if isinstance(interface, InterfaceRef) else find_interface(interface)
        try:
            # Protocol 0 receives nothing until bound: no frame slips past the filter.
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise NeedsPrivilege(f"watching {ref.name}", ["CAP_NET_RAW"]) from None
        except OSError as exc:
            if exc.errno not in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                raise
            from ipv6.capabilities import KernelLacks

            raise KernelLacks("packet", f"watching {ref.name}") from None
        try:
            program = ctypes.create_string_buffer(_capfilter.encode())
            fprog = struct.pack("@HP", len(_capfilter.PROGRAM), ctypes.addressof(program))
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            sock.bind((ref.name, ETH_P_ALL))  # Python puts it in network byte order
            mreq = _PACKET_MREQ.pack(ref.index, PACKET_MR_ALLMULTI, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock, ref)

    def send_frame(self, frame: bytes) -> bool:
        """Put an Ethernet frame on the interface; False (and counted) if it could not go."""
        try:
            self._sock.send(frame)
        except OSError as exc:
            self._check_interface()
            self.counters.send_failed[errno.errorcode.get(exc.errno or 0, "error")] += 1
            return False
        return True

    def statistics(self) -> CaptureCounters:
        """The counters, with the kernel's drops read now (reading resets the kernel's)."""
        with contextlib.suppress(OSError):
            _packets, drops = _TPACKET_STATS.unpack(
                self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
            )
            self.counters.kernel_dropped += drops
        return self.counters

    def _check_interface(self) -> None:
        if not interface_present(self.interface):
            raise InterfaceGone(f"interface {self.interface.name} is gone")

    def close(self) -> None:
        self._waiter.close()  # notify_closing first: a task waiting in next() wakes

    def __enter__(self) -> Observer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def next(self) -> Observed | Garbled:
        """The next IGMP or MLD message (or malformed one) on the interface."""
        sock, counters = self._waiter, self.counters
        while True:
            try:
                frame, address = await sock.recvfrom(65535)
            except OSError as exc:
                if exc.errno != errno.ENETDOWN:
                    raise
                self._check_interface()  # deleted: InterfaceGone; down: wait for it
                counters.interface_down += 1
                continue
            counters.frames += 1
            now = time.time()
            try:
                wire = decode_frame_untrusted(frame)
            except MalformedPacket as error:
                counters.malformed += 1
                return Garbled(now, self.interface.name, error)
            if wire is not None:
                counters.messages += 1
                outgoing = address[2] == PACKET_OUTGOING
                return Observed(now, self.interface.name, outgoing, wire, frame)
            counters.other += 1
            await trio.lowlevel.checkpoint_if_cancelled()

    def __aiter__(self) -> AsyncIterator[Observed | Garbled]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Observed | Garbled]:
        while True:
            yield await self.next()


@asynccontextmanager
async def open_observer(interface: str | int | InterfaceRef) -> AsyncIterator[Observer]:
    """Watch IGMP and MLD on ``interface`` for the body of the block."""
    with Observer.open(interface) as observer:
        yield observer
