"""Receiving and sending multicast from Trio, with source filters that filter.

A :class:`Receiver` listens on one UDP port. Its memberships are checked by
the pure model (:mod:`mcast._membership`) before anything reaches the
kernel, and a kernel refusal comes back as the same rule's error. Linux caps
memberships per socket (net.ipv4.igmp_max_memberships), so a receiver spreads
its groups over as many sockets as it needs, all bound to the same port.

Each socket is non-blocking and drained in batches: one wake-up reads every
datagram that is queued, so a fast sender does not overrun the socket while
the loop awaits them one by one. Each datagram carries its destination group
and arrival interface (IP_PKTINFO / IPV6_RECVPKTINFO), TTL or hop limit, TOS
or traffic class, and a truncation flag; the kernel's drop counter
(SO_RXQ_OVFL) is summed in :attr:`Receiver.dropped`.

A wildcard-bound Linux socket would also receive every group other sockets
of the host joined; IP_MULTICAST_ALL and IPV6_MULTICAST_ALL are turned off so
a receiver hears only its own groups.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import ipaddress
import socket
import struct
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import trio

from ipv6 import InterfaceRef
from ipv6._interfaces import addresses_of

from . import _recvmmsg, _sockopts
from ._conflicts import error_for_kernel
from ._errors import KernelRefused, LimitReached, McastBadInput, McastError
from ._lookup import as_interface, find_interface
from ._membership import Call, Filter, GroupKey, Limits, Memberships, Mode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PLATFORM = _sockopts.PLATFORMS.get(
    {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, "freebsd"),
    _sockopts.LINUX,
)
BYTEORDER = "<" if sys.byteorder == "little" else ">"
SOL_IP, SOL_IPV6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
MAX_DATAGRAM = 65535
ANCILLARY_SPACE = 256
BATCH = 64
PACE = 0.0005  # seconds between drains while datagrams keep coming

# Linux cmsg types: the receive options deliver under these names.
_IP_TOS, _IP_TTL = 1, 2
_IP_PKTINFO = PLATFORM.option("IP_PKTINFO")
_IPV6_PKTINFO = PLATFORM.option("IPV6_PKTINFO")
_IPV6_HOPLIMIT = PLATFORM.option("IPV6_HOPLIMIT")
_IPV6_TCLASS = PLATFORM.option("IPV6_TCLASS")
_SO_RXQ_OVFL = PLATFORM.sol_socket.get("SO_RXQ_OVFL")
_IN_PKTINFO = struct.Struct(BYTEORDER + "i4s4s")
_IN6_PKTINFO = struct.Struct(BYTEORDER + "16sI")
_INT = struct.Struct(BYTEORDER + "i")
_U32 = struct.Struct(BYTEORDER + "I")

_CALL_OPTION = {
    Call.JOIN: "MCAST_JOIN_GROUP",
    Call.LEAVE: "MCAST_LEAVE_GROUP",
    Call.JOIN_SOURCE: "MCAST_JOIN_SOURCE_GROUP",
    Call.LEAVE_SOURCE: "MCAST_LEAVE_SOURCE_GROUP",
    Call.BLOCK: "MCAST_BLOCK_SOURCE",
    Call.UNBLOCK: "MCAST_UNBLOCK_SOURCE",
}
_CALL_IPV4_OPTION = {
    Call.JOIN: "IP_ADD_MEMBERSHIP",
    Call.LEAVE: "IP_DROP_MEMBERSHIP",
    Call.JOIN_SOURCE: "IP_ADD_SOURCE_MEMBERSHIP",
    Call.LEAVE_SOURCE: "IP_DROP_SOURCE_MEMBERSHIP",
    Call.BLOCK: "IP_BLOCK_SOURCE",
    Call.UNBLOCK: "IP_UNBLOCK_SOURCE",
}


class _Context:
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
        context: _Context,
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
    def _context(self) -> _Context:
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
            if kind == _IP_PKTINFO and level == SOL_IP:
                ifindex, _, dst = _IN_PKTINFO.unpack(value)
                group = socket.inet_ntop(socket.AF_INET, dst)
            elif kind == _IPV6_PKTINFO and level == SOL_IPV6:
                dst6, ifindex = _IN6_PKTINFO.unpack(value)
                group = socket.inet_ntop(socket.AF_INET6, dst6)
            elif kind in (_IP_TTL, _IPV6_HOPLIMIT):
                ttl = _INT.unpack(value)[0] if len(value) >= 4 else value[0]
            elif kind == _IP_TOS:
                tos = value[0]
            elif kind == _IPV6_TCLASS:
                tos = _INT.unpack(value)[0]
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


def drops_in(ancillary: list[tuple[int, int, bytes]] | bytes) -> int | None:
    """The socket's drop counter (SO_RXQ_OVFL) carried by one datagram, if any."""
    if isinstance(ancillary, bytes):
        ancillary = _recvmmsg.control_messages(ancillary)
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_RXQ_OVFL:
            return int(_U32.unpack(value)[0])
    return None


