"""The headers of measurable test streams: the toolkit's own, and iperf2's.

Rules of this module:
- Pure: bytes in, a :class:`Stamp` out (or None when the datagram carries no
  header of that format); a stamp in, bytes out.
- The toolkit's header (docs/multicast.md, "Test streams"), 32 bytes in
  network byte order, then padding to the requested size::

      0  magic "MCST"          4 bytes
      4  version (1)           1 byte
      5  flags (0)             1 byte
      6  reserved (0)          2 bytes
      8  stream id             4 bytes, unsigned
     12  sequence              8 bytes, unsigned, from 0
     20  send time             8 bytes, nanoseconds since the epoch (CLOCK_REALTIME)
     28  datagram length       4 bytes, the whole payload as sent

- iperf2's UDP header (its include/payloads.h, struct UDP_datagram, then the
  flags word of client_hdr_v1): ``id``, ``tv_sec``, ``tv_usec``, ``id2``,
  ``flags``, each 32 bits in network order. With HEADER_SEQNO64B in the
  flags the sequence is ``id2 << 32 | id``, else ``id`` alone; either way it
  is signed, and a negative sequence marks the sender's final datagrams (its
  FIN), which are not data.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

MAGIC = b"MCST"
VERSION = 1
TOOLKIT = struct.Struct("!4sBBHIQQI")
TOOLKIT_SIZE = TOOLKIT.size  # 32

IPERF2 = struct.Struct("!IIIII")  # id, tv_sec, tv_usec, id2, flags
IPERF2_SIZE = IPERF2.size  # 20
IPERF2_MIN = 12  # id, tv_sec, tv_usec: what every iperf2 datagram has
HEADER_SEQNO64B = 0x08000000

FORMATS = ("auto", "toolkit", "iperf2", "none")


class Stamp(NamedTuple):
    """What a test datagram's header says (a tuple: one is made per datagram)."""

    format: str  # "toolkit" or "iperf2"
    stream: int  # the toolkit's stream id; 0 for iperf2 (one stream per sender)
    sequence: int
    sent_ns: int  # the sender's clock when it sent the datagram (CLOCK_REALTIME)
    final: bool = False  # iperf2's FIN: the sender is done, not a data datagram


def encode_toolkit(stream: int, sequence: int, sent_ns: int, size: int) -> bytes:
    """A whole datagram of ``size`` bytes (at least the header's 32)."""
    if size < TOOLKIT_SIZE:
        raise ValueError(f"a test datagram is at least {TOOLKIT_SIZE} bytes, not {size}")
    head = TOOLKIT.pack(MAGIC, VERSION, 0, 0, stream, sequence, sent_ns, size)
    return head + bytes(size - TOOLKIT_SIZE)


def encode_iperf2(sequence: int, sent_ns: int, size: int) -> bytes:
    """A whole datagram iperf2's receiver reads (64-bit sequence; negative: FIN)."""
    if size < IPERF2_SIZE:
        raise ValueError(f"an iperf2 datagram here is at least {IPERF2_SIZE} bytes, not {size}")
    wire = sequence & 0xFFFFFFFFFFFFFFFF  # two's complement for a FIN
    seconds, nanoseconds = divmod(sent_ns, 1_000_000_000)
    head = IPERF2.pack(
        wire & 0xFFFFFFFF,
        seconds & 0xFFFFFFFF,
        nanoseconds // 1000,
        wire >> 32,
        HEADER_SEQNO64B,
    )
    return head + bytes(size - IPERF2_SIZE)


_TOOLKIT_FIELDS = struct.Struct("!B3xIQQ")  # version, then stream, sequence, send time


def decode_toolkit(payload: bytes) -> Stamp | None:
    if payload[:4] != MAGIC or len(payload) < TOOLKIT_SIZE:
        return None
    version, stream, sequence, sent_ns = _TOOLKIT_FIELDS.unpack_from(payload, 4)
    if version != VERSION:
        return None
    return Stamp("toolkit", stream, sequence, sent_ns)


def decode_iperf2(payload: bytes) -> Stamp | None:
    if len(payload) < IPERF2_MIN:
        return None
    low, seconds, microseconds = struct.unpack_from("!III", payload)
    if microseconds >= 1_000_000:
        return None  # not a timestamp: not iperf2's header
    sequence = low - (1 << 32) if low & 0x80000000 else low
    if len(payload) >= IPERF2_SIZE:
        high, flags = struct.unpack_from("!II", payload, 12)
        if flags & HEADER_SEQNO64B:
            wide = high << 32 | low
            sequence = wide - (1 << 64) if wide & (1 << 63) else wide
    sent_ns = seconds * 1_000_000_000 + microseconds * 1000
    return Stamp("iperf2", 0, sequence, sent_ns, final=sequence < 0)


def decode(payload: bytes, format: str = "auto") -> Stamp | None:
    """The header ``format`` says; "auto": the toolkit's magic, else iperf2's."""
    if format == "toolkit":
        return decode_toolkit(payload)
    if format == "iperf2":
        return decode_iperf2(payload)
    if format == "none":
        return None
    return decode_toolkit(payload) or decode_iperf2(payload)


def split_toolkit(data: bytes) -> tuple[list[Stamp], int]:
    """Datagrams of the toolkit's format written back to back (what a receiving
    program wrote: ``socat -u UDP4-RECV:... STDOUT``), cut by the length each
    header gives: their stamps, in order, and how many bytes from the first one
    that is not such a datagram (a header torn, a length past the end) on."""
    stamps: list[Stamp] = []
    at = 0
    while at < len(data):
        stamp = decode_toolkit(data[at : at + TOOLKIT_SIZE])
        if stamp is None:
            break
        (length,) = struct.unpack_from("!I", data, at + 28)
        if length < TOOLKIT_SIZE or at + length > len(data):
            break
        stamps.append(stamp)
        at += length
    return stamps, len(data) - at
