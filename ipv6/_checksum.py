"""The Internet checksum (RFC 1071) and its incremental update (RFC 1624). Pure.

The ones' complement sum of a run of 16-bit words is the run, read as one
big-endian number, modulo 0xFFFF (as 0x10000 is 1 modulo 0xFFFF): one bignum
operation in C instead of a Python loop over the words. The same holds for
an address held as an integer, so a translator can move a checksum from one
pseudo-header to another with a few integer operations.
"""

from __future__ import annotations


def word_sum(data: bytes | bytearray | memoryview) -> int:
    """The ones' complement sum of ``data``'s 16-bit words, modulo 0xFFFF
    (an odd length is padded with a zero byte, as RFC 1071 does)."""
    number = int.from_bytes(data, "big")
    if len(data) % 2:
        number <<= 8
    return number % 0xFFFF


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The Internet checksum of ``data``: 0 when ``data`` holds a valid one."""
    number = int.from_bytes(data, "big")
    if len(data) % 2:
        number <<= 8
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF  # a non-zero multiple of 0xFFFF sums to ones' complement -0
    return ~total & 0xFFFF


def adjust(current: int, delta: int) -> int:
    """A checksum after the summed data changed by ``delta`` (new sum minus old,
    any integer; an address or port as an integer sums as its words do).

    The result is never 0, so it is also right for UDP, where 0 means none.
    """
    total = ((~current & 0xFFFF) + delta) % 0xFFFF
    return ~total & 0xFFFF  # total is at most 0xFFFE, so this is at least 1
