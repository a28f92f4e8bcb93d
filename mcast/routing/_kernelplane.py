"""The kernel's multicast forwarding plane, and what both planes share.

:class:`KernelPlane` holds the family's routing socket (MRT_INIT): the plan's
slots and entries become setsockopt calls, the kernel forwards, and its
upcalls (a datagram with no entry) are read and handed on. The routing
socket also tells whether another routing daemon holds the namespace, which
the userspace plane asks too (:mod:`._userplane`).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import trio

from ipv6.sockopts import SO_RCVBUFFORCE

from .._errors import McastError
from ._mforward import EntryCounters
from ._mroutes import SOL_IP, SOL_IPV6, Op, Plan, Step, transitions
from ._proxyplan import NOCACHE, decode_upcall

FEATURE = {4: "ip_mroute", 6: "ip6_mroute"}  # the kernel feature of each family

MRT_INIT = 200  # MRT6_INIT too: the same number at the IPv6 level
UPCALL_BUFFER = 4 << 20
_GONE = (errno.ENOENT, errno.EADDRNOTAVAIL, errno.EINVAL)

Miss = Callable[[int, Any, Any, int], None]  # (family, source, group, slot number)


def of_family(plan: Plan, family: int) -> Plan:
    return Plan({k: s for k, s in plan.slots.items() if s.family == family},
                {k: e for k, e in plan.entries.items() if e.family == family})  # fmt: skip


def open_routing_socket(family: int) -> socket.socket:
    """The routing socket of ``family``; McastError when another daemon has it,
    KernelLacks when the kernel has no multicast routing."""
    if family == 4:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        level = SOL_IP
    else:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        level = SOL_IPV6
    try:
        sock.setsockopt(level, MRT_INIT, 1)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise McastError(
                f"another multicast routing daemon (smcroute, pimd, igmpproxy?) holds the "
                f"IPv{family} routing socket in this namespace"
            ) from None
        if exc.errno == errno.ENOPROTOOPT:
            from ipv6.capabilities import KernelLacks

            raise KernelLacks(FEATURE[family], "the kernel multicast routing plane",
                              "use --plane userspace (or auto)") from None  # fmt: skip
        raise
    # Room for a burst of upcalls (each a datagram's note, or a whole IGMP message)
    # while the reader is busy: a lost upcall leaves the kernel's unresolved entry
    # waiting out its 10 s, and the kernel keeps only a few of those.
    if SO_RCVBUFFORCE is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, UPCALL_BUFFER)
    sock.setblocking(False)
    return sock


def apply_op(sock: socket.socket, op: Op) -> bool:
    """Give the kernel one operation through the routing socket of its family;
    False when a deletion found its object gone already."""
    try:
        sock.setsockopt(op.level, op.option, op.value)
    except OSError as exc:
        if op.action.startswith("delete") and exc.errno in _GONE:
            return False  # gone already (its interface went)
        raise McastError(f"the kernel refused to {op.text}: {exc.strerror}") from None
    return True


class KernelPlane:
    """Linux's multicast routing for one family, through its routing socket."""

    name = "kernel"
    why = ""  # why it runs, in status's words (:func:`._planes.open_plane` sets it)

    def __init__(self, family: int, on_miss: Miss | None = None) -> None:
        self.family = family
        self.on_miss = on_miss
        self.sock = open_routing_socket(family)
        self.said: Callable[[str], None] | None = None  # each kernel change, for a log
        self.upcalls = 0
        self.dropped: collections.Counter[str] = collections.Counter()

    def move(self, old: Plan, new: Plan) -> None:
        """From ``old`` to ``new`` (this family's part), through the one do/undo runner:
        when the kernel refuses a step, the steps before it are undone and McastError
        says what was refused and what undoing did."""
        from ipv6 import Refused, apply_steps

        def do(step: Step) -> list[Step]:
            if apply_op(self.sock, step.op) and self.said is not None:
                self.said(step.op.text)
            return [Step(op, ()) for op in step.undo]

        steps = transitions(of_family(old, self.family), of_family(new, self.family))
        try:
            apply_steps(steps, do, lambda step: step.op.text, refusals=(McastError,))
        except Refused as refused:
            raise McastError(str(refused)) from None

    async def run(self) -> None:
        """Read the kernel's upcalls until cancelled: each counted, a miss handed on."""
        sock = self.sock
        while True:
            try:
                await trio.lowlevel.wait_readable(sock)
            except (trio.ClosedResourceError, OSError):
                return
            while sock.fileno() >= 0:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    break
                except OSError as exc:  # ENOBUFS and the like: counted, not fatal
                    self.dropped[f"routing socket error {_errno_name(exc)}"] += 1
                    break
                self._upcall(data)

    def _upcall(self, data: bytes) -> None:
        try:
            upcall = decode_upcall(self.family, data)
        except ValueError:
            self.dropped["malformed upcall"] += 1
            return
        if upcall is None:
            return  # an IGMP or MLD message: the queriers read those from the link
        self.upcalls += 1
        if upcall.kind != NOCACHE:
            self.dropped[f"upcall type {upcall.kind}"] += 1
            return
        if self.on_miss is not None:
            self.on_miss(self.family, upcall.source, upcall.group, upcall.slot)

    def counters(self) -> dict[tuple[str, str], EntryCounters]:
        width = 4 if self.family == 4 else 6
        return {
            key: EntryCounters(*numbers)
            for key, numbers in kernel_counters().items()
            if (":" in key[0]) == (width == 6)
        }

    def status(self) -> dict[str, Any]:
        return {"plane": self.name, "why": self.why, "upcalls": self.upcalls,
                "dropped": dict(self.dropped)}  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: outside Trio
            trio.lowlevel.notify_closing(self.sock)
        self.sock.close()  # the kernel drops the slots and entries with it


def kernel_counters() -> dict[tuple[str, str], tuple[int, int, int]]:
    """(group, origin) -> (packets, bytes, wrong interface), from the kernel's tables."""
    out: dict[tuple[str, str], tuple[int, int, int]] = {}
    for name, width in (("ip_mr_cache", 8), ("ip6_mr_cache", 32)):
        try:
            with open(f"/proc/thread-self/net/{name}", encoding="ascii") as table:
                lines = table.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 6 or fields[2] == "-1":  # unresolved: no route
                continue
            group, origin = (_address(f, width) for f in fields[:2])
            out[group, origin] = (int(fields[3]), int(fields[4]), int(fields[5]))
    return out


def _address(text: str, width: int) -> str:
    if width == 8:  # an IPv4 address as the kernel prints a __be32 with %08X
        return str(ipaddress.IPv4Address(bytes.fromhex(text)[::-1]))
    return str(ipaddress.IPv6Address(bytes.fromhex(text.replace(":", ""))))  # 32 hex digits


def _errno_name(exc: OSError) -> str:
    code = exc.errno or 0
    return errno.errorcode.get(code, str(code))