def as_address(value: str | IPAddress) -> IPAddress:
    return (
        value
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address)
        else (ipaddress.ip_address(value))
    )


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def limits_for(version: int) -> Limits:
    """This host's per-socket limits, read from its sysctls."""
    if version == 4:
        return Limits(
            max_memberships=_read_int("/proc/sys/net/ipv4/igmp_max_memberships"),
            max_sources=_read_int("/proc/sys/net/ipv4/igmp_max_msf"),
            memberships_sysctl="net.ipv4.igmp_max_memberships",
            sources_sysctl="net.ipv4.igmp_max_msf",
        )
    return Limits(
        max_memberships=None,
        max_sources=_read_int("/proc/sys/net/ipv6/mld_max_msf"),
        memberships_sysctl="net.core.optmem_max",
        sources_sysctl="net.ipv6.mld_max_msf",
    )


_libc = ctypes.CDLL(None, use_errno=True)


def getsockopt_inout(sock: socket.socket, level: int, option: int, request: bytes) -> bytes:
    """getsockopt with a request in the buffer (Python's getsockopt cannot send one)."""
    buf = ctypes.create_string_buffer(request, len(request))
    size = ctypes.c_uint32(len(request))
    if _libc.getsockopt(sock.fileno(), level, option, buf, ctypes.byref(size)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"getsockopt: {errno.errorcode.get(code, code)}")
    return buf.raw[: size.value]


class _Slot:
    """One kernel socket of a receiver, with the memberships it holds."""

    def __init__(self, family: int, port: int, bind: IPAddress | None, rcvbuf: int | None) -> None:
        version = 4 if family == socket.AF_INET else 6
        self.family = family
        self.version = version
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
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if _SO_RXQ_OVFL is not None:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
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
        trio.lowlevel.notify_closing(self.sock)  # a reader waiting on it wakes, then sees it gone
        self.sock.close()


