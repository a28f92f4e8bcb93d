"""A received datagram and what the kernel said about it (control messages).

Decoding is lazy: a datagram is a tuple of what recvmsg or recvmmsg gave, and
its group, interface, TTL and TOS are read from the ancillary data only when
a property asks. The cmsg numbers and layouts are the running platform's
(:mod:`ipv6.sockopts`).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable

from ipv6.sockopts import (
    INT,
    IP_PKTINFO,
    IP_TOS,
    IP_TTL,
    IPV6_HOPLIMIT,
    IPV6_PKTINFO,
    IPV6_TCLASS,
    SO_TIMESTAMPNS,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
    TIMESPEC,
    arrival_ns,
    drop_count,
    packet_info,
)

from . import _recvmmsg

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DatagramContext:
    """What every datagram of one socket shares."""

    __slots__ = ("family", "level", "names", "port")

    def __init__(self, family: int, port: int, names: dict[int, str]) -> None:
        self.family = family
        self.level = SOL_IP if family == socket.AF_INET else SOL_IPV6
        self.port = port
        self.names = names


class Datagram(tuple):  # type: ignore[type-arg]
    """One received datagram and what the kernel said about it.

    Built as a tuple (payload, address, ancillary, flags, context) so that a
    fast sender costs one C-level construction per datagram; the kernel's
    ancillary data is decoded only when a property asks for it, so a
    consumer that counts or forwards payloads does not pay for addresses it
    never reads.
    """

    __slots__ = ()

    def __new__(
        cls,
        payload: bytes,
        address: tuple[str, int] | tuple[str, int, int, int] | bytes,
        ancillary: list[tuple[int, int, bytes]] | bytes,
        flags: int,
        context: DatagramContext,
    ) -> Datagram:
        """``address`` and ``ancillary`` as recvmsg gives them, or raw from recvmmsg."""
        return tuple.__new__(cls, (payload, address, ancillary, flags, context))

    @property
    def payload(self) -> bytes:
        return self[0]  # type: ignore[no-any-return]

    @property
    def _address(self) -> tuple[str, int]:
        address = self[1]
        if isinstance(address, bytes):
            return _recvmmsg.sockaddr_address(address)
        return address  # type: ignore[no-any-return]

    @property
    def _context(self) -> DatagramContext:
        return self[4]  # type: ignore[no-any-return]

    def _decode(self) -> tuple[str, int, int | None, int | None]:
        group, ifindex, ttl, tos = "", 0, None, None
        level = self._context.level
        ancillary = self[2]
        if isinstance(ancillary, bytes):
            ancillary = _recvmmsg.control_messages(ancillary)
        for cmsg_level, kind, value in ancillary:
            if cmsg_level != level:
                continue
            info = packet_info(cmsg_level, kind, value)
            if info is not None:
                group, ifindex = info
            elif kind == (IP_TTL if level == SOL_IP else IPV6_HOPLIMIT):
                ttl = INT.unpack(value)[0] if len(value) >= 4 else value[0]
            elif kind == IP_TOS and level == SOL_IP:
                tos = value[0]
            elif kind == IPV6_TCLASS and level == SOL_IPV6:
                tos = INT.unpack(value)[0]
        return group, ifindex, ttl, tos

    @property
    def source(self) -> str:
        return self._address[0]

    @property
    def source_port(self) -> int:
        return self._address[1]

    @property
    def group(self) -> str:
        """The packet's destination address (the group it was sent to)."""
        return self._decode()[0]

    @property
    def ifindex(self) -> int:
        return self._decode()[1]

    @property
    def interface(self) -> str:
        """The arrival interface's name in the receiver's namespace."""
        index = self.ifindex
        return self._context.names.get(index) or str(index)

    @property
    def ttl(self) -> int | None:
        """TTL (IPv4) or hop limit (IPv6) of the packet."""
        return self._decode()[2]

    @property
    def tos(self) -> int | None:
        """TOS byte (IPv4) or traffic class (IPv6)."""
        return self._decode()[3]

    @property
    def arrived_ns(self) -> int | None:
        """When the kernel received it (CLOCK_REALTIME, nanoseconds; SO_TIMESTAMPNS)."""
        return _first(self[2], arrival_ns)

    @property
    def truncated(self) -> bool:
        return bool(self[3] & socket.MSG_TRUNC)

    @property
    def port(self) -> int:
        return self._context.port

    @property
    def family(self) -> int:
        return self._context.family

    def __repr__(self) -> str:
        return (
            f"<Datagram {self.source}:{self.source_port} -> {self.group}:{self.port} "
            f"on {self.interface}, {len(self.payload)} bytes>"
        )

    def to_json(self) -> dict[str, object]:
        group, ifindex, ttl, tos = self._decode()
        return {
            "group": group,
            "source": self.source,
            "source_port": self.source_port,
            "port": self.port,
            "interface": self._context.names.get(ifindex) or str(ifindex),
            "ifindex": ifindex,
            "ttl": ttl,
            "tos": tos,
            "length": len(self.payload),
            "truncated": self.truncated,
        }


