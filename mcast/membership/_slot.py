"""One kernel socket of a receiver, with the memberships it holds, and the
host's per-socket limits it is held to (read from sysctls)."""

from __future__ import annotations

import errno
import socket

import trio

from ipv6 import read_sysctl_int
from ipv6.sockopts import HOST as PLATFORM
from ipv6.sockopts import SO_RCVBUFFORCE, SO_RXQ_OVFL, SO_TIMESTAMPNS, SOL_IP, SOL_IPV6

from .._datagram import IPAddress
from .._errors import LimitReached, McastBadInput
from ._membership import Limits, Memberships


def limits_for(version: int) -> Limits:
    """This host's per-socket limits, read from its sysctls."""
    if version == 4:
        return Limits(
            max_memberships=read_sysctl_int("net/ipv4/igmp_max_memberships"),
            max_sources=read_sysctl_int("net/ipv4/igmp_max_msf"),
            memberships_sysctl="net.ipv4.igmp_max_memberships",
            sources_sysctl="net.ipv4.igmp_max_msf",
        )
    return Limits(
        max_memberships=None,
        max_sources=read_sysctl_int("net/ipv6/mld_max_msf"),
        memberships_sysctl="net.core.optmem_max",
        sources_sysctl="net.ipv6.mld_max_msf",
    )


class Slot:
    """One kernel socket of a receiver, with the memberships it holds."""

    def __init__(
        self,
        family: int,
        port: int,
        bind: IPAddress | None,
        rcvbuf: int | None,
        *,
        timestamps: bool = False,
    ) -> None:
        version = 4 if family == socket.AF_INET else 6
        self.family = family
        self.version = version
        self.closed = False
        self.model = Memberships(limits=limits_for(version))
        self.full = False
        self.drops = 0
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise LimitReached(
                    "no file descriptor left for another socket: raise the open-file limit "
                    "(ulimit -n) or the per-socket membership limit "
                    f"({self.model.limits.memberships_sysctl})",
                    "RLIMIT_NOFILE",
                ) from exc
            raise
        self.sock = sock
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if rcvbuf:
                _receive_buffer(sock, rcvbuf)
            if SO_RXQ_OVFL is not None:
                sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            if timestamps and SO_TIMESTAMPNS is not None:  # arrival times, for delay and jitter
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if family == socket.AF_INET:
                self._set(SOL_IP, "IP_MULTICAST_ALL", 0)
                self._set(SOL_IP, "IP_PKTINFO", 1)
                self._set(SOL_IP, "IP_RECVTTL", 1)
                self._set(SOL_IP, "IP_RECVTOS", 1)
                sock.bind((str(bind or "0.0.0.0"), port))
            else:
                sock.setsockopt(SOL_IPV6, socket.IPV6_V6ONLY, 1)
                self._set(SOL_IPV6, "IPV6_MULTICAST_ALL", 0)
                self._set(SOL_IPV6, "IPV6_RECVPKTINFO", 1)
                self._set(SOL_IPV6, "IPV6_RECVHOPLIMIT", 1)
                self._set(SOL_IPV6, "IPV6_RECVTCLASS", 1)
                sock.bind((str(bind or "::"), port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise McastBadInput(
                    f"port {port} is in use by a socket that does not share it"
                ) from exc
            raise
        self.port = sock.getsockname()[1]

    def _set(self, level: int, name: str, value: int) -> None:
        number = PLATFORM.option(name)
        if number is not None:
            self.sock.setsockopt(level, number, value)

    def has_room(self) -> bool:
        most = self.model.limits.max_memberships
        return not self.full and (most is None or len(self.model) < most)

    def close(self) -> None:
        """Close the socket; a reader waiting on it wakes (notify_closing) and one
        about to read sees :attr:`closed` first, so no task reads a stale descriptor."""
        self.closed = True
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


def receive_buffer(sock: socket.socket) -> int:
    """The socket's receive buffer as the kernel counts it (twice what was asked:
    the kernel keeps room for its bookkeeping, socket(7))."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def _receive_buffer(sock: socket.socket, size: int) -> None:
    """The receive buffer asked for: past net.core.rmem_max where this process may
    (CAP_NET_ADMIN: SO_RCVBUFFORCE), else as far as rmem_max allows."""
    if SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except PermissionError:
            pass
        else:
            return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
