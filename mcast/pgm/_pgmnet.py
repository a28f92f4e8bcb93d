"""PGM on the wire, from Trio: raw IP protocol 113 (what Windows speaks) or UDP
encapsulation (what OpenPGM offers), IPv4 or IPv6, on a chosen interface.

A :class:`PgmTransport` sends a PGM packet to the group or to one address,
and receives PGM packets with the address they came from. Raw IPv4 sockets
hand over the IP header, which is taken off here; the group is joined on the
interface and on any other added (the seeds' RM_ADD_RECEIVE_IF and
RM_DEL_RECEIVE_IF: a multihomed receiver), and sent to by the first (RM_SET_SEND_IF),
with the TTL asked for (RM_SET_MCAST_TTL). A transport hears only the groups it
joined (IP_MULTICAST_ALL off) and what is sent to the host itself (NAKs).
"""

from __future__ import annotations

import contextlib
import errno
import socket

from ipv6 import InterfaceRef, addresses_of
from ipv6.sockopts import HOST as PLATFORM
from ipv6.sockopts import SO_RCVBUFFORCE, SOL_IP, SOL_IPV6

from .._datagram import IPAddress, as_address
from .._errors import KernelRefused, McastBadInput
from ..membership._membercalls import change
from ..membership._membership import Call, GroupKey
from ..streams._sender import Sender, Target
from ._pgm import IPPROTO_PGM

RECEIVE_BUFFER = 8 << 20


FATAL_RECEIVE_ERRORS = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EINVAL, errno.EFAULT})


def receive_fault(exc: OSError) -> str:
    """What an error a PGM socket's receive reported counts as: an error the network
    made (an ICMP error queued on the socket, a short-lived lack of memory) is a
    fault to count, and reading goes on; one that says the socket itself is
    unusable is raised again."""
    if exc.errno in FATAL_RECEIVE_ERRORS:
        raise exc
    return f"receive_{errno.errorcode.get(exc.errno or 0, 'error').lower()}"


class PgmTransport:
    def __init__(self, group: IPAddress, interface: InterfaceRef, *, udp_port: int | None = None,
                 ttl: int = 1, loop: bool = False) -> None:  # fmt: skip
        if not group.is_multicast:
            raise McastBadInput(f"{group} is not a multicast address: PGM sends to a group")
        self.group, self.interface, self.udp_port = group, interface, udp_port
        family = socket.AF_INET if group.version == 4 else socket.AF_INET6
        kind, protocol = (socket.SOCK_DGRAM, 0) if udp_port else (socket.SOCK_RAW, IPPROTO_PGM)
        self.sender = Sender(family, interface=interface, ttl=ttl, loop=loop, kind=kind,
                             protocol=protocol)  # fmt: skip
        self.sock = self.sender.sock
        raw = socket.socket(fileno=self.sock.fileno())
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            if SO_RCVBUFFORCE is not None:  # past net.core.rmem_max, where allowed
                with contextlib.suppress(OSError):
                    raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            # Only the groups this socket joins: a raw or wildcard-bound socket would
            # otherwise take every group's PGM that any socket of the host joined.
            level, name = (SOL_IP, "IP_MULTICAST_ALL") if family == socket.AF_INET else (
                SOL_IPV6, "IPV6_MULTICAST_ALL")  # fmt: skip
            if (number := PLATFORM.option(name)) is not None:
                raw.setsockopt(level, number, 0)
            if udp_port:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                raw.bind(("0.0.0.0" if family == socket.AF_INET else "::", udp_port))
        except OSError as exc:
            self.close()
            raise KernelRefused(f"cannot open PGM's UDP port {udp_port}: {exc.strerror}") from exc
        finally:
            raw.detach()
        own = [a for a in addresses_of(interface, group.version) if not a.is_loopback]
        if not own:
            self.close()
            raise McastBadInput(f"{interface} has no IPv{group.version} address to send from")
        self.address = next((a for a in own if not a.is_link_local), own[0])
        self.joined: list[InterfaceRef] = []  # the interfaces the group is received on
        self._targets: dict[IPAddress | None, Target] = {}
        self._sources: dict[str, IPAddress] = {}

    def join(self, interface: InterfaceRef | None = None) -> None:
        """Receive the group's packets on ``interface`` too (the transport's own by
        default): RM_ADD_RECEIVE_IF."""
        interface = interface or self.interface
        if any(i.index == interface.index for i in self.joined):
            raise McastBadInput(f"PGM to {self.group} is already received on {interface}")
        self._membership(Call.JOIN, interface)
        self.joined.append(interface)

    def leave(self, interface: InterfaceRef) -> None:
        """No longer receive the group on ``interface`` (RM_DEL_RECEIVE_IF); the last
        interface stays: a receiver receives somewhere."""
        held = next((i for i in self.joined if i.index == interface.index), None)
        if held is None:
            raise McastBadInput(f"PGM to {self.group} is not received on {interface}")
        if len(self.joined) == 1:
            raise McastBadInput(f"{interface} is the only interface PGM to {self.group} is "
                                "received on: add another before removing it")  # fmt: skip
        self._membership(Call.LEAVE, interface)
        self.joined.remove(held)

    def _membership(self, call: Call, interface: InterfaceRef) -> None:
        raw = socket.socket(fileno=self.sock.fileno())
        try:
            change(raw, call, GroupKey(self.group, interface.index), None)
        except OSError as exc:
            raise KernelRefused(f"cannot {call.value} {self.group} on {interface}: "
                                f"{exc.strerror}") from exc  # fmt: skip
        finally:
            raw.detach()

    async def send(self, packet: bytes, to: IPAddress | None = None) -> None:
        """To the group, or to ``to`` (a NAK to its source)."""
        await self.sender.send(packet, to or self.group, self.udp_port or 0)

    def send_now(self, packet: bytes, to: IPAddress | None = None) -> bool:
        """:meth:`send` without waiting and without a checkpoint (the caller makes one
        per batch); False when the socket is full and :meth:`send` must wait."""
        target = self._targets.get(to)
        if target is None:
            if len(self._targets) > 64:
                self._targets.clear()
            target = self._targets[to] = self.sender.target(to or self.group, self.udp_port or 0)
        return self.sender.try_send(packet, target)

    async def receive(self) -> tuple[bytes, IPAddress]:
        """The next PGM packet and its source (raw IPv4: the IP header taken off)."""
        data, peer = await self.sock.recvfrom(65535)
        return self._taken(data, peer[0])

    def receive_now(self) -> tuple[bytes, IPAddress] | None:
        """:meth:`receive` if a packet waits, without a checkpoint (the caller makes
        one per batch); None when none does."""
        try:
            data, peer = self.sender.raw.recvfrom(65535)
        except BlockingIOError:
            return None
        return self._taken(data, peer[0])

    def _taken(self, data: bytes, peer: str) -> tuple[bytes, IPAddress]:
        source = self._sources.get(peer)
        if source is None:  # parsed once per peer (a bounded memory)
            if len(self._sources) > 1024:
                self._sources.clear()
            source = self._sources[peer] = as_address(peer.split("%", 1)[0])
        if self.udp_port is None and self.group.version == 4:
            data = data[(data[0] & 0x0F) * 4 :] if data else data
        return data, source

    def close(self) -> None:
        self.sender.close()
