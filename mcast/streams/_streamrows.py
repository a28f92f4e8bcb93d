"""Per-stream statistics for a whole batch of datagrams at once.

Rules of this module:
- Pure: numpy over the bytes recvmmsg filled (payloads, sender addresses and
  control data, each in slots of a fixed size), or over datagrams already
  read; no I/O. The arrival time is the kernel's (SO_TIMESTAMPNS), or the
  ``now_ns`` given where a datagram carries none.
- Columns, not datagrams: a batch's headers are read as arrays, its rows
  split by stream, and each stream's rows handed to
  :meth:`StreamStats.add_many` at once, so a datagram costs a few array
  elements, not a few dozen Python operations.
- What the kernel wrote is checked, not assumed: control data is read at
  offsets learnt from a datagram with that length of control data, and a
  row whose message headers are not the learnt ones is read alone.
- Only fields (strided views) of the slots are indexed by row, never the
  slots themselves: a slot is as large as the largest datagram.

Past 400 lines as one concept: one batch path, columns from recvmmsg's slots to
per-stream rows, in numpy.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ipv6.sockopts import (
    CMSG_HEADER,
    PKTINFO_ADDRESS,
    SO_TIMESTAMPNS,
    SOL_SOCKET,
    arrival_ns,
    control_messages,
    packet_info,
)

from ._streamheader import (
    HEADER_SEQNO64B,
    IPERF2_MIN,
    IPERF2_SIZE,
    MAGIC,
    TOOLKIT_SIZE,
    VERSION,
    Stamp,
)
from ._streamstats import MAX_TIME, Ints, Numbers, StreamKey, Streams

NONE, TOOLKIT, IPERF2 = 0, 1, 2
FORMAT_NAMES = ("none", "toolkit", "iperf2")
FORMAT_CODES = {"none": NONE, "toolkit": TOOLKIT, "iperf2": IPERF2}
_MAGIC = int.from_bytes(MAGIC, "big")
_TEXTS_MAX = 4096
_HEAD = CMSG_HEADER.size

Rows = slice | npt.NDArray[np.intp]  # every row of a batch, or some


class Layout(NamedTuple):
    """Where the arrival time and the destination address are in control data
    of one length (a socket's datagrams carry the same messages in the same order)."""

    time_at: int  # the SO_TIMESTAMPNS message (its header; the timespec follows)
    time_head: bytes  # that header, as it must read
    info_at: int  # the packet info message
    info_head: bytes
    address_at: int  # the destination address, inside the packet info
    address_size: int  # 4 or 16


def control_layout(control: bytes) -> Layout | None:
    """The :class:`Layout` of ``control``; None without both messages."""
    time_at = info = None
    offset = 0
    while offset + _HEAD <= len(control):
        length, level, kind = CMSG_HEADER.unpack_from(control, offset)
        if length < _HEAD:
            return None
        if packet_info(level, kind, control[offset + _HEAD : offset + length]) is not None:
            at, size = PKTINFO_ADDRESS[level]
            info = (offset, offset + _HEAD + at, size)
        elif level == SOL_SOCKET and kind == SO_TIMESTAMPNS:
            time_at = offset
        offset += (length + 7) & ~7
    if time_at is None or info is None:
        return None
    info_at, address_at, size = info
    return Layout(
        time_at,
        control[time_at : time_at + _HEAD],
        info_at,
        control[info_at : info_at + _HEAD],
        address_at,
        size,
    )


def _dtype(fields: list[tuple[str, str, int]], itemsize: int) -> np.dtype[np.void]:
    return np.dtype(
        {
            "names": [name for name, _, _ in fields],
            "formats": [kind for _, kind, _ in fields],
            "offsets": [at for _, _, at in fields],
            "itemsize": itemsize,
        }
    )


# The two headers (_streamheader has them as struct formats; these are the same
# fields as arrays), sender addresses (Linux sockaddr_in and sockaddr_in6), and
# the key a batch's rows are split by.
_TOOLKIT_FIELDS = [
    ("magic", ">u4", 0),
    ("version", "u1", 4),
    ("stream", ">u4", 8),
    ("sequence", ">u8", 12),
    ("sent", ">u8", 20),
]
_IPERF2_FIELDS = [
    ("id", ">u4", 0),
    ("seconds", ">u4", 4),
    ("microseconds", ">u4", 8),
    ("id2", ">u4", 12),
    ("flags", ">u4", 16),
]
# Sender addresses as three native 64-bit words (Linux sockaddr_in: family,
# port and address in the first; sockaddr_in6: its address in the other two).
_SOCKADDR = [("name0", "=u8", 0), ("name1", "=u8", 8), ("name2", "=u8", 16)]
# A batch's rows are split by a key of eight words, one column each.
_NAME0, _NAME1, _NAME2, _GROUP0, _GROUP1, _GROUP_SIZE, _STREAM, _FORMAT = range(8)
_WORDS = struct.Struct("=QQ")


class _Columns(NamedTuple):
    sequences: dict[int, Numbers]  # by format, every row
    sent: dict[int, Ints]
    arrived: Ints
    lengths: Ints
    ipv6: bool


class BatchColumns:
    """Statistics for batches that recvmmsg left in fixed buffers.

    ``payloads``, ``names`` and ``controls`` are those buffers (``count``
    slots of ``size``, ``name_size`` and ``space`` bytes); they are viewed
    once, and :meth:`measure` reads the first rows of a batch.
    """

    def __init__(
        self,
        payloads: Any,  # anything with the buffer protocol (ctypes arrays here)
        names: Any,
        controls: Any,
        *,
        count: int,
        size: int,
        name_size: int,
        space: int,
    ) -> None:
        if size < TOOLKIT_SIZE:
            raise ValueError(f"slots of {size} bytes cannot hold a {TOOLKIT_SIZE}-byte header")
        self._toolkit = np.frombuffer(payloads, _dtype(_TOOLKIT_FIELDS, size), count)
        self._iperf2 = np.frombuffer(payloads, _dtype(_IPERF2_FIELDS, size), count)
        self._sockaddrs = np.frombuffer(names, _dtype(_SOCKADDR, name_size), count)
        self._controls = controls
        self._raw_controls = np.frombuffer(controls, np.uint8, count * space).reshape(count, space)
        self._space = space
        self._layouts: dict[int, tuple[Layout, npt.NDArray[np.void]] | None] = {}
        self._texts: dict[bytes, str] = {}

    def measure(
        self,
        streams: Streams,
        lengths: Ints,
        control_lengths: Ints,
        *,
        ipv6: bool,
        now_ns: int,
    ) -> None:
        """Count the batch whose datagram and control data lengths are these (one
        row per datagram, in the order they arrived) into ``streams``; ``ipv6``:
        it was read from an IPv6 socket."""
        n = len(lengths)
        if not n:
            return
        keys = np.zeros((n, 8), np.uint64)
        arrived = self._times_and_groups(control_lengths, now_ns, keys)
        sockaddrs = self._sockaddrs[:n]
        keys[:, _NAME0] = sockaddrs["name0"]
        if ipv6:
            keys[:, _NAME1] = sockaddrs["name1"]
            keys[:, _NAME2] = sockaddrs["name2"]
        code = FORMAT_CODES.get(streams.format, -1)  # -1: auto
        sequences: dict[int, Numbers] = {}
        sent: dict[int, Ints] = {}
        formats = keys[:, _FORMAT]
        everyone = False  # every row has the toolkit's header
        if code in (TOOLKIT, -1):
            toolkit = self._toolkit[:n]
            found = (
                (lengths >= TOOLKIT_SIZE)
                & (toolkit["magic"] == _MAGIC)
                & (toolkit["version"] == VERSION)
            )
            everyone = bool(found.all())
            if everyone or found.any():
                formats[found] = TOOLKIT
                sequences[TOOLKIT] = toolkit["sequence"].astype(np.uint64)
                sent[TOOLKIT] = np.minimum(toolkit["sent"], MAX_TIME).astype(np.int64)
                keys[:, _STREAM] = np.where(found, toolkit["stream"], 0)
        finals = None
        if code == IPERF2 or (code == -1 and not everyone):
            iperf2 = self._iperf2[:n]
            found = (
                (formats == NONE) & (lengths >= IPERF2_MIN) & (iperf2["microseconds"] < 1_000_000)
            )
            if found.any():
                formats[found] = IPERF2
                low = iperf2["id"].astype(np.uint64)
                wide = (iperf2["id2"].astype(np.uint64) << np.uint64(32) | low).view(np.int64)
                narrow = low.astype(np.uint32).view(np.int32).astype(np.int64)
                with_high = (lengths >= IPERF2_SIZE) & ((iperf2["flags"] & HEADER_SEQNO64B) != 0)
                number = np.where(with_high, wide, narrow)
                sequences[IPERF2] = number
                seconds = iperf2["seconds"].astype(np.int64) * 1_000_000_000
                since = seconds + iperf2["microseconds"].astype(np.int64) * 1000
                sent[IPERF2] = np.minimum(since, MAX_TIME)
                finals = found & (number < 0)  # the sender's FIN: not data
        rows: Rows = slice(None)
        if finals is not None and finals.any():
            streams.finals += int(finals.sum())
            rows = np.flatnonzero(~finals)
            if not len(rows):
                return
            keys = keys[rows]
        columns = _Columns(sequences, sent, arrived, lengths, ipv6)
        for part, key in _split(keys):
            self._add(streams, key, part if isinstance(rows, slice) else rows[part], columns)

    def _add(self, streams: Streams, key: list[int], rows: Rows, columns: _Columns) -> None:
        sequences, sent, arrived, lengths, ipv6 = columns
        name = _WORDS.pack(key[_NAME0], key[_NAME1]) + _WORDS.pack(key[_NAME2], 0)
        source = self._text(name[8:24] if ipv6 else name[4:8])
        size = key[_GROUP_SIZE]
        group = self._text(_WORDS.pack(key[_GROUP0], key[_GROUP1])[:size]) if size else ""
        fmt = key[_FORMAT]
        stream_key: StreamKey = (source, int.from_bytes(name[2:4], "big"), group, key[_STREAM])
        count = len(arrived) if isinstance(rows, slice) else len(rows)
        stats = streams.stream(stream_key, FORMAT_NAMES[fmt], count)
        if stats is None:
            return
        if fmt == NONE:
            stats.add_many(None, None, arrived[rows], lengths[rows])
        else:
            stats.add_many(sequences[fmt][rows], sent[fmt][rows], arrived[rows], lengths[rows])

    def _text(self, raw: bytes) -> str:
        text = self._texts.get(raw)
        if text is None:
            if len(self._texts) >= _TEXTS_MAX:
                self._texts.clear()
            text = self._texts[raw] = str(ipaddress.ip_address(raw))
        return text

    def _times_and_groups(
        self, control_lengths: Ints, now_ns: int, keys: npt.NDArray[np.uint64]
    ) -> Ints:
        """Each row's arrival time; its destination address goes into ``keys``."""
        n = len(control_lengths)
        arrived = np.full(n, now_ns, np.int64)
        first = int(control_lengths[0])
        if bool((control_lengths == first).all()):
            sets: list[tuple[int, Rows]] = [(first, slice(0, n))]
        else:
            sets = [
                (int(length), np.flatnonzero(control_lengths == length))
                for length in np.unique(control_lengths)
            ]
        for length, rows in sets:
            one = rows.start if isinstance(rows, slice) else int(rows[0])
            known = self._layout(length, one)
            if known is None:
                self._read_alone(np.arange(n)[rows], control_lengths, arrived, keys)
                continue
            layout, view = known
            fields = view[:n][rows]  # a copy of just these fields, when rows are chosen
            # The messages' level and type where the layout has them (their lengths
            # follow from the type).
            _, time_kind = _WORDS.unpack(layout.time_head)
            _, info_kind = _WORDS.unpack(layout.info_head)
            good = (fields["time_kind"] == time_kind) & (fields["info_kind"] == info_kind)
            arrived[rows] = fields["seconds"] * 1_000_000_000 + fields["nanoseconds"]
            keys[rows, _GROUP0] = fields["address0"]
            if layout.address_size == 16:
                keys[rows, _GROUP1] = fields["address1"]
            keys[rows, _GROUP_SIZE] = layout.address_size
            if not bool(good.all()):
                self._read_alone(np.arange(n)[rows][~good], control_lengths, arrived, keys)
        return arrived

    def _layout(self, length: int, row: int) -> tuple[Layout, npt.NDArray[np.void]] | None:
        if length not in self._layouts:
            control = self._raw_controls[row, :length].tobytes()
            layout = control_layout(control)
            self._layouts[length] = (
                None
                if layout is None
                else (layout, np.frombuffer(self._controls, _control_dtype(layout, self._space)))
            )
        return self._layouts[length]

    def _read_alone(
        self,
        rows: npt.NDArray[np.intp],
        control_lengths: Ints,
        arrived: Ints,
        keys: npt.NDArray[np.uint64],
    ) -> None:
        """Rows whose control data is not of a learnt layout: message by message."""
        for row in rows.tolist():
            control = self._raw_controls[row, : int(control_lengths[row])].tobytes()
            time, address = _time_and_address(control)
            if time is not None:
                arrived[row] = time
            if address is not None:
                keys[row, _GROUP0 : _GROUP1 + 1] = _WORDS.unpack(address.ljust(16, b"\0"))
                keys[row, _GROUP_SIZE] = len(address)
            else:
                keys[row, _GROUP0 : _GROUP_SIZE + 1] = 0


def _control_dtype(layout: Layout, space: int) -> np.dtype[np.void]:
    fields = [
        ("time_kind", "=u8", layout.time_at + 8),  # level and type, as one word
        ("seconds", "=i8", layout.time_at + _HEAD),
        ("nanoseconds", "=i8", layout.time_at + _HEAD + 8),
        ("info_kind", "=u8", layout.info_at + 8),
    ]
    if layout.address_size == 4:
        fields.append(("address0", "=u4", layout.address_at))
    else:
        fields += [
            ("address0", "=u8", layout.address_at),
            ("address1", "=u8", layout.address_at + 8),
        ]
    return _dtype(fields, space)


def _time_and_address(control: bytes) -> tuple[int | None, bytes | None]:
    time = address = None
    for level, kind, value in control_messages(control):
        found = arrival_ns(level, kind, value)
        if found is not None:
            time = found
        elif packet_info(level, kind, value) is not None:
            at, size = PKTINFO_ADDRESS[level]
            address = value[at : at + size]
    return time, address


def _split(keys: npt.NDArray[np.uint64]) -> list[tuple[Rows, list[int]]]:
    """The rows of each distinct key, in the order they arrived (one slice when
    the whole batch is one stream, the usual case)."""
    first = keys[0]
    if bool((keys == first).all()):
        return [(slice(None), first.tolist())]
    _, where, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [
        (np.flatnonzero(inverse == i), keys[at].tolist()) for i, at in enumerate(where.tolist())
    ]


Fact = tuple[str, int, str, int, int, Stamp | None]


def measure_datagrams(streams: Streams, facts: list[Fact]) -> None:
    """Count datagrams already read (source, source port, group, length, arrival
    time, header) into ``streams``, a stream's rows at once."""
    rows: dict[tuple[StreamKey, str], list[tuple[int, int, int, int]]] = {}
    for source, port, group, length, arrived, stamp in facts:
        if stamp is None:
            rows.setdefault(((source, port, group, 0), "none"), []).append((0, 0, arrived, length))
        elif stamp.final:
            streams.finals += 1
        else:
            key = (source, port, group, stamp.stream)
            sent = min(max(stamp.sent_ns, 0), MAX_TIME)
            rows.setdefault((key, stamp.format), []).append((stamp.sequence, sent, arrived, length))
    for (key, fmt), values in rows.items():
        stats = streams.stream(key, fmt, len(values))
        if stats is None:
            continue
        numbers, sent_ns, arrived_ns, lengths = zip(*values, strict=True)
        times = np.array(arrived_ns, np.int64)
        sizes = np.array(lengths, np.int64)
        if fmt == "none":
            stats.add_many(None, None, times, sizes)
        else:
            numbered: Numbers = (
                np.array(numbers, np.uint64) if fmt == "toolkit" else np.array(numbers, np.int64)
            )
            stats.add_many(numbered, np.array(sent_ns, np.int64), times, sizes)
