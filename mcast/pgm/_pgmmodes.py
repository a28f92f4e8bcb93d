"""The seeds' two data modes over one PGM session, as pure bookkeeping.

Message mode (SOCK_RDM): each send is one message (an APDU), and each receive
returns at most one message, never two joined. ``RM_SET_MESSAGE_BOUNDARY``
announces the size of the next message, which the sender may then give in
several sends (:class:`MessageBoundary`). A receive given less room than the
message comes back with part of it, marked partial until the last part
(WSAEMSGSIZE / MSG_PARTIAL: :class:`MessageParts`).

Stream mode (SOCK_STREAM): sends may be coalesced and split into packets as
the sender likes (:class:`StreamPacker`); a receive returns whatever has
arrived, in order, up to the room it has (:class:`StreamBytes`).

Rules of this module:
- Pure: bytes in, bytes out; no socket, Trio or clock. The session driver
  (:mod:`mcast.pgm._pgmsession`) sends and delivers what these say.
- Bounded: a partial message or an unread stream holds at most what one
  message or one window brought.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from .._errors import McastBadInput

MODES = ("message", "stream")


class BoundaryError(McastBadInput):
    """A send does not fit the message RM_SET_MESSAGE_BOUNDARY announced."""


@dataclass
class MessageBoundary:
    """RM_SET_MESSAGE_BOUNDARY: after :meth:`announce` (size), the sends that follow
    are parts of one message of that size, sent once it is whole. Without an
    announcement, each send is a message of its own."""

    size: int | None = None  # the message being given in parts, if any
    parts: list[bytes] = field(default_factory=list)
    have: int = 0

    def announce(self, size: int) -> None:
        if size < 0:
            raise BoundaryError(f"a message size is 0 or more, not {size}")
        if self.size is not None and self.have:
            raise BoundaryError(
                f"the message announced before ({self.size} octets) still lacks "
                f"{self.size - self.have}: finish it first"
            )
        self.size, self.parts, self.have = size, [], 0

    def give(self, data: bytes) -> bytes | None:
        """One send: the message it completes, if it completes one (an unannounced
        send is one at once); None while the announced message is not whole."""
        if self.size is None:
            return bytes(data)
        if self.have + len(data) > self.size:
            raise BoundaryError(
                f"this send of {len(data)} octets goes past the announced message: "
                f"{self.size - self.have} of its {self.size} octets remain"
            )
        self.parts.append(bytes(data))
        self.have += len(data)
        if self.have < self.size:
            return None
        whole = b"".join(self.parts)
        self.size, self.parts, self.have = None, [], 0
        return whole

    @property
    def pending(self) -> int:
        """Octets of the announced message still to come (0: none is announced)."""
        return 0 if self.size is None else self.size - self.have


@dataclass
class MessageParts:
    """The receiving side of message mode: one message at a time, handed out in
    parts no larger than the room each receive has."""

    current: bytes = b""
    offset: int = 0
    holding: bool = False

    def hold(self, message: bytes) -> None:
        """The next whole message (only when :attr:`holding` is False)."""
        assert not self.holding, "the last message is not handed out yet"
        self.current, self.offset, self.holding = message, 0, True

    def take(self, room: int | None) -> tuple[bytes, bool]:
        """The next part of the held message and whether more of it remains (the
        seeds' partial flag); ``room`` None takes the rest at once."""
        assert self.holding, "no message is held"
        end = len(self.current) if room is None else min(len(self.current), self.offset + room)
        if room is not None and room <= 0 and self.current:
            raise ValueError("a receive needs room for at least one octet")
        part = self.current[self.offset : end]
        self.offset = end
        partial = end < len(self.current)
        if not partial:
            self.current, self.offset, self.holding = b"", 0, False
        return part, partial


@dataclass
class StreamPacker:
    """The sending side of stream mode: bytes in, packets of ``size`` out (each an
    APDU of its own); what does not fill a packet waits for more, or for
    :meth:`flush`."""

    size: int
    waiting: bytearray = field(default_factory=bytearray)

    def give(self, data: bytes) -> list[bytes]:
        self.waiting += data
        full = len(self.waiting) - len(self.waiting) % self.size
        packets = [bytes(self.waiting[i : i + self.size]) for i in range(0, full, self.size)]
        del self.waiting[:full]
        return packets

    def flush(self) -> bytes | None:
        """What waits, as a packet of its own (None: nothing waits)."""
        if not self.waiting:
            return None
        packet = bytes(self.waiting)
        self.waiting.clear()
        return packet


@dataclass
class StreamBytes:
    """The receiving side of stream mode: messages in, bytes out in order, as much
    as each receive has room for; message boundaries are not kept."""

    chunks: collections.deque[bytes] = field(default_factory=collections.deque)
    offset: int = 0  # into the first chunk
    held: int = 0

    def hold(self, data: bytes) -> None:
        if data:
            self.chunks.append(data)
            self.held += len(data)

    def take(self, room: int) -> bytes:
        """Up to ``room`` octets of what has arrived (b"": nothing has)."""
        if room <= 0:
            raise ValueError("a receive needs room for at least one octet")
        out = bytearray()
        while self.chunks and len(out) < room:
            first = self.chunks[0]
            piece = first[self.offset : self.offset + room - len(out)]
            out += piece
            self.offset += len(piece)
            if self.offset == len(first):
                self.chunks.popleft()
                self.offset = 0
        self.held -= len(out)
        return bytes(out)
