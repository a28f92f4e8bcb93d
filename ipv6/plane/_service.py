"""The userspace data plane: one Trio process per network namespace moves
packets between its TUN devices and one raw IPv4 socket for protocol 41.

    python -m ipv6.plane._service      (started by ``ipv6 tunnel add``)

It runs every userspace tunnel listed in the namespace's registry and, like
the kernel's sit driver, demultiplexes what arrives: a configured 6in4
tunnel takes the packets of its remote, a 6to4 tunnel those sent to its
address. Every packet passes the checks of ``_rules`` and every drop is
counted by reason. SIGHUP re-reads the registry, SIGUSR1 writes the
counters now, SIGTERM ends it (its TUN devices go with it).

Past 400 lines as one concept: one event loop over the namespace's TUN devices
and its protocol-41 socket, which both directions of every tunnel and the
translators it hosts share, with one set of counters; docs/architecture.md's
debts say where it will split (the translators' hosting).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import trio

from .. import _daemon
from .._ancillary import send_from
from .._statefile import StateWriteFailed
from ..tunnel import _registry
from ..tunnel._control import own_ipv4, sixrd_domain
from ..tunnel._offload import (
    PLAIN,
    VNET_HDR_LEN,
    OffloadError,
    VnetHeader,
    coalesce,
    kernel_merged_header,
    merged_by_kernel,
    segment,
)
from ..tunnel._packets import PROTO_IPV6, Malformed, parse_ipv4
from ..tunnel._rules import Deliver, Drop, Flows, Policy, lab_block
from ..tunnel._tun import TunError, open_tun, set_offload

IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0
BATCH = 64  # packets handled per wake-up before yielding to the other direction
STATUS_INTERVAL = 0.2
OWN_REFRESH = 2.0


@dataclass
class Counters:
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    rx_bytes: int = 0
    rx_merged_by_kernel: int = 0  # TCP super-packets the IPv4 interface's GRO made
    drops: collections.Counter[str] = field(default_factory=collections.Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_packets": self.tx_packets,
            "tx_bytes": self.tx_bytes,
            "rx_packets": self.rx_packets,
            "rx_bytes": self.rx_bytes,
            "rx_merged_by_kernel": self.rx_merged_by_kernel,
            "drops": dict(sorted(self.drops.items())),
        }


@dataclass
class Running:
    spec: _registry.TunnelSpec
    fd: int
    flows: Flows
    counters: Counters
    cancel: trio.CancelScope
    pktinfo: tuple[int, int, bytes]  # the control message that sends from our address
    offload: bool = False  # the device has virtio-net headers (see _offload)
    tso: bool = False  # and the kernel agreed to hand it TCP super-packets
    sender: Any = None  # a sendmmsg batch sender, where the system has sendmmsg
    pending: list[bytes | bytearray] = field(default_factory=list)  # to coalesce
    kernel: Any = None  # the eBPF plane's programs (ipv6.tunnel._ebpf.KernelTunnel)
    plane_reason: str | None = None  # auto's eBPF plane that could not load: why


def make_policy(spec: _registry.TunnelSpec, own: frozenset[int], bcast: frozenset[int]) -> Policy:
    local = IPv4Address(spec.local)
    block = lab_block(local) if spec.lab else None
    router = int(IPv6Address(spec.router)) if spec.router else 0
    return Policy(
        mode=spec.mode,
        local=int(local),
        router=router,
        own=own,
        broadcasts=bcast - own,
        remote=int(IPv4Address(spec.remote)) if spec.remote else None,
        relays=tuple(int(IPv4Address(r)) for r in spec.relays),
        lab=(block,) if block else (),
        mtu=spec.mtu,
        sixrd=sixrd_domain(spec),
        border_relay=spec.border_relay,
    )


class Service:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, PROTO_IPV6)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)  # DF clear
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.running: dict[str, Running] = {}
        self.translators: dict[str, Any] = {}  # name -> ipv6.translate._plane.RunningTranslator
        self.errors: dict[str, str] = {}
        self.unclaimed: collections.Counter[str] = collections.Counter()
        self.own, self.broadcasts = own_ipv4()
        self.changed = trio.Event()
        self.names: dict[int, str] = {}  # IPv4 integers as text, for sendmsg
        self.nursery: trio.Nursery | None = None

    # -- configuration --

    def reload(self) -> None:
        data = _registry.load()
        wanted = {
            name: spec
            for name, spec in _registry.tunnels(data).items()
            if spec.plane in _registry.SERVICE_PLANES
        }
        for name in list(self.running):
            if name not in wanted or wanted[name] != self.running[name].spec:
                self._stop(name)
        translators = data["translators"]
        self.errors = {n: e for n, e in self.errors.items() if n in wanted or n in translators}
        for name, spec in wanted.items():
            if name not in self.running:
                self._start(spec)
        self._reload_translators(translators)
        self.write_status()

    def _reload_translators(self, wanted: dict[str, dict[str, Any]]) -> None:
        if not wanted and not self.translators:
            return  # no translator: the translation modules stay unloaded
        from ..translate import _plane
        from ..translate._spec import TranslatorSpec

        specs = {name: TranslatorSpec.from_json(data) for name, data in wanted.items()}
        for name in list(self.translators):
            if specs.get(name) != self.translators[name].spec:
                _plane.stop(self.translators.pop(name))
        for name, spec in specs.items():
            if name in self.translators:
                continue
            try:
                fd, translator, plane = _plane.start(spec)
            except TunError as exc:
                self.errors[name] = str(exc.strerror)
                continue
            self.errors.pop(name, None)
            running = _plane.RunningTranslator(
                spec, fd, translator, _plane.Counters(), trio.CancelScope(), plane
            )
            self.translators[name] = running
            assert self.nursery is not None
            self.nursery.start_soon(_plane.run, running, self.changed.set, self._lost_translator)

    def _lost_translator(self, running: Any, exc: OSError) -> None:
        name, fd = running.spec.name, running.fd
        why = exc.strerror or str(exc)
        _daemon.say("tunnel service", f"translator {name} stopped: its device is gone ({why})")
        self.errors[name] = (
            f"its device was deleted ({why}); the service makes it again when it next reloads"
        )
        if self.translators.get(name) is running:
            del self.translators[name]
            with contextlib.suppress(OSError):
                os.close(fd)
        self.changed.set()

    def _start(self, spec: _registry.TunnelSpec) -> None:
        assert self.nursery is not None
        try:
            fd = open_tun(spec.name, spec.mtu, vnet_hdr=spec.offload)
        except TunError as exc:
            self.errors[spec.name] = str(exc.strerror)
            return
        self.errors.pop(spec.name, None)
        pktinfo = send_from(IPv4Address(spec.local))
        offload = spec.offload and set_offload(fd)
        running = Running(
            spec=spec,
            fd=fd,
            flows=Flows(make_policy(spec, self.own, self.broadcasts)),
            counters=Counters(),
            cancel=trio.CancelScope(),
            pktinfo=pktinfo,
            offload=spec.offload,  # the headers are there even if the kernel refused TSO
            tso=offload,
            sender=_batch_sender(pktinfo) if spec.offload else None,
        )
        if spec.plane == "ebpf":
            from ..tunnel._ebpf import attach

            ours = [r.kernel for r in self.running.values() if r.kernel is not None]
            kernel = attach(spec, running.flows, ours)
            if isinstance(kernel, str) and not spec.plane_auto:
                self.errors[spec.name] = f"--plane ebpf: {kernel}"
                os.close(fd)
                return
            if isinstance(kernel, str):  # auto chose eBPF: the userspace plane carries it all
                running.plane_reason = f"userspace: {kernel}"
                _daemon.say("tunnel service", f"tunnel {spec.name}: {running.plane_reason}")
            else:
                running.kernel = kernel
        self.running[spec.name] = running
        self.nursery.start_soon(self._from_tun, running)

    def _stop(self, name: str) -> None:
        running = self.running.pop(name)
        running.cancel.cancel()
        if running.kernel is not None:
            running.kernel.detach()
            running.kernel = None
        trio.lowlevel.notify_closing(running.fd)  # its task may be waiting on it
        os.close(running.fd)

    def refresh_own(self) -> None:
        own, broadcasts = own_ipv4()
        if (own, broadcasts) == (self.own, self.broadcasts):
            return
        self.own, self.broadcasts = own, broadcasts
        for running in self.running.values():
            running.flows = Flows(make_policy(running.spec, own, broadcasts))
            if running.kernel is not None:  # a new memory: the kernel's copy starts over
                running.kernel.mirror(running.flows)

    # -- the two directions --

    def _name(self, address: int) -> str:
        text = self.names.get(address)
        if text is None:
            if len(self.names) > 4096:
                self.names.clear()
            text = self.names[address] = str(IPv4Address(address))
        return text

    async def _from_tun(self, running: Running) -> None:
        """IPv6 packets the stack routed into the tunnel: check, encapsulate, send.

        With offloads each read has a virtio-net header, and a TCP super-packet is
        cut into segments that fit the tunnel; every segment is checked as any
        packet, and a read's segments go out with one sendmmsg."""
        fd, counters, offload = running.fd, running.counters, running.offload
        buffer = bytearray(VNET_HDR_LEN + 65536)  # read into; a packet is a view of it
        view = memoryview(buffer)
        with running.cancel:
            # Stopped before this task first ran, its descriptor is closed: the
            # checkpoint ends it here, before a wait on a closed descriptor.
            await trio.lowlevel.checkpoint()
            while True:
                await trio.lowlevel.wait_readable(fd)
                for _ in range(BATCH):
                    try:
                        size = os.readv(fd, (buffer,))
                    except BlockingIOError:
                        break
                    except OSError as exc:  # the device was deleted under us
                        self._lost(running, exc)
                        return
                    packets: list[bytearray] | list[memoryview]
                    if offload:
                        try:
                            packets = segment(VnetHeader.unpack(view), view[VNET_HDR_LEN:size])
                        except OffloadError:
                            counters.drops["offload_malformed"] += 1
                            continue
                    else:
                        packets = [view[:size]]
                    batch: list[tuple[bytearray | memoryview, int]] = []
                    for packet in packets:
                        verdict = running.flows.encapsulate(packet)
                        if isinstance(verdict, Drop):
                            counters.drops[verdict.reason] += 1
                            if verdict.reply is not None:
                                self._write(running, verdict.reply)
                            continue
                        batch.append((packet, verdict.dst))
                    if batch:
                        self._send_batch(running, batch)
                else:  # a full batch: let the other direction run before reading on
                    await trio.lowlevel.checkpoint()
                self.changed.set()

    def _send_batch(
        self, running: Running, batch: list[tuple[bytearray | memoryview, int]]
    ) -> None:
        """Encapsulated packets out, with sendmmsg where there is one; each counted."""
        counters = running.counters
        if running.sender is not None:
            results = running.sender.send(
                self.sock.fileno(), [(p, dst.to_bytes(4, "big")) for p, dst in batch]
            )
        else:
            results = []
            cmsg = [running.pktinfo]
            for packet, dst in batch:
                try:
                    self.sock.sendmsg([packet], cmsg, 0, (self._name(dst), 0))
                    results.append(0)
                except OSError as exc:
                    results.append(exc.errno or errno.EIO)
        for (packet, _), code in zip(batch, results, strict=True):
            if code == 0:
                counters.tx_packets += 1
                counters.tx_bytes += len(packet)
            elif code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS):
                counters.drops["ipv4_send_queue_full"] += 1
            else:
                counters.drops[f"ipv4_send_{errno.errorcode.get(code, 'error')}"] += 1

    def _lost(self, running: Running, exc: OSError) -> None:
        """A tunnel whose device went: said, shown as an error, made anew on SIGHUP."""
        name = running.spec.name
        why = exc.strerror or str(exc)
        _daemon.say("tunnel service", f"tunnel {name} stopped: its device is gone ({why})")
        self.errors[name] = (
            f"its device was deleted ({why}); the service makes it again when it next "
            "reloads (ipv6 tunnel add or delete of any tunnel)"
        )
        if self.running.get(name) is running:
            del self.running[name]
            with contextlib.suppress(OSError):
                os.close(running.fd)
        self.changed.set()

    def _write(self, running: Running, packet: bytes | bytearray | memoryview) -> bool:
        try:
            if running.offload:
                os.writev(running.fd, (PLAIN, packet))
            else:
                os.write(running.fd, packet)
        except OSError:
            running.counters.drops["tun_write_failed"] += 1
            return False
        return True

    def _write_merged(self, running: Running, packet: bytes | bytearray | memoryview) -> bool:
        """A super-packet the IPv4 side's GRO made (checked there, segment by segment),
        after what came before it: whole, its checksum left to the kernel, to an
        offloading tunnel; cut into segments that fit the tunnel otherwise."""
        running.counters.rx_merged_by_kernel += 1
        header = kernel_merged_header(packet, running.spec.mtu)
        if running.offload:
            self._flush_one(running)
            try:
                os.writev(running.fd, (header.pack(), packet))
            except OSError:
                running.counters.drops["tun_write_failed"] += 1
                return False
            return True
        try:
            pieces = segment(header, packet)
        except OffloadError:
            running.counters.drops["offload_malformed"] += 1
            return False
        return all([self._write(running, piece) for piece in pieces])

    def _flush_coalesced(self) -> None:
        """What a batch from the IPv4 side delivered to offloading tunnels: segments of
        one flow written as one super-packet (GRO), the rest as they came."""
        for running in self.running.values():
            if running.pending:
                self._flush_one(running)

    def _flush_one(self, running: Running) -> None:
        pending, running.pending = running.pending, []
        for header, packet in coalesce(pending):
            try:
                os.writev(running.fd, (header, packet))
            except OSError:
                running.counters.drops["tun_write_failed"] += 1

    def _claim(self, src: int, dst: int) -> Running | None:
        """Which tunnel a protocol-41 packet is for, as sit's lookup decides."""
        fallback = None
        for running in self.running.values():
            policy = running.flows.policy
            if policy.mode == "6in4" and policy.remote == src and policy.local == dst:
                return running
            if policy.local == dst and (fallback is None or policy.mode != "6in4"):
                fallback = running
        if fallback is None and len(self.running) == 1:
            fallback = next(iter(self.running.values()))
        if fallback is None:  # several tunnels, none for this address: a 6to4 or 6rd one counts it
            fallback = next(
                (r for r in self.running.values() if r.flows.policy.mode != "6in4"), None
            )
        return fallback

    async def from_ipv4(self) -> None:
        """Protocol-41 packets from the IPv4 side: claim, check, decapsulate. Each
        wake-up reads a batch (one recvmmsg where there is one), so that what the
        batch delivers to an offloading tunnel can be coalesced (GRO)."""
        sock = self.sock
        reader = _batch_reader()
        buffer = bytearray(65536)
        view = memoryview(buffer)
        while True:
            await trio.lowlevel.wait_readable(sock)
            packets: list[bytes] = []
            if reader is not None:
                try:
                    packets = [got[0] for got in reader.read(sock.fileno())]
                except OSError:  # an error queued on the socket: counted, reading goes on
                    self.unclaimed["receive_error"] += 1
            else:
                for _ in range(BATCH):
                    try:
                        packets.append(bytes(view[: sock.recv_into(buffer)]))
                    except BlockingIOError:
                        break
            for data in packets:
                self._from_ipv4_one(data)
            self._flush_coalesced()
            if len(packets) == BATCH:  # a full batch: let the tunnels' side run
                await trio.lowlevel.checkpoint()
            self.changed.set()

    def _from_ipv4_one(self, data: bytes) -> None:
        try:
            outer = parse_ipv4(data)
        except Malformed:
            self.unclaimed["outer_malformed"] += 1
            return
        running = self._claim(outer.src, outer.dst)
        if running is None:
            self.unclaimed["no_tunnel"] += 1
            return
        verdict = running.flows.decapsulate(outer.src, outer.dst, outer.payload)
        if not isinstance(verdict, Deliver):
            running.counters.drops[verdict.reason] += 1
            return
        packet = verdict.packet
        if merged_by_kernel(packet):
            if not self._write_merged(running, packet):
                return
        elif running.offload:  # written with the rest of the batch (GRO)
            running.pending.append(packet if isinstance(packet, bytes) else bytes(packet))
        elif not self._write(running, packet):
            return
        running.counters.rx_packets += 1
        running.counters.rx_bytes += len(packet)

    # -- reporting --

    def write_status(self) -> None:
        self.save_status(self.status())

    def save_status(self, data: dict[str, Any]) -> None:
        """The counters for ``ipv6 tunnel status``; a full or read-only disk is
        counted and said once in the log, and the tunnels go on."""
        try:
            _registry.write_json(_registry.status_path(), data)
        except StateWriteFailed as exc:
            self.unclaimed["status_write_failed"] += 1
            if self.unclaimed["status_write_failed"] == 1:
                _daemon.say("tunnel service", str(exc))

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "written": time.time(),
            "tunnels": {name: _tunnel_status(r) for name, r in self.running.items()},
            "translators": {name: r.status() for name, r in self.translators.items()},
            "errors": dict(self.errors),
            "unclaimed": dict(self.unclaimed),
            "kernel_dropped": raw_socket_drops(self.sock),
        }

    async def watch_addresses(self) -> None:
        while True:
            await trio.sleep(OWN_REFRESH)
            self.refresh_own()


