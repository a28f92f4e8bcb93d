"""Translators on the userspace plane: one TUN device each, run inside the
tunnel service (``ipv6.plane._service``), which starts and stops them as
the namespace's registry says.

The kernel routes the translator's prefix (IPv6) and pool (IPv4) into the
device; every packet read is translated by the pure core and written back
into the same device, whose IPv4 or IPv6 side the kernel then routes on,
as tayga does. Each drop is counted by reason; sessions and held fragments
expire on a timer.

On the eBPF plane (``_ebpf``, the spec's ``plane``), a tc program on the
device's egress translates the packets of flows remembered here before they
reach the device, and the service reads only the rest; the timer brings the
sessions up to what the kernel saw, and takes ended ones out of its maps.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from .._kernelops import AddRoute
from .._netlink import Netlink
from ..tunnel._tun import TunError, open_tun
from ._fastpath import ESTABLISHED
from ._nat64 import Nat64Mapper
from ._siit import Translator, text4, text6
from ._spec import TranslatorSpec, device_setup, make_translator

BATCH = 64
EXPIRE_INTERVAL = 1.0
HELD = frozenset({"fragment_held", "tcp_syn_held"})  # not yet a fate: counted when they have one
STATUS_SESSIONS = 256  # sessions written to the status file (all are counted)


@dataclass
class Counters:
    to_ipv4_packets: int = 0
    to_ipv4_bytes: int = 0
    to_ipv6_packets: int = 0
    to_ipv6_bytes: int = 0
    drops: collections.Counter[str] = field(default_factory=collections.Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "to_ipv4_packets": self.to_ipv4_packets,
            "to_ipv4_bytes": self.to_ipv4_bytes,
            "to_ipv6_packets": self.to_ipv6_packets,
            "to_ipv6_bytes": self.to_ipv6_bytes,
            "drops": dict(sorted(self.drops.items())),
        }


@dataclass
class Plane:
    """Which plane a translator runs on, and why: its kernel part when eBPF."""

    name: str  # "ebpf" or "userspace"
    reason: str
    kernel: Any = None  # ._ebpf.KernelFlows on the eBPF plane


@dataclass
class RunningTranslator:
    spec: TranslatorSpec
    fd: int
    translator: Translator
    counters: Counters
    cancel: trio.CancelScope
    plane: Plane = field(default_factory=lambda: Plane("userspace", "userspace"))

    def status(self) -> dict[str, Any]:
        now = trio.current_time()
        out: dict[str, Any] = {**self.spec.to_json(), **self.counters.to_json()}
        out["drops"] = {**out["drops"]}
        out["plane"], out["plane_reason"] = self.plane.name, self.plane.reason
        kernel = self.plane.kernel
        if kernel is not None:
            counted = kernel.counters()
            for key in ("to_ipv4_packets", "to_ipv4_bytes", "to_ipv6_packets", "to_ipv6_bytes"):
                out[key] += counted[key]
            if counted["rewrite_failed"]:
                out["drops"]["ebpf_rewrite_failed"] = counted["rewrite_failed"]
            out["kernel_plane"] = {
                "to_ipv4_packets": counted["to_ipv4_packets"],
                "to_ipv6_packets": counted["to_ipv6_packets"],
                "to_userspace": counted["to_userspace"],
                "change_refused": counted["change_refused"],
                "rewrite_failed": counted["rewrite_failed"],
                "flows": len(kernel.counts),
                "flows_left_to_userspace": kernel.lost,
            }
        translator = self.translator
        memory = translator.memory
        if memory.expired_fragments:
            out["drops"]["fragment_expired"] = memory.expired_fragments
        # A held fragment is counted when its fate is known: released with its
        # datagram (translated), or expired (dropped).
        out["fragments_held"] = memory.held_fragments
        out["fragments_released"] = memory.released_fragments
        # A held IPv4 SYN too: made moot by the IPv6 side's SYN, or never answered.
        if memory.syns_simultaneous:
            out["drops"]["tcp_syn_simultaneous_open"] = memory.syns_simultaneous
        if memory.syns_unanswered:
            out["drops"]["tcp_syn_unanswered"] = memory.syns_unanswered
        out["syns_held"] = memory.held_syns
        out["kernel_dropped"] = queue_drops(self.spec.name)
        out["icmp_errors"] = dict(sorted(translator.icmp_errors.items()))
        mapper = self.translator.mapper
        if isinstance(mapper, Nat64Mapper):
            out["session_count"] = mapper.sessions
            out["bindings"] = len(mapper.bib6)
            out["events"] = dict(sorted(mapper.events.items()))
            out["sessions"] = [
                {
                    "protocol": row.protocol,
                    "ipv6_host": f"[{text6(row.ipv6_host[0])}]:{row.ipv6_host[1]}",
                    "ipv6_remote": f"[{text6(row.ipv6_remote[0])}]:{row.ipv6_remote[1]}",
                    "ipv4_pool": f"{text4(row.ipv4_pool[0])}:{row.ipv4_pool[1]}",
                    "ipv4_remote": f"{text4(row.ipv4_remote[0])}:{row.ipv4_remote[1]}",
                    "state": row.state,
                    "expires_in": round(row.expires_in, 1),
                    "packets_out": row.packets_out,
                    "packets_in": row.packets_in,
                }
                for row in mapper.rows(now, STATUS_SESSIONS)
            ]
        return out


def queue_drops(name: str) -> int | None:
    """What the kernel dropped because the device's queue was full (the translator
    read too slowly): the TUN device's transmit drops."""
    import psutil

    found = psutil.net_io_counters(pernic=True).get(name)
    return None if found is None else int(found.dropout)