class Receiver:
    """Multicast reception on one UDP port; see :func:`open_receiver`."""

    def __init__(
        self,
        nursery: trio.Nursery,
        port: int,
        *,
        bind: str | IPAddress | None = None,
        rcvbuf: int | None = None,
        protocol_independent: bool = True,
        max_datagram: int = MAX_DATAGRAM,
        pace: float = PACE,
    ) -> None:
        self._nursery = nursery
        self._pace = pace
        self.port = port
        self._bind = as_address(bind) if bind is not None else None
        self._rcvbuf = rcvbuf
        self._protocol_independent = protocol_independent
        self._max = max_datagram
        self._slots: list[_Slot] = []
        self._slot_of: dict[GroupKey, _Slot] = {}  # which socket holds each membership
        self._filling: dict[int, _Slot] = {}  # per family, the socket new joins go to
        self._send, self._receive = trio.open_memory_channel[list[Datagram]](1024)
        self._pending: deque[Datagram] = deque()
        self._batch_reader: _recvmmsg.BatchReader | None = None
        # Interface names, read where the sockets were made: a receiver may
        # live in a lab host while its reader runs in another thread.
        self._names: dict[int, str] = {}
        self.received = 0
        self.truncated = 0
        self.errors: collections.Counter[str] = collections.Counter()  # receive errors by errno
        self._closed = False

    # -- sockets --

    def _slot_for(self, key: GroupKey, joining: bool) -> _Slot:
        """The socket that holds ``key``, or the one a new membership goes to."""
        held = self._slot_of.get(key)
        if held is not None:
            return held
        family = socket.AF_INET if key.group.version == 4 else socket.AF_INET6
        current = self._filling.get(family)
        if not joining and current is not None:
            return current  # not joined anywhere: any socket gives the model's answer
        if current is None or not current.has_room():
            current = self._open_slot(family)
            self._filling[family] = current
        return current

    def _open_slot(self, family: int) -> _Slot:
        if self._bind is not None and (self._bind.version == 4) != (family == socket.AF_INET):
            raise McastBadInput(f"this receiver is bound to {self._bind}, of the other family")
        port = self.port
        slot = _Slot(family, port, self._bind, self._rcvbuf)
        if not self._slots:
            self._names.update(socket.if_nameindex())
        if self.port == 0:
            self.port = slot.port  # the first socket picked the port; the rest share it
        self._slots.append(slot)
        self._nursery.start_soon(self._read, slot)
        return slot

    # -- memberships: change-based --

    def join(
        self,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
        *,
        source: str | IPAddress | None = None,
    ) -> GroupKey:
        """Join any-source, or with ``source`` the (source, group) channel."""
        call = Call.JOIN if source is None else Call.JOIN_SOURCE
        return self._change(call, group, interface, source)

    def leave(
        self,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
        *,
        source: str | IPAddress | None = None,
    ) -> GroupKey:
        """Leave the group, or with ``source`` only that channel."""
        call = Call.LEAVE if source is None else Call.LEAVE_SOURCE
        return self._change(call, group, interface, source)

    def block(
        self,
        group: str | IPAddress,
        source: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
    ) -> GroupKey:
        """Stop receiving ``source`` on a group joined any-source."""
        return self._change(Call.BLOCK, group, interface, source)

    def unblock(
        self,
        group: str | IPAddress,
        source: str | IPAddress,
        interface: str | int | InterfaceRef | None = None,
    ) -> GroupKey:
        """Receive a blocked source again."""
        return self._change(Call.UNBLOCK, group, interface, source)

    def _key(
        self, group: str | IPAddress, interface: str | int | InterfaceRef | None
    ) -> tuple[GroupKey, InterfaceRef | None]:
        address = as_address(group)
        if not address.is_multicast:
            raise McastBadInput(f"{address} is not a multicast address")
        ref = as_interface(interface)
        return GroupKey(address, ref.index if ref else 0), ref

    def _change(
        self,
        call: Call,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None,
        source: str | IPAddress | None,
    ) -> GroupKey:
        if self._closed:
            raise McastError("this receiver is closed")
        key, ref = self._key(group, interface)
        src = as_address(source) if source is not None else None
        joining = call in (Call.JOIN, Call.JOIN_SOURCE)
        slot = self._slot_for(key, joining)
        if ref is not None:
            slot.model.names[ref.index] = ref.name
            self._names[ref.index] = ref.name
        after = slot.model.check(call, key, src)  # the rules first: nothing reaches the kernel
        try:
            self._setsockopt(slot, call, key, src)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS and joining and key not in slot.model.filters:
                # The kernel has no room on this socket: use another one.
                slot.full = True
                fresh = self._slot_for(key, joining)
                if ref is not None:
                    fresh.model.names[ref.index] = ref.name
                try:
                    self._setsockopt(fresh, call, key, src)
                except OSError as again:
                    raise self._explain(fresh, call, key, src, again) from again
                self._record(fresh, key, fresh.model.apply(call, key, src))
                return key
            raise self._explain(slot, call, key, src, exc) from exc
        slot.model.commit(key, after)
        self._record(slot, key, after)
        return key

    def _record(self, slot: _Slot, key: GroupKey, after: Filter | None) -> None:
        if after is None:
            self._slot_of.pop(key, None)
        else:
            self._slot_of[key] = slot

    def _explain(
        self, slot: _Slot, call: Call, key: GroupKey, src: IPAddress | None, exc: OSError
    ) -> McastError:
        if exc.errno == errno.ENODEV:
            return McastBadInput(f"no interface with index {key.ifindex} for {key.group}")
        return error_for_kernel(
            slot.model, call, key=key, source=src, code=exc.errno or 0, option=_CALL_OPTION[call]
        )

    def _setsockopt(self, slot: _Slot, call: Call, key: GroupKey, src: IPAddress | None) -> None:
        level = SOL_IP if key.group.version == 4 else SOL_IPV6
        number = PLATFORM.option(_CALL_OPTION[call])
        if self._protocol_independent and number is not None:
            if src is None:
                value = _sockopts.encode(
                    PLATFORM,
                    "group_req",
                    {"gr_interface": key.ifindex, "gr_group": key.group},
                    BYTEORDER,
                )
            else:
                value = _sockopts.encode(
                    PLATFORM,
                    "group_source_req",
                    {"gsr_interface": key.ifindex, "gsr_group": key.group, "gsr_source": src},
                    BYTEORDER,
                )
            slot.sock.setsockopt(level, number, value)
            return
        slot.sock.setsockopt(level, *self._fallback(call, key, src))

    def _fallback(self, call: Call, key: GroupKey, src: IPAddress | None) -> tuple[int, bytes]:
        """The IP_* / IPV6_* form of a call, for platforms without MCAST_*."""
        if key.group.version == 6:
            if src is not None:
                raise KernelRefused(
                    f"source filters for IPv6 need MCAST_* options, which {PLATFORM.name} lacks"
                )
            name = "IPV6_JOIN_GROUP" if call is Call.JOIN else "IPV6_LEAVE_GROUP"
            value = _sockopts.encode(
                PLATFORM,
                "ipv6_mreq",
                {"ipv6mr_multiaddr": key.group, "ipv6mr_interface": key.ifindex},
                BYTEORDER,
            )
            return _require(PLATFORM.option(name), name), value
        name = _CALL_IPV4_OPTION[call]
        if src is None and PLATFORM.layout("ip_mreqn") is not None:
            value = _sockopts.encode(
                PLATFORM,
                "ip_mreqn",
                {"imr_multiaddr": key.group, "imr_ifindex": key.ifindex},
                BYTEORDER,
            )
            return _require(PLATFORM.option(name), name), value
        local = self._ipv4_of(key.ifindex)
        if src is None:
            value = _sockopts.encode(
                PLATFORM, "ip_mreq", {"imr_multiaddr": key.group, "imr_interface": local}, BYTEORDER
            )
        else:
            value = _sockopts.encode(
                PLATFORM,
                "ip_mreq_source",
                {"imr_multiaddr": key.group, "imr_interface": local, "imr_sourceaddr": src},
                BYTEORDER,
            )
        return _require(PLATFORM.option(name), name), value

    @staticmethod
    def _ipv4_of(ifindex: int) -> ipaddress.IPv4Address:
        if ifindex == 0:
            return ipaddress.IPv4Address(0)
        ref = find_interface(ifindex)
        found = [a for a in addresses_of(ref, 4) if isinstance(a, ipaddress.IPv4Address)]
        if not found:
            raise McastBadInput(
                f"{ref} has no IPv4 address, which IP_* membership options need to name it"
            )
        return found[0]

    # -- memberships: final state --

    def set_filter(
        self,
        group: str | IPAddress,
        interface: str | int | InterfaceRef | None,
        mode: Mode | str,
        sources: Iterable[str | IPAddress] = (),
    ) -> Filter | None:
        """Set the group's whole filter at once (INCLUDE with no source leaves)."""
        mode = Mode(mode) if isinstance(mode, str) else mode
        key, ref = self._key(group, interface)
        wanted = frozenset(as_address(s) for s in sources)
        slot = self._slot_for(key, joining=True)
        if ref is not None:
            slot.model.names[ref.index] = ref.name
        probe = Memberships(limits=slot.model.limits, filters=dict(slot.model.filters))
        probe.set_filter(key, mode, wanted)  # limits and families first
        current = slot.model.filter_of(key)
        if mode is Mode.INCLUDE and not wanted:
            if current is not None:
                self._setsockopt(slot, Call.LEAVE, key, None)
            self._record(slot, key, None)
            return slot.model.set_filter(key, mode, wanted)
        try:
            if current is None:
                # Linux sets a filter only on a joined group: join, then set it whole.
                first = min(wanted, key=int) if mode is Mode.INCLUDE else None
                self._setsockopt(slot, Call.JOIN if first is None else Call.JOIN_SOURCE, key, first)
            self._set_msfilter(slot, key, mode, wanted)
        except OSError as exc:
            raise KernelRefused(
                f"setting the filter of {slot.model.where(key)} failed: {exc.strerror}"
            ) from exc
        after = slot.model.set_filter(key, mode, wanted)
        self._record(slot, key, after)
        return after

    def _set_msfilter(
        self, slot: _Slot, key: GroupKey, mode: Mode, sources: frozenset[IPAddress]
    ) -> None:
        ordered = sorted(sources, key=int)
        level = SOL_IP if key.group.version == 4 else SOL_IPV6
        value = _sockopts.encode(
            PLATFORM,
            "group_filter",
            {
                "gf_interface": key.ifindex,
                "gf_group": key.group,
                "gf_fmode": _sockopts.filter_mode_value(PLATFORM, mode.value),
                "gf_numsrc": len(ordered),
                "gf_slist": ordered,
            },
            BYTEORDER,
        )
        slot.sock.setsockopt(
            level, _require(PLATFORM.option("MCAST_MSFILTER"), "MCAST_MSFILTER"), value
        )

    def kernel_filter(
        self, group: str | IPAddress, interface: str | int | InterfaceRef | None = None
    ) -> Filter | None:
        """The group's filter as the kernel holds it on this receiver (MCAST_MSFILTER)."""
        key, _ = self._key(group, interface)
        slot = self._slot_of.get(key)
        if slot is None:
            return None
        level = SOL_IP if key.group.version == 4 else SOL_IPV6
        capacity = max(64, len(slot.model.filters[key].sources))
        option = _require(PLATFORM.option("MCAST_MSFILTER"), "MCAST_MSFILTER")
        while True:
            request = _sockopts.encode(
                PLATFORM,
                "group_filter",
                {"gf_interface": key.ifindex, "gf_group": key.group, "gf_numsrc": capacity,
                 "gf_slist": [key.group] * capacity},
                BYTEORDER,
            )  # fmt: skip
            try:
                answer = getsockopt_inout(slot.sock, level, option, request)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    return None
                raise KernelRefused(f"reading the filter of {key.group} failed: {exc}") from exc
            fields = _sockopts.decode(PLATFORM, "group_filter", answer, BYTEORDER)
            count = fields["gf_numsrc"]
            assert isinstance(count, int)
            if count <= capacity:
                break
            capacity = count
        mode_value = fields["gf_fmode"]
        assert isinstance(mode_value, int)
        listed = fields["gf_slist"]
        assert isinstance(listed, list)
        return Filter(Mode(_sockopts.filter_mode_name(PLATFORM, mode_value)), frozenset(listed))

    def filters(self) -> dict[GroupKey, Filter]:
        """Every (group, interface) this receiver has joined, with its filter."""
        out: dict[GroupKey, Filter] = {}
        for slot in self._slots:
            out.update(slot.model.filters)
        return out

    @property
    def sockets(self) -> int:
        return len(self._slots)

    @property
    def dropped(self) -> int:
        """Datagrams the kernel dropped because a socket's queue was full."""
        return sum(slot.drops for slot in self._slots)

    # -- receiving --

    async def _read(self, slot: _Slot) -> None:
        """Drain the socket whenever it is readable; hand over whole batches."""
        if _recvmmsg.available():
            await self._read_many(slot)
        else:
            await self._read_each(slot)

    async def _read_many(self, slot: _Slot) -> None:
        """recvmmsg: up to BATCH datagrams per system call."""
        if self._batch_reader is None:
            # One set of buffers serves every socket: Trio runs the reads one at a time.
            self._batch_reader = _recvmmsg.BatchReader(BATCH, self._max, ANCILLARY_SPACE)
        reader = self._batch_reader
        context = _Context(slot.family, self.port, self._names)
        fd = slot.sock.fileno()
        trunc_flag = socket.MSG_TRUNC
        while True:
            try:
                raw = reader.read(fd)
            except OSError as exc:
                if slot.sock.fileno() == -1:
                    return  # closed under us
                self._failed(exc)  # an error queued on the socket: counted, reading goes on
                await trio.lowlevel.checkpoint()
                continue
            if not raw:
                try:
                    await trio.lowlevel.wait_readable(slot.sock)
                except trio.ClosedResourceError:
                    return  # the receiver closed this socket (notify_closing woke us)
                continue
            batch = [Datagram(p, name, control, flags, context) for p, name, control, flags in raw]
            self._deliver(slot, batch, raw[-1][2], sum(1 for r in raw if r[3] & trunc_flag))
            await self._send.send(batch)
            if len(batch) < BATCH and self._pace:
                await trio.sleep(self._pace)

    async def _read_each(self, slot: _Slot) -> None:
        """recvmsg: one system call per datagram, drained until the queue is empty."""
        sock = slot.sock
        recvmsg = sock.recvmsg
        context = _Context(slot.family, self.port, self._names)
        size = self._max
        trunc_flag = socket.MSG_TRUNC
        while True:
            batch: list[Datagram] = []
            append = batch.append
            truncated = 0
            anc: list[tuple[int, int, bytes]] = []
            try:
                while len(batch) < BATCH:
                    data, anc, flags, address = recvmsg(size, ANCILLARY_SPACE)
                    if flags & trunc_flag:
                        truncated += 1
                    append(Datagram(data, address, anc, flags, context))
            except BlockingIOError:
                pass
            except OSError as exc:
                if sock.fileno() == -1:
                    return  # closed under us
                self._failed(exc)  # an error queued on the socket: counted, reading goes on
            if not batch:
                try:
                    await trio.lowlevel.wait_readable(sock)
                except trio.ClosedResourceError:
                    return  # the receiver closed this socket (notify_closing woke us)
                continue
            self._deliver(slot, batch, anc, truncated)
            await self._send.send(batch)
            if len(batch) < BATCH and self._pace:
                await trio.sleep(self._pace)

    def _failed(self, exc: OSError) -> None:
        self.errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1

    def _deliver(
        self,
        slot: _Slot,
        batch: list[Datagram],
        last_ancillary: list[tuple[int, int, bytes]] | bytes,
        truncated: int,
    ) -> None:
        drops = drops_in(last_ancillary) if last_ancillary else None
        if drops is not None:
            slot.drops = drops  # a running total: the last datagram's is the newest
        self.truncated += truncated

    async def receive_batch(self) -> list[Datagram]:
        """Every datagram that arrived since the last call, waiting for at least one."""
        if self._pending:
            batch = list(self._pending)
            self._pending.clear()
        else:
            batch = await self._receive.receive()
        self._count(batch)
        return batch

    async def receive(self) -> Datagram:
        """The next datagram."""
        if not self._pending:
            batch = await self._receive.receive()
            self._count(batch)
            self._pending.extend(batch)
        return self._pending.popleft()

    def _count(self, batch: list[Datagram]) -> None:
        self.received += len(batch)

    def __aiter__(self) -> AsyncIterator[Datagram]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Datagram]:
        while True:
            yield await self.receive()

    # -- closing --

    def leave_all(self) -> None:
        """Leave every group this receiver joined (the kernel sends the reports now)."""
        for slot in self._slots:
            for key in list(slot.model.filters):
                with contextlib.suppress(OSError):  # closing the socket leaves it anyway
                    self._setsockopt(slot, Call.LEAVE, key, None)
                slot.model.filters.pop(key, None)
                self._slot_of.pop(key, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.leave_all()
        for slot in self._slots:
            slot.close()


def _require(number: int | None, name: str) -> int:
    if number is None:
        raise KernelRefused(f"{PLATFORM.name} has no {name}")
    return number


@asynccontextmanager
async def open_receiver(
    port: int = 0,
    *,
    bind: str | IPAddress | None = None,
    rcvbuf: int | None = None,
    protocol_independent: bool = True,
    max_datagram: int = MAX_DATAGRAM,
    pace: float = PACE,
) -> AsyncIterator[Receiver]:
    """A :class:`Receiver` on ``port``; every group is left on exit, cancelled or not."""
    async with trio.open_nursery() as nursery:
        receiver = Receiver(
            nursery,
            port,
            bind=bind,
            rcvbuf=rcvbuf,
            protocol_independent=protocol_independent,
            max_datagram=max_datagram,
            pace=pace,
        )
        try:
            yield receiver
        finally:
            receiver.close()
            nursery.cancel_scope.cancel()


# --- sending -------------------------------------------------------------------


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
    ) -> None:
        self.family = family
        self.sock = trio.socket.socket(family, socket.SOCK_DGRAM)
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

    async def send(self, payload: bytes, group: str | IPAddress, port: int) -> None:
        address = as_address(group)
        scope = self.interface.index if (address.version == 6 and self.interface) else 0
        target: tuple[str, int] | tuple[str, int, int, int] = (
            (str(address), port) if address.version == 4 else (str(address), port, 0, scope)
        )
        try:
            await self.sock.sendto(payload, target)
        except OSError as exc:
            via = f" on {self.interface}" if self.interface else ""
            raise KernelRefused(
                f"cannot send to {address} port {port}{via}: {exc.strerror}"
            ) from exc

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


__all__ = [
    "Datagram",
    "Receiver",
    "Sender",
    "open_receiver",
    "open_sender",
]