# Texts of addresses seen lately, by their raw bytes: a stream repeats its
# source and group in every datagram, and making the text is most of the cost.
_TEXTS: dict[bytes, tuple[str, int] | str] = {}
_TEXTS_MAX = 4096
# Where the packet info and the arrival time sit in raw control data of a given
# length (a socket's datagrams carry the same messages in the same order):
# length -> (packet info header at, its data from, to; time header at, data at).
_LAYOUTS: dict[int, tuple[bytes, int, int, int, bytes, int, int] | None] = {}
_CMSG_HEADER = 16  # LP64 struct cmsghdr


def stream_facts(batch: list[Datagram]) -> list[tuple[str, int, str, bytes, int | None]]:
    """(source, source port, group, payload, kernel arrival time) of each datagram,
    for per-stream statistics: the same facts as the properties, for a whole batch
    at a fraction of their cost (raw control data is read at offsets learnt from
    the first datagram of its length, each checked against its header)."""
    texts = _TEXTS
    if len(texts) > _TEXTS_MAX:
        texts.clear()
    out = []
    for payload, address, ancillary, _, _ in batch:
        if isinstance(address, bytes):
            peer = texts.get(address)
            if peer is None:
                peer = texts[address] = _recvmmsg.sockaddr_address(address)
        else:
            peer = (address[0], address[1])
        assert isinstance(peer, tuple)
        group, arrived = "", None
        layout = _LAYOUTS.get(len(ancillary)) if isinstance(ancillary, bytes) else None
        if layout is not None:
            info_head, info_from, info_to, time_head_at, time_head, time_from, level = layout
            if (
                ancillary[info_from - _CMSG_HEADER : info_from] == info_head
                and ancillary[time_head_at : time_head_at + _CMSG_HEADER] == time_head
            ):
                value = ancillary[info_from:info_to]
                known = texts.get(value)
                if known is None:
                    found = packet_info(
                        level, IP_PKTINFO if level == SOL_IP else IPV6_PKTINFO, value
                    )
                    known = texts[value] = found[0] if found else ""
                assert isinstance(known, str)
                seconds, nanoseconds = TIMESPEC.unpack_from(ancillary, time_from)
                out.append(
                    (peer[0], peer[1], known, payload, seconds * 1_000_000_000 + nanoseconds)
                )
                continue
        messages = (
            _recvmmsg.control_messages(ancillary) if isinstance(ancillary, bytes) else ancillary
        )
        for level, kind, value in messages:
            if kind == SO_TIMESTAMPNS and level == SOL_SOCKET:
                arrived = arrival_ns(level, kind, value)
                continue
            info = packet_info(level, kind, value)
            if info is not None:
                group = info[0]
        if isinstance(ancillary, bytes) and len(ancillary) not in _LAYOUTS:
            _LAYOUTS[len(ancillary)] = _learn(ancillary)
        out.append((peer[0], peer[1], group, payload, arrived))
    return out


def _learn(control: bytes) -> tuple[bytes, int, int, int, bytes, int, int] | None:
    """Where the packet info and arrival time are in control data of this length."""
    info = time_at = None
    offset = 0
    while offset + _CMSG_HEADER <= len(control):
        length, level, kind = _CMSG.unpack_from(control, offset)
        if length < _CMSG_HEADER:
            return None
        if packet_info(level, kind, control[offset + _CMSG_HEADER : offset + length]):
            info = (
                control[offset : offset + _CMSG_HEADER],
                offset + _CMSG_HEADER,
                offset + length,
                level,
            )
        elif level == SOL_SOCKET and kind == SO_TIMESTAMPNS:
            time_at = offset
        offset += (length + 7) & ~7
    if info is None or time_at is None:
        return None
    head, start, end, level = info
    time_head = control[time_at : time_at + _CMSG_HEADER]
    return head, start, end, time_at, time_head, time_at + _CMSG_HEADER, level


_CMSG = struct.Struct("=QiI")


def drops_in(ancillary: list[tuple[int, int, bytes]] | bytes) -> int | None:
    """The socket's drop counter (SO_RXQ_OVFL) carried by one datagram, if any."""
    return _first(ancillary, drop_count)


def _first(
    ancillary: list[tuple[int, int, bytes]] | bytes,
    read: Callable[[int, int, bytes], int | None],
) -> int | None:
    """What ``read`` finds in the first control message it understands."""
    if isinstance(ancillary, bytes):
        ancillary = _recvmmsg.control_messages(ancillary)
    for level, kind, value in ancillary:
        found = read(level, kind, value)
        if found is not None:
            return found
    return None


def as_address(value: str | IPAddress) -> IPAddress:
    return (
        value
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address)
        else (ipaddress.ip_address(value))
    )
