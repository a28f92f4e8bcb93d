"""Watching IGMP and MLD on an interface, from Trio.

A packet socket (AF_PACKET) bound to the interface sees every frame it
sends and receives; it asks for all multicast (PACKET_MR_ALLMULTI) so a
NIC's multicast filter does not hide reports for groups this host has not
joined. Frames are decoded by :mod:`mcast._frames`; what is not IGMP or MLD
is skipped, what claims to be and is not is reported as malformed.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from ipv6 import InterfaceRef, NeedsPrivilege, resolve_interface

from ._frames import WireMessage, decode_frame_untrusted
from ._wirecommon import MalformedPacket

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_ALLMULTI = 2
PACKET_OUTGOING = 4
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


class Observer:
    """A capture of IGMP and MLD on one interface; close it (or use ``with``)."""

    def __init__(self, sock: socket.socket, interface: InterfaceRef) -> None:
        self._sock = sock
        self.interface = interface
        self.malformed = 0

    @classmethod
    def open(cls, interface: str | int | InterfaceRef) -> Observer:
        """Start capturing now, in the calling thread's network namespace (CAP_NET_RAW)."""
        ref = interface if isinstance(interface, InterfaceRef) else resolve_interface(interface)
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise NeedsPrivilege(f"watching {ref.name}", ["CAP_NET_RAW"]) from None
        try:
            sock.bind((ref.name, 0))
            mreq = _PACKET_MREQ.pack(ref.index, PACKET_MR_ALLMULTI, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return cls(sock, ref)

    def send_frame(self, frame: bytes) -> None:
        """Put an Ethernet frame on the interface (small frames never block)."""
        self._sock.send(frame)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Observer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def next(self) -> Observed | Garbled:
        """The next IGMP or MLD message (or malformed one) on the interface."""
        sock = self._sock
        while True:
            try:
                frame, address = sock.recvfrom(65535)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                continue
            now = time.time()
            try:
                wire = decode_frame_untrusted(frame)
            except MalformedPacket as error:
                self.malformed += 1
                return Garbled(now, self.interface.name, error)
            if wire is not None:
                outgoing = address[2] == PACKET_OUTGOING
                return Observed(now, self.interface.name, outgoing, wire, frame)
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
