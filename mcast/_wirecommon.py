"""What the IGMP and MLD codecs share: the one decode error, checksums and
the floating-point time codes.

Rules: decoders of wire bytes trust nothing and are named ``*_untrusted``;
the only exception they let out is :class:`MalformedPacket`, which says at
which byte offset what was wrong (struct and index errors are translated).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from ._errors import McastError

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
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
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
        raise ValueError(f"{value} is negative")
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
        raise ValueError(f"{value} is negative")
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
