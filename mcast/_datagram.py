"""A received datagram and what the kernel said about it (control messages).

Decoding is lazy: a datagram is a tuple of what recvmsg or recvmmsg gave, and
its group, interface, TTL and TOS are read from the ancillary data only when
a property asks. The cmsg numbers and layouts are the running platform's
(:mod:`ipv6.sockopts`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from ipv6 import batch as mmsg
from ipv6.sockopts import (
    INT,
    IP_TOS,
    IP_TTL,
    IPV6_HOPLIMIT,
    IPV6_TCLASS,
    SOL_IP,
    SOL_IPV6,
    arrival_ns,
    control_messages,
    drop_count,
    packet_info,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_TRUNC = int(socket.MSG_TRUNC)  # a plain int: an enum member's & is slow


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
            return mmsg.sockaddr_address(address)
        return address  # type: ignore[no-any-return]

    @property
    def _context(self) -> DatagramContext:
        return self[4]  # type: ignore[no-any-return]

    def _decode(self) -> tuple[str, int, int | None, int | None]:
        group, ifindex, ttl, tos = "", 0, None, None
        level = self._context.level
        ancillary = self[2]
        if isinstance(ancillary, bytes):
            ancillary = control_messages(ancillary)
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
        return bool(self[3] & _TRUNC)

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


def datagrams(
    raw: list[tuple[bytes, bytes, bytes, int]], context: DatagramContext
) -> list[Datagram]:
    """A :class:`Datagram` for each (payload, raw address, raw control data, flags)
    that recvmmsg gave (built as tuples directly: a fast sender makes this run
    for every datagram, and the class's own ``__new__`` doubles its cost)."""
    make = tuple.__new__
    return [make(Datagram, (p, name, control, flags, context)) for p, name, control, flags in raw]


def drops_in(ancillary: list[tuple[int, int, bytes]] | bytes) -> int | None:
    """The socket's drop counter (SO_RXQ_OVFL) carried by one datagram, if any."""
    return _first(ancillary, drop_count)


def _first(
    ancillary: list[tuple[int, int, bytes]] | bytes,
    read: Callable[[int, int, bytes], int | None],
) -> int | None:
    """What ``read`` finds in the first control message it understands."""
    if isinstance(ancillary, bytes):
        ancillary = control_messages(ancillary)
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