def start(spec: TranslatorSpec) -> tuple[int, Translator, Plane]:
    """The translator's device, up and routed (routes go with the device), and
    its plane (TunError when ``ebpf`` was asked for and cannot be had)."""
    fd = open_tun(spec.name, spec.mtu)
    netlink = Netlink()
    try:
        for op in device_setup(spec):
            netlink.apply(op)
    except OSError as exc:
        os.close(fd)
        what = op.prefix if isinstance(op, AddRoute) else getattr(op, "address", op)
        why = f"cannot set up {spec.name} ({what}): {exc.strerror}"
        raise TunError(exc.errno or 0, why) from None
    finally:
        netlink.close()
    translator = make_translator(spec)
    try:
        plane = _plane_for(spec, translator)
    except TunError:
        os.close(fd)
        raise
    return fd, translator, plane


def _plane_for(spec: TranslatorSpec, translator: Translator) -> Plane:
    if spec.plane == "userspace":
        return Plane("userspace", "userspace: asked for (--plane userspace)")
    from .._bpf import BpfError, why_not
    from .._bpfelf import BpfObjectError
    from .._features import ABSENT, BY_NAME
    from .._kernelops import AttachTcProgram
    from .._probe import state_of
    from ._ebpf import KernelFlows

    if state_of("ebpf_tc") == ABSENT:  # as probed (or reported absent on request)
        feature = BY_NAME["ebpf_tc"]
        why = f"the kernel lacks {feature.title} ({feature.config})"
        if spec.plane == "ebpf":
            raise TunError(0, f"--plane ebpf: {why}")
        return Plane("userspace", f"userspace: {why}")
    kernel = None
    try:
        kernel = KernelFlows.load()
        index = socket.if_nametoindex(spec.name)
        kernel.configure(index, translator.mtu6, translator.mtu)
        netlink = Netlink()
        try:  # the device's deletion takes the program with it: no undo kept
            netlink.apply(AttachTcProgram(index, kernel.program_fd, "xlat", egress=True))
        finally:
            netlink.close()
    except (BpfError, BpfObjectError, OSError) as exc:
        why = why_not(exc)
    else:
        kernel.mirror(translator.flows, 0.0)
        return Plane("ebpf", f"ebpf: remembered TCP and UDP flows are translated in the kernel "
                     f"(tc egress of {spec.name}); the rest here", kernel)  # fmt: skip
    if kernel is not None:
        kernel.close()
    if spec.plane == "ebpf":
        raise TunError(0, f"--plane ebpf: {why}")
    return Plane("userspace", f"userspace: {why}")


