"""Addresses leaving interfaces, as the kernel announces them (netlink).

A :class:`AddressWatch` is a NETLINK_ROUTE socket subscribed to the address
groups of the network namespace it was made in; it stays in that namespace
whichever thread reads it. :func:`parse_address_events` is the pure part: the
bytes of one read in, (event, interface index, address) out, trusting
nothing (a message that does not parse is skipped).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from typing import Any

RTM_NEWADDR, RTM_DELADDR = 20, 21
RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x10, 0x100
IFA_ADDRESS, IFA_LOCAL = 1, 2
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
_RTATTR = struct.Struct("=HH")  # length, type

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address_events(data: bytes) -> list[tuple[str, int, IPAddress]]:
    """("new" or "deleted", ifindex, address) for each address message in ``data``."""
    events: list[tuple[str, int, IPAddress]] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _port = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            break
        body = offset + _NLMSGHDR.size
        if kind in (RTM_NEWADDR, RTM_DELADDR) and body + _IFADDRMSG.size <= offset + length:
            family, _plen, _f, _scope, index = _IFADDRMSG.unpack_from(data, body)
            found = _address(data, body + _IFADDRMSG.size, offset + length, family)
            if found is not None:
                events.append(("new" if kind == RTM_NEWADDR else "deleted", index, found))
        offset += (length + 3) & ~3
    return events


def _address(data: bytes, start: int, end: int, family: int) -> IPAddress | None:
    """IFA_LOCAL if present (the address itself on point-to-point links), else IFA_ADDRESS."""
    size = 4 if family == socket.AF_INET else 16 if family == socket.AF_INET6 else 0
    found: dict[int, bytes] = {}
    while size and start + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, start)
        if length < _RTATTR.size or start + length > end:
            break
        if kind in (IFA_ADDRESS, IFA_LOCAL) and length - _RTATTR.size == size:
            found[kind] = data[start + _RTATTR.size : start + length]
        start += (length + 3) & ~3
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    if raw is None:
        return None
    return ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)


class AddressWatch:
    """Subscribe, in the calling thread's network namespace, to address changes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self.sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.overflowed = 0  # reads the kernel could not queue (ENOBUFS): events were lost
        self._waiter: Any = None  # the same socket as Trio's, made on first wait

    def events_nowait(self) -> list[tuple[str, int, IPAddress]]:
        """Every change announced since the last call (none: an empty list)."""
        events: list[tuple[str, int, IPAddress]] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overflowed += 1  # the kernel dropped announcements; read on
                continue
            events += parse_address_events(data)

    async def events(self) -> list[tuple[str, int, IPAddress]]:
        """The next changes announced: waits (in Trio) until there is at least one."""
        import trio  # only the Trio users of this class pay for importing it

        if self._waiter is None:
            self._waiter = trio.socket.from_stdlib_socket(self.sock)
        while True:
            try:
                data = await self._waiter.recv(65536)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overflowed += 1
                continue
            events = parse_address_events(data) + self.events_nowait()
            if events:
                return events

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.close()  # notify_closing first: a task waiting in events() wakes
        self.sock.close()
