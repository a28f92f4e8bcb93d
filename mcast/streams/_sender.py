"""Sending multicast from Trio: TTL, loopback, interface, source address and TOS."""

from __future__ import annotations

import ipaddress
import socket

import trio

from ipv6 import InterfaceRef
from ipv6 import sockopts as _sockopts
from ipv6.sockopts import HOST as PLATFORM
from ipv6.sockopts import NATIVE as BYTEORDER
from ipv6.sockopts import SOL_IP, SOL_IPV6

from .._datagram import IPAddress, as_address
from .._errors import KernelRefused, McastBadInput
from .._lookup import as_interface

Target = tuple[str, int] | tuple[str, int, int, int]


class Sender:
    """Sends multicast datagrams with a chosen TTL, loopback, interface and source."""

    def __init__(
        self,
        family: int,
        *,
        interface: str | int | InterfaceRef | None = None,
        ttl: int = 1,
        loop: bool = True,
        source: str | IPAddress | None = None,
        tos: int | None = None,
        kind: int = socket.SOCK_DGRAM,
        protocol: int = 0,
    ) -> None:
        """``kind`` and ``protocol`` make another socket than UDP's (PGM's raw one)."""
        self.family = family
        self.raw = socket.socket(family, kind, protocol)  # for try_send, without Trio's cost
        self.raw.setblocking(False)
        self.sock = trio.socket.from_stdlib_socket(self.raw)
        try:
            self._configure(interface, ttl, loop, source, tos)
        except BaseException:
            self.sock.close()
            raise

    def _configure(
        self,
        interface: str | int | InterfaceRef | None,
        ttl: int,
        loop: bool,
        source: str | IPAddress | None,
        tos: int | None,
    ) -> None:
        if not 0 <= ttl <= 255:
            raise McastBadInput(f"TTL {ttl} is out of range (0 to 255)")
        ref = as_interface(interface)
        sock = self.sock
        if self.family == socket.AF_INET:
            sock.setsockopt(SOL_IP, socket.IP_MULTICAST_TTL, ttl)
            sock.setsockopt(SOL_IP, socket.IP_MULTICAST_LOOP, int(loop))
            if tos is not None:
                sock.setsockopt(SOL_IP, socket.IP_TOS, tos)
            if ref is not None:
                spec = interface if isinstance(interface, str) else None
                local = _maybe_address(spec)
                values: dict[str, _sockopts.FieldValue] = {"imr_ifindex": ref.index}
                if isinstance(local, ipaddress.IPv4Address):
                    values = {"imr_address": local, "imr_ifindex": 0}
                mreqn = _sockopts.encode(PLATFORM, "ip_mreqn", values, BYTEORDER)
                sock.setsockopt(SOL_IP, socket.IP_MULTICAST_IF, mreqn)
        else:
            sock.setsockopt(SOL_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
            sock.setsockopt(SOL_IPV6, socket.IPV6_MULTICAST_LOOP, int(loop))
            if tos is not None:
                sock.setsockopt(SOL_IPV6, socket.IPV6_TCLASS, tos)
            if ref is not None:
                sock.setsockopt(SOL_IPV6, socket.IPV6_MULTICAST_IF, ref.index)
        self.interface = ref
        if source is not None:
            address = as_address(source)
            if (address.version == 4) != (self.family == socket.AF_INET):
                raise McastBadInput(f"source {address} is not of the sending family")
            try:
                _bind_now(sock, (str(address), 0))
            except OSError as exc:
                raise McastBadInput(f"cannot send from {address}: {exc.strerror}") from exc

    def target(self, group: str | IPAddress, port: int) -> Target:
        """The socket address for ``group`` and ``port`` (with the interface's zone)."""
        address = as_address(group)
        scope = self.interface.index if (address.version == 6 and self.interface) else 0
        return (str(address), port) if address.version == 4 else (str(address), port, 0, scope)

    async def send(self, payload: bytes, group: str | IPAddress, port: int) -> None:
        target = self.target(group, port)
        try:
            await self.sock.sendto(payload, target)
        except OSError as exc:
            raise self._refused(target, exc) from exc

    def try_send(self, payload: bytes, target: Target) -> bool:
        """Send now if the socket has room (no checkpoint: the caller makes one per
        batch); False when it would block, and :meth:`send` must wait."""
        try:
            self.raw.sendto(payload, target)
        except BlockingIOError:
            return False
        except OSError as exc:
            raise self._refused(target, exc) from exc
        return True

    def _refused(self, target: Target, exc: OSError) -> KernelRefused:
        via = f" on {self.interface}" if self.interface else ""
        return KernelRefused(f"cannot send to {target[0]} port {target[1]}{via}: {exc.strerror}")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _maybe_address(text: str | None) -> IPAddress | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _bind_now(sock: trio.socket.SocketType, address: tuple[str, int]) -> None:
    # Binding a UDP socket never blocks; do it synchronously on the raw socket.
    raw = socket.socket(fileno=sock.fileno())
    try:
        raw.bind(address)
    finally:
        raw.detach()


def open_sender(
    group: str | IPAddress,
    *,
    interface: str | int | InterfaceRef | None = None,
    ttl: int = 1,
    loop: bool = True,
    source: str | IPAddress | None = None,
    tos: int | None = None,
) -> Sender:
    """A :class:`Sender` for ``group``'s family (use it as a context manager)."""
    family = socket.AF_INET if as_address(group).version == 4 else socket.AF_INET6
    return Sender(family, interface=interface, ttl=ttl, loop=loop, source=source, tos=tos)