async def run(
    running: RunningTranslator, changed: Callable[[], None], lost: Callable[[Any, OSError], None]
) -> None:
    """Translate what the kernel routes into the device, and expire what timed
    out, until cancelled. ``changed()`` after every batch (the status wants
    writing); ``lost(running, exc)`` when the device goes away under the service."""
    with running.cancel:
        # Stopped before this task first ran, its descriptor is closed: the
        # checkpoint ends it here, before a wait on a closed descriptor.
        await trio.lowlevel.checkpoint()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_expire, running, changed)
            await _translate(running, changed, lost)
            nursery.cancel_scope.cancel()


async def _translate(
    running: RunningTranslator, changed: Callable[[], None], lost: Callable[[Any, OSError], None]
) -> None:
    fd, counters, translator = running.fd, running.counters, running.translator
    kernel = running.plane.kernel
    nat = translator.mapper if isinstance(translator.mapper, Nat64Mapper) else None
    stateful = kernel is not None and nat is not None
    buffer = bytearray(65536)
    view = memoryview(buffer)
    from_v6, from_v4 = translator.from_v6, translator.from_v4
    fast6, fast4 = translator.fast_from_v6, translator.fast_from_v4
    write, drops = os.write, counters.drops
    while True:
        try:
            await trio.lowlevel.wait_readable(fd)
        except trio.ClosedResourceError:  # stopped: the device is being closed
            return
        now = trio.current_time()
        to4 = to4_bytes = to6 = to6_bytes = 0  # this batch's, added up after it
        for _ in range(BATCH):
            try:
                size = os.readv(fd, (buffer,))
            except BlockingIOError:
                break
            except OSError as exc:
                lost(running, exc)
                return
            packet = view[:size]
            six = size and buffer[0] >> 4 == 6
            fast = fast6(packet, now) if six else fast4(packet, now)
            if fast is not None:  # a remembered flow: no Out to make
                outs: tuple[bytes | bytearray, ...] = (fast,)
                drop = None
            else:
                out = from_v6(packet, now) if six else from_v4(packet, now)
                outs, drop = out.packets, out.drop
                if stateful:  # a session this packet ended leaves the kernel's maps
                    touched = nat.touched  # type: ignore[union-attr]
                    if touched is not None and touched.state not in (ESTABLISHED, ""):
                        kernel.forget_session(touched)
            if drop is None:
                if six:
                    to4 += 1
                    to4_bytes += size
                else:
                    to6 += 1
                    to6_bytes += size
            elif drop not in HELD:
                drops[drop] += 1
            for made in outs:
                try:
                    write(fd, made)
                except OSError as exc:
                    drops[f"tun_write_{errno.errorcode.get(exc.errno or 0, 'error')}"] += 1
        else:
            await trio.lowlevel.checkpoint()
        counters.to_ipv4_packets += to4
        counters.to_ipv4_bytes += to4_bytes
        counters.to_ipv6_packets += to6
        counters.to_ipv6_bytes += to6_bytes
        changed()


async def _expire(running: RunningTranslator, changed: Callable[[], None]) -> None:
    drops, kernel, flows = running.counters.drops, running.plane.kernel, running.translator.flows
    while True:
        await trio.sleep(EXPIRE_INTERVAL)
        now = trio.current_time()
        if kernel is not None and any(kernel.refresh(flows, now)):
            changed()  # the kernel translated: the status wants writing
        replies = running.translator.expire(now)
        if kernel is not None:
            kernel.sweep(flows, now)
        for reply in replies:
            try:
                os.write(running.fd, reply)
            except OSError as exc:
                drops[f"tun_write_{errno.errorcode.get(exc.errno or 0, 'error')}"] += 1


def stop(running: RunningTranslator) -> None:
    """Stop translating and close the device (its routes go with it)."""
    running.cancel.cancel()
    trio.lowlevel.notify_closing(running.fd)
    with contextlib.suppress(OSError):
        os.close(running.fd)  # the device goes, and its program with it
    if running.plane.kernel is not None:
        running.plane.kernel.close()
