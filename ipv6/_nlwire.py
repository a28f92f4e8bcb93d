"""Netlink's framing, for the families the toolkit speaks itself (XFRM,
nfnetlink_queue): messages and attributes as bytes.

Pure: requests are built, datagrams are walked; what a message means is its
family module's. Netlink's headers are in the host's byte order; a message
or an attribute that runs past its datagram is a ValueError naming the offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

# struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
NLMSGHDR = struct.Struct("=IHHII")
# struct nlattr { u16 len; u16 type; }
NLATTR = struct.Struct("=HH")
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
ERRNO = struct.Struct("=i")  # struct nlmsgerr starts with the negated errno


def attribute(kind: int, value: bytes) -> bytes:
    length = NLATTR.size + len(value)
    return NLATTR.pack(length, kind) + value + bytes(-length % 4)


def request(kind: int, flags: int, sequence: int, body: bytes) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags, sequence, 0) + body


def messages(data: bytes) -> Iterator[tuple[int, int, bytes, int]]:
    """(type, sequence, body, offset) of each message in a datagram."""
    at = 0
    while at + NLMSGHDR.size <= len(data):
        length, kind, _, sequence, _ = NLMSGHDR.unpack_from(data, at)
        if length < NLMSGHDR.size or at + length > len(data):
            raise ValueError(f"a netlink message of {length} octets at offset {at}")
        yield kind, sequence, data[at + NLMSGHDR.size : at + length], at
        at += (length + 3) & ~3


def attributes(body: bytes, start: int) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each attribute of ``body`` from ``start``."""
    at = start
    while at + NLATTR.size <= len(body):
        length, kind = NLATTR.unpack_from(body, at)
        if length < NLATTR.size or at + length > len(body):
            raise ValueError(f"an attribute of {length} octets at offset {at}")
        yield kind & NLA_TYPE_MASK, body[at + NLATTR.size : at + length]
        at += (length + 3) & ~3


def error_of(body: bytes) -> int:
    """The errno of an NLMSG_ERROR message (0: an acknowledgement)."""
    return -int(ERRNO.unpack_from(body)[0])