def _tunnel_status(running: Running) -> dict[str, Any]:
    """A tunnel's row: its spec, its counters (with the kernel's, on the eBPF plane)."""
    row: dict[str, Any] = {**running.spec.to_json(), **running.counters.to_json(),
                           "offloads": _offloads(running)}  # fmt: skip
    if running.plane_reason is not None:
        row["plane_running"], row["plane_reason"] = "userspace", running.plane_reason
    if running.kernel is not None:
        k = running.kernel.counters()
        row["tx_packets"] += k["encapsulated_packets"]
        row["tx_bytes"] += k["encapsulated_bytes"]
        row["rx_packets"] += k["decapsulated_packets"]
        row["rx_bytes"] += k["decapsulated_bytes"]
        if k["rewrite_failed"]:
            row["drops"] = {**row["drops"], "ebpf_rewrite_failed": k["rewrite_failed"]}
        row["kernel_plane"] = {
            **{n: k[n] for n in ("encapsulated_packets", "decapsulated_packets",
                                 "to_userspace", "no_route", "room_refused", "rewrite_failed")},
            "pairs": len(running.kernel.out_keys) + len(running.kernel.in_keys),
            "pairs_left_to_userspace": running.kernel.lost,
        }  # fmt: skip
    return row


def _offloads(running: Running) -> list[str]:
    """What this tunnel's userspace plane uses of the faster ways, as status says it."""
    if not running.offload:
        return []
    used = ["tso6", "csum"] if running.tso else []
    used.append("gro")
    if running.sender is not None:
        used.append("sendmmsg")
    return used


