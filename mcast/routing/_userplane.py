"""The userspace forwarding plane: multicast forwarded by this process, for
kernels without multicast routing (:mod:`._mforward` decides each datagram).

One packet socket per IP version reads what arrives on the plan's
interfaces: a kernel filter passes only routable multicast that arrived on
one of them (and only the routed groups when there are few), all-multicast
reception is held on each interface as the kernel's routing sets it, and a
batch is read per wake-up (recvmmsg). Each copy goes out of its interface
with the group's Ethernet address (sendmmsg). What it drops is counted by
reason, the packet socket's own drops (a full queue) too. One forwarder per
IP version and namespace (a lock, and the kernel's routing socket where the
kernel has one).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import socket
import struct
import sys
from typing import Any

import trio

from ipv6.batch import AddressedSender, BatchReader, recvmmsg_available, sendmmsg_available
from ipv6.sockopts import SO_RCVBUFFORCE

from .._errors import McastError
from ._kernelplane import FEATURE, Miss, _errno_name, of_family, open_routing_socket
from ._mforward import (
    NO_ROUTE,
    EntryCounters,
    Forwarder,
    Port,
    encode_filter,
    multicast_mac,
    socket_filter,
)
from ._mroutes import Plan

ETH_P = {4: 0x0800, 6: 0x86DD}
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP, PACKET_DROP_MEMBERSHIP, PACKET_STATISTICS = 1, 2, 6
PACKET_IGNORE_OUTGOING = 23
PACKET_AUXDATA = 8  # a struct tpacket_auxdata with each packet
TP_STATUS_CSUMNOTREADY = 1 << 3  # the transport checksum is left to finish
_AUXDATA = struct.Struct("=QiiI")  # cmsg_len, cmsg_level, cmsg_type, tp_status
CONTROL_SPACE = 64
PACKET_MR_ALLMULTI = 2
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SIOCGIFHWADDR, SIOCGIFMTU, SIOCGIFNAME = 0x8927, 0x8921, 0x8910
ARPHRD_ETHER = 1
BATCH = 64
RECEIVE_BUFFER = 8 << 20
MAX_DATAGRAM = 65536


class UserspacePlane:
    """Forwarding in this process for one family, over a packet socket."""

    name = "userspace"
    why = ""  # why it runs, in status's words (:func:`._planes.open_plane` sets it)

    def __init__(self, family: int, on_miss: Miss | None = None, *,
                 filter_groups: bool = True) -> None:  # fmt: skip
        self.family = family
        self.on_miss = on_miss
        self.filter_groups = filter_groups  # False: pass every routable group (a proxy's misses)
        self.forwarder = Forwarder(family)
        self.plan = Plan()
        self.allmulti: set[int] = set()
        self._addresses: dict[tuple[int, bytes], bytes] = {}
        self._hardware: dict[int, int] = {}
        self.socket_drops = 0
        self.send_errors: collections.Counter[str] = collections.Counter()
        self.batches = 0
        self._lock = _hold_forwarding(family)
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                      socket.htons(ETH_P[family]))  # fmt: skip
        except OSError as exc:
            from ipv6.capabilities import KernelLacks

            self._lock.close()
            if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                raise KernelLacks("packet", "the userspace multicast forwarding plane") from None
            raise
        # Before Linux 4.20 there is no such option: outgoing frames are told apart
        # by their type as they are read.
        with contextlib.suppress(OSError):
            self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        # Whether a datagram's transport checksum is left to finish (a sender on
        # this host or a veth peer offloaded it): the plane finishes it.
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        if SO_RCVBUFFORCE is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        self._set_filter()
        self.sock.setblocking(False)
        self.reader = (
            BatchReader(BATCH, MAX_DATAGRAM, CONTROL_SPACE) if recvmmsg_available() else None
        )
        self.sender = AddressedSender(BATCH * 4) if sendmmsg_available() else None

    # -- the table --

    def move(self, old: Plan, new: Plan) -> None:
        """From ``old`` to ``new`` (this family's part), applied to the plane's own
        plan: entries one by one (a proxy adds a flow's entry at a time), the whole
        table again when the slots change."""
        old, new = of_family(old, self.family), of_family(new, self.family)
        slots_before = dict(self.plan.slots)
        for key in old.slots.keys() - new.slots.keys():
            self.plan.slots.pop(key, None)
        self.plan.slots.update(new.slots)
        gone = old.entries.keys() - new.entries.keys()
        for entry_key in gone:
            self.plan.entries.pop(entry_key, None)
        self.plan.entries.update(new.entries)
        if self.plan.slots != slots_before:
            self._reload()
            return
        groups = self.forwarder.groups()
        for _, source, group in gone:
            self.forwarder.remove(source, group)
        for entry in new.entries.values():
            self.forwarder.put(entry)
        if self.filter_groups and self.forwarder.groups() != groups:
            self._set_filter()

    def _reload(self) -> None:
        indexes = {s.index for s in self.plan.slots.values()}
        ports = {}
        for index in indexes:
            try:
                ports[index] = Port(index, _mtu(index))
            except OSError as exc:
                raise McastError(f"interface {index} is gone: {exc.strerror}") from None
        self.forwarder.load(self.plan, ports)
        for index in sorted(indexes - self.allmulti):
            self._membership(index, PACKET_ADD_MEMBERSHIP)
            self.allmulti.add(index)
        for index in sorted(self.allmulti - indexes):
            with contextlib.suppress(OSError):  # gone with its interface
                self._membership(index, PACKET_DROP_MEMBERSHIP)
            self.allmulti.discard(index)
            self._hardware.pop(index, None)
        self._addresses.clear()
        self._set_filter()

    def _membership(self, index: int, option: int) -> None:
        """All-multicast reception on an interface, held by the socket (as the kernel's
        routing sets IFF_ALLMULTI on its interfaces): a NIC passes every group."""
        request = struct.pack("=iHH8s", index, PACKET_MR_ALLMULTI, 0, b"")
        try:
            self.sock.setsockopt(SOL_PACKET, option, request)
        except OSError as exc:
            raise McastError(f"all-multicast reception on interface {index} was refused: "
                             f"{exc.strerror}") from None  # fmt: skip

    def _set_filter(self) -> None:
        indexes = sorted(self.forwarder.ports)
        groups = self.forwarder.groups() if self.filter_groups else None
        program = encode_filter(socket_filter(self.family, indexes, groups))
        buffer = ctypes_buffer(program)
        fprog = struct.pack("HL", len(program) // 8, buffer[1])
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        del buffer

    # -- the datagrams --

    async def run(self) -> None:
        """Forward what arrives until cancelled."""
        sock = self.sock
        while True:
            try:
                await trio.lowlevel.wait_readable(sock)
            except (trio.ClosedResourceError, OSError):
                return
            while sock.fileno() >= 0:
                batch = self._read()
                if not batch:
                    break
                self._forward(batch)
                await trio.lowlevel.checkpoint()

    def _read(self) -> list[tuple[bytes, bytes, bytes]]:
        """(datagram, sockaddr_ll, control data) of what is queued, up to a batch."""
        try:
            if self.reader is not None:
                return [(d, n, c) for d, n, c, _ in self.reader.read(self.sock.fileno())]
            data, control, _, address = self.sock.recvmsg(MAX_DATAGRAM, CONTROL_SPACE)
        except BlockingIOError:
            return []
        except OSError as exc:
            self.send_errors[f"receive {_errno_name(exc)}"] += 1
            return []
        raw = b"".join(_AUXDATA.pack(16 + len(d), level, kind, *struct.unpack_from("=I", d))
                       for level, kind, d in control if kind == PACKET_AUXDATA)  # fmt: skip
        return [(data, _sockaddr_ll(address), raw)]  # one at a time without recvmmsg

    def _forward(self, batch: list[tuple[bytes, bytes, bytes]]) -> None:
        self.batches += 1
        out: list[tuple[bytearray, bytes]] = []
        forwarder = self.forwarder
        for data, name, control in batch:
            if len(name) < 12 or name[10] == PACKET_OUTGOING:
                continue
            arrived = int.from_bytes(name[4:8], sys.byteorder, signed=True)
            partial = _partial(control)
            verdict = forwarder.forward(data, arrived, partial)
            if verdict.miss is not None and self.on_miss is not None:
                slot = self._slot_of(arrived)
                if slot is not None:
                    source, group = verdict.miss
                    self.on_miss(self.family, source, group, slot)
                    verdict = forwarder.forward(
                        data, arrived, partial
                    )  # its entry may be there now
            if not verdict.out:
                if verdict.miss is not None:  # nobody made an entry for it: gone
                    forwarder.dropped[NO_ROUTE] += 1
                continue
            packet = verdict.packet
            assert isinstance(packet, bytearray)
            packed = bytes(packet[16:20]) if self.family == 4 else bytes(packet[24:40])
            out += [(packet, self._address(index, packed)) for index in verdict.out]
        if out:
            self._send(out)

    def _slot_of(self, index: int) -> int | None:
        for number, slot in self.forwarder.slots.items():
            if slot.index == index:
                return number
        return None

    def _address(self, index: int, group: bytes) -> bytes:
        """The sockaddr_ll a copy for ``group`` goes to out of ``index``."""
        key = (index, group)
        found = self._addresses.get(key)
        if found is None:
            kind = self._hardware.get(index)
            if kind is None:
                kind = self._hardware[index] = _hardware_type(index)
            mac = multicast_mac(group) if kind == ARPHRD_ETHER else b""
            found = struct.pack("=HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P[self.family]),
                                index, 0, 0, len(mac), mac)  # fmt: skip
            if len(self._addresses) > 4096:
                self._addresses.clear()
            self._addresses[key] = found
        return found

    def _send(self, out: list[tuple[bytearray, bytes]]) -> None:
        if self.sender is not None:
            results = self.sender.send(self.sock.fileno(), out)
        else:
            results = []
            for packet, name in out:
                try:
                    self.sock.sendto(packet, _address_tuple(name))
                    results.append(0)
                except OSError as exc:
                    results.append(exc.errno or errno.EIO)
        for code in results:
            if code:
                self.send_errors[f"send {errno.errorcode.get(code, code)}"] += 1
                self.forwarder.copies -= 1

    def counters(self) -> dict[tuple[str, str], EntryCounters]:
        return self.forwarder.counters()

    def kernel_drops(self) -> int:
        """Datagrams the packet socket's queue had no room for (read and reset by the
        kernel at each look: added up here)."""
        with contextlib.suppress(OSError):
            _, drops = struct.unpack("=II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            self.socket_drops += drops
        return self.socket_drops

    def status(self) -> dict[str, Any]:
        f = self.forwarder
        dropped = dict(f.dropped)
        dropped.update(self.send_errors)
        drops = self.kernel_drops()
        if drops:
            dropped["socket_queue_full"] = drops
        return {
            "plane": self.name,
            "why": self.why,
            "forwarded": f.forwarded,
            "copies": f.copies,
            "misses": f.misses,
            "dropped": dict(sorted(dropped.items())),
        }

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: outside Trio
            trio.lowlevel.notify_closing(self.sock)
        self.sock.close()  # the all-multicast memberships go with it
        self._lock.close()


def _hold_forwarding(family: int) -> Any:
    """This namespace's right to forward ``family`` in user space, held while the
    returned file is open (the kernel lets it go if the process dies): a second
    forwarder of the same datagrams (another daemon of the toolkit's, or one on
    the kernel's routing socket where the kernel has one) would double them."""
    from ipv6.capabilities import has
    from ipv6.daemons import namespace_file

    path = namespace_file(f"mforward{family}", ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path, "a")  # noqa: SIM115 -- held until the plane closes
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise McastError(
            f"another multicast routing daemon (the toolkit's routes or proxy) forwards "
            f"IPv{family} in this namespace"
        ) from None
    if has(FEATURE[family]):
        try:
            open_routing_socket(family).close()  # nobody holds it: nobody else forwards
        except McastError:
            lock.close()
            raise
        except OSError:
            pass  # no privilege for it: the kernel's forwarders cannot be asked
    return lock


def _partial(control: bytes) -> bool:
    """Whether the packet's auxiliary data says its transport checksum is unfinished."""
    if len(control) < _AUXDATA.size:
        return False
    _, level, kind, status = _AUXDATA.unpack_from(control)
    return level == SOL_PACKET and kind == PACKET_AUXDATA and bool(status & TP_STATUS_CSUMNOTREADY)


def ctypes_buffer(data: bytes) -> tuple[Any, int]:
    """A C copy of ``data`` and its address (kept alive by the caller)."""
    import ctypes

    buffer = ctypes.create_string_buffer(data, len(data))
    return buffer, ctypes.addressof(buffer)


def _ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError as exc:
        raise OSError(exc.errno, f"no interface {index}") from None


def _ioctl(index: int, request: int) -> bytes:
    name = _ifname(index).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return fcntl.ioctl(s, request, struct.pack("16s24x", name))


def _mtu(index: int) -> int:
    return int(struct.unpack_from("=i", _ioctl(index, SIOCGIFMTU), 16)[0])


def _hardware_type(index: int) -> int:
    try:
        return int(struct.unpack_from("=H", _ioctl(index, SIOCGIFHWADDR), 16)[0])
    except OSError:
        return 0


def _sockaddr_ll(address: tuple[Any, ...]) -> bytes:
    """A recvfrom address of a packet socket as the raw sockaddr_ll fields used here."""
    name, protocol, pkttype = address[0], address[1], address[2]
    try:
        index = socket.if_nametoindex(name)
    except OSError:
        index = 0
    return struct.pack("=HHiHBB8s", socket.AF_PACKET, socket.htons(protocol), index, 0, pkttype,
                       0, b"")  # fmt: skip


def _address_tuple(name: bytes) -> tuple[Any, ...]:
    _, protocol, index, _, _, length, mac = struct.unpack("=HHiHBB8s", name)
    return (_ifname(index), socket.ntohs(protocol), 0, 0, mac[:length])
