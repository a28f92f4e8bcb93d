"""What the IGMP and MLD codecs share: the one decode error, checksums, the
floating-point time codes, and the records of IGMPv3 and MLDv2 reports.

Rules: decoders of wire bytes trust nothing and are named ``*_untrusted``;
the only exception they let out is :class:`MalformedPacket`, which says at
which byte offset what was wrong (struct and index errors are translated).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import IntEnum
from functools import wraps
from typing import ParamSpec, Protocol, TypeVar

from .._errors import McastBadInput, McastError

P = ParamSpec("P")
T = TypeVar("T")


class MalformedPacket(McastError):
    """Wire bytes that are not a valid message; ``offset`` is where it went wrong."""

    def __init__(self, what: str, offset: int) -> None:
        self.what = what
        self.offset = offset
        super().__init__(f"malformed packet at byte {offset}: {what}")


def untrusted(function: Callable[P, T]) -> Callable[P, T]:
    """Let only MalformedPacket out of a decoder, whatever the bytes were."""

    @wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        except MalformedPacket:
            raise
        except (struct.error, IndexError, ValueError) as exc:
            raise MalformedPacket(f"truncated or inconsistent ({exc})", -1) from None

    return guarded


def need(data: bytes, offset: int, size: int, what: str) -> None:
    if len(data) < offset + size:
        raise MalformedPacket(
            f"{what} needs {size} bytes, {max(0, len(data) - offset)} left", offset
        )


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``.

    The ones' complement sum of the 16-bit words is the data, read as one
    big-endian number, modulo 0xFFFF (as 0x10000 is 1 modulo 0xFFFF), except
    that a non-zero multiple of 0xFFFF sums to 0xFFFF: one bignum operation in
    C instead of a Python loop over the words.
    """
    if len(data) % 2:
        data += b"\0"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


# --- floating-point codes (RFC 3376 4.1.1 and 4.1.7, RFC 3810 5.1.3 and 5.1.9) ---


def decode_code8(code: int) -> int:
    """An 8-bit Max Resp Code or QQIC as the value it stands for."""
    if code < 128:
        return code
    mantissa, exponent = code & 0x0F, (code >> 4) & 0x07
    return (mantissa | 0x10) << (exponent + 3)


def encode_code8(value: int) -> int:
    """The 8-bit code for ``value`` (rounded down to what the format can say)."""
    if value < 0:
        raise McastBadInput(f"a response time of {value} is negative")
    if value < 128:
        return value
    return _encode_float(value, mantissa_bits=4, exponent_max=7, limit=31744, width=8)


def decode_code16(code: int) -> int:
    """MLDv2's 16-bit Maximum Response Code as milliseconds."""
    if code < 32768:
        return code
    mantissa, exponent = code & 0x0FFF, (code >> 12) & 0x07
    return (mantissa | 0x1000) << (exponent + 3)


def encode_code16(value: int) -> int:
    if value < 0:
        raise McastBadInput(f"a response time of {value} is negative")
    if value < 32768:
        return value
    return _encode_float(value, mantissa_bits=12, exponent_max=7, limit=8387584, width=16)


def _encode_float(
    value: int, *, mantissa_bits: int, exponent_max: int, limit: int, width: int
) -> int:
    value = min(value, limit)
    for exponent in range(exponent_max + 1):
        mantissa = (value >> (exponent + 3)) - (1 << mantissa_bits)
        if 0 <= mantissa < (1 << mantissa_bits):
            return (1 << (width - 1)) | (exponent << mantissa_bits) | mantissa
    raise AssertionError(value)


# --- report records (RFC 3376 4.2.4, RFC 3810 5.2.4): the same layout, 4- or 16-byte addresses ---


class RecordType(IntEnum):
    """Group record types, shared by IGMPv3 and MLDv2."""

    MODE_IS_INCLUDE = 1
    MODE_IS_EXCLUDE = 2
    CHANGE_TO_INCLUDE = 3
    CHANGE_TO_EXCLUDE = 4
    ALLOW_NEW_SOURCES = 5
    BLOCK_OLD_SOURCES = 6

    @property
    def short(self) -> str:
        return _SHORT[self]


_SHORT = {
    RecordType.MODE_IS_INCLUDE: "IS_IN",
    RecordType.MODE_IS_EXCLUDE: "IS_EX",
    RecordType.CHANGE_TO_INCLUDE: "TO_IN",
    RecordType.CHANGE_TO_EXCLUDE: "TO_EX",
    RecordType.ALLOW_NEW_SOURCES: "ALLOW",
    RecordType.BLOCK_OLD_SOURCES: "BLOCK",
}


class _Packed(Protocol):
    @property
    def packed(self) -> bytes: ...


def decode_records(
    data: bytes, count: int, size: int, what: str
) -> list[tuple[RecordType, bytes, tuple[bytes, ...], bytes]]:
    """``count`` records after an 8-byte report header, as (type, group, sources, aux)
    with the addresses still raw (``size`` bytes each)."""
    header = struct.Struct(f"!BBH{size}s")  # type, aux data len (words), sources, group
    offset = 8
    records = []
    for _ in range(count):
        need(data, offset, header.size, f"a {what}")
        kind, aux_words, nsources, group = header.unpack_from(data, offset)
        try:
            record_type = RecordType(kind)
        except ValueError:
            raise MalformedPacket(f"unknown {what} type {kind}", offset) from None
        start = offset + header.size
        need(data, start, size * nsources + 4 * aux_words, "a record's sources and aux data")
        sources = tuple(data[start + size * i : start + size * (i + 1)] for i in range(nsources))
        aux_start = start + size * nsources
        records.append(
            (record_type, group, sources, bytes(data[aux_start : aux_start + 4 * aux_words]))
        )
        offset = aux_start + 4 * aux_words
    return records


def encode_record(kind: int, group: _Packed, sources: Sequence[_Packed], aux: bytes) -> bytes:
    """One report record; the address size follows the group's."""
    if len(aux) % 4:
        raise McastBadInput("auxiliary data is a whole number of 32-bit words")
    packed = group.packed
    header = struct.pack(f"!BBH{len(packed)}s", kind, len(aux) // 4, len(sources), packed)
    return header + b"".join(s.packed for s in sources) + aux