def _batch_reader() -> Any:
    """A recvmmsg reader for the raw socket, where the system has recvmmsg."""
    from .. import batch

    return batch.BatchReader(BATCH, 65536, 0) if batch.recvmmsg_available() else None


def _batch_sender(pktinfo: tuple[int, int, bytes]) -> Any:
    from .. import batch

    if not batch.sendmmsg_available():
        return None
    level, kind, data = pktinfo
    return batch.PacketSender(BATCH_SEGMENTS, _cmsg(level, kind, data))


BATCH_SEGMENTS = 64  # a 64 KB super-packet at the smallest MSS a 1280 MTU leaves is 54


def _cmsg(level: int, kind: int, data: bytes) -> bytes:
    """One control message as the kernel reads it (struct cmsghdr, data, padding)."""
    length = 16 + len(data)
    space = (length + 7) // 8 * 8
    return struct.pack("=QiI", length, level, kind) + data + b"\0" * (space - length)


def raw_socket_drops(sock: socket.socket) -> int | None:
    """What the kernel dropped because ``sock``'s queue was full (/proc/net/raw)."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    try:
        with open("/proc/thread-self/net/raw", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 9 and fields[9] == inode:
                    return int(fields[-1])
    except (OSError, ValueError):
        pass
    return None


async def serve() -> int:
    service = Service()
    with _daemon.signal_receiver(signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            service.nursery = nursery
            service.reload()
            nursery.start_soon(service.from_ipv4)
            nursery.start_soon(_daemon.report_changes, service, STATUS_INTERVAL)
            nursery.start_soon(service.watch_addresses)
            async for signum in signals:
                if signum == signal.SIGHUP:
                    service.refresh_own()
                    service.reload()
                elif signum == signal.SIGUSR1:
                    service.write_status()
                else:
                    break
            nursery.cancel_scope.cancel()
    for name in list(service.running):
        service._stop(name)
    service._reload_translators({})
    service.write_status()
    return 0


def main() -> int:
    """Run until SIGTERM; why it stopped is the last line of the tunnel log (its stderr)."""
    return _daemon.run_daemon("tunnel service", lambda: trio.run(serve))


if __name__ == "__main__":
    sys.exit(main())
