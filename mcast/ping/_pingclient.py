"""The multicast ping client behind ``mcast ping HOST`` (what ssmping and asmping do).

It sends a request a second (``interval``) to the responder's port 4321 by
unicast, from a port of its own, and listens on that port for the two
replies each request brings: the unicast one, and the one the responder sends
to the group, which it has joined (source-specific on the responder's
address, or any-source). Per reply it reports the path, sequence, round-trip
time (from the kernel's arrival time) and hop distance; at the end, per path,
loss, RTT statistics and, for multicast, how long the tree took to form.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from ipv6 import BadInput, InterfaceRef, Result, resolve_destination, resolve_interface
from ipv6.sockopts import INT, IP_TTL, IPV6_HOPLIMIT, SO_TIMESTAMPNS, arrival_ns

from .._errors import McastBadInput
from ..membership._groups import is_ssm
from ..streams._receiver import open_receiver
from ..wire._wirecommon import MalformedPacket
from . import _mping
from ._pingstats import PathReport, PathTally, distance, verdict

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IP_RECVTTL = 12  # Linux
_HOP_MESSAGES = {(socket.IPPROTO_IP, IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)}


@dataclass
class PingReply(Result):
    """One reply, as ``mcast ping`` prints it."""

    path: str  # "unicast" or "multicast"
    source: str
    sequence: int
    rtt_ms: float
    hops_left: int | None
    distance: int | None
    size: int
    duplicate: bool


@dataclass
class PingReport(Result):
    """A whole ping: both paths, and the exit status it calls for."""

    host: str
    group: str
    mode: str  # "ssm" or "asm"
    interface: str
    local: str  # the address and port the requests came from
    sent: int
    unicast: PathReport
    multicast: PathReport
    server_version: str | None
    ignored: dict[str, int] = field(default_factory=dict)  # replies not counted, by reason
    exit_status: int = 0


@dataclass(frozen=True)
class Target:
    """Where the pings go and which group they ask for."""

    address: IPAddress
    scope_id: int
    group: IPAddress
    asm: bool
    port: int = _mping.PORT  # the responder's

    def sockaddr(self) -> tuple[Any, ...]:
        if self.address.version == 6:
            return (str(self.address), self.port, 0, self.scope_id)
        return (str(self.address), self.port)


async def resolve_target(
    host: str, *, group: IPAddress | None, asm: bool, interface: str | None
) -> Target:
    """The responder's address (a literal, with a zone if it needs one, or a name
    resolved here) and the group, checked: one line for each mistake."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        address, scope = await _lookup(host, group)
    else:
        try:
            destination = resolve_destination(host, interface)
        except BadInput as exc:
            raise McastBadInput(str(exc)) from None
        address, scope = destination.address, destination.scope_id
    if group is None:
        if asm:
            raise McastBadInput(
                "an any-source ping needs --group (the responder only answers groups it "
                "serves: ssmpingd those ending in .234 or 4321:1234)"
            )
        group = _mping.DEFAULT_GROUPS[address.version]
    if group.version != address.version:
        raise McastBadInput(f"group {group} and host {address} are not of one IP version")
    if not asm and not is_ssm(group):
        raise McastBadInput(
            f"{group} is outside the source-specific range (232.0.0.0/8, ff3x::/96): "
            "use --asm for any-source"
        )
    return Target(address, scope, group, asm)


async def _lookup(host: str, group: IPAddress | None) -> tuple[IPAddress, int]:
    family = 0 if group is None else socket.AF_INET if group.version == 4 else socket.AF_INET6
    try:
        found = await trio.socket.getaddrinfo(host, _mping.PORT, family, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise McastBadInput(f"cannot resolve {host}: {exc.strerror}") from None
    sockaddr = found[0][4]
    address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    return address, int(sockaddr[3]) if len(sockaddr) > 3 else 0


class _Run:
    """The state of one ping while it runs."""

    def __init__(self, target: Target, on_reply: Callable[[PingReply], None] | None) -> None:
        self.target = target
        self.on_reply = on_reply
        self.client_id = os.getpid() & 0xFFFFFFFF
        self.sent_ns: dict[int, int] = {}
        self.started_ns = 0
        self.paths = {"unicast": PathTally("unicast"), "multicast": PathTally("multicast")}
        self.ignored: Counter[str] = Counter()
        self.version: str | None = None

    def reply(self, path: str, data: bytes, source: str, hops: int | None, at_ns: int) -> None:
        try:
            ping = _mping.decode_untrusted(data)
        except MalformedPacket:
            self.ignored["malformed"] += 1
            return
        if ipaddress.ip_address(source.split("%", 1)[0]) != self.target.address:
            self.ignored["other_source"] += 1
            return
        if ping.kind != "reply" or ping.client_id != self.client_id:
            self.ignored["not_ours"] += 1  # another client's reply to the same group
            return
        sent = self.sent_ns.get(ping.sequence or 0)
        if sent is None:
            self.ignored["unknown_sequence"] += 1
            return
        sequence = ping.sequence or 0
        if ping.version:
            self.version = ping.version
        rtt = max(0, at_ns - sent)
        fresh = self.paths[path].add(sequence, rtt, hops, at_ns - self.started_ns)
        if self.on_reply is not None:
            self.on_reply(
                PingReply(path, source, sequence, round(rtt / 1e6, 3), hops, distance(hops),
                          len(data), not fresh)
            )  # fmt: skip


async def multicast_ping(
    target: Target,
    *,
    count: int = 5,
    interval: float = 1.0,
    interface: str | None = None,
    wait: float | None = None,
    on_reply: Callable[[PingReply], None] | None = None,
) -> PingReport:
    """Ping ``target`` ``count`` times, ``interval`` seconds apart, then wait
    ``wait`` seconds (default: the interval, at least one second) for late replies."""
    run = _Run(target, on_reply)
    family = socket.AF_INET if target.address.version == 4 else socket.AF_INET6
    unicast = _unicast_socket(family, interface)
    with unicast:
        try:
            unicast.connect(target.sockaddr())
        except OSError as exc:
            raise McastBadInput(f"cannot reach {target.address}: {exc.strerror}") from None
        local = unicast.getsockname()
        port = int(local[1])
        joined_on = _interface_for(interface, local)
        async with open_receiver(port, bind=target.group, pace=0, timestamps=True) as rx:
            source = None if target.asm else target.address
            rx.join(target.group, joined_on.name, source=source)
            run.started_ns = time.time_ns()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_read_unicast, unicast, run)
                nursery.start_soon(_read_multicast, rx, run)
                for sequence in range(1, count + 1):
                    now = time.time_ns()
                    run.sent_ns[sequence] = now
                    request = _mping.encode_request(
                        run.client_id, sequence, now, group=target.group,
                        ask_version=sequence == 1,
                    )  # fmt: skip
                    try:
                        unicast.send(request)
                    except OSError as exc:  # the responder's port is closed, or no route now
                        run.ignored[f"send_{errno.errorcode.get(exc.errno or 0, 'error')}"] += 1
                    if sequence < count:
                        await trio.sleep(interval)
                await trio.sleep(max(interval, 1.0) if wait is None else wait)
                nursery.cancel_scope.cancel()
    sent = len(run.sent_ns)
    reports = [run.paths[p].report(sent) for p in ("unicast", "multicast")]
    return PingReport(
        host=str(target.address),
        group=str(target.group),
        mode="asm" if target.asm else "ssm",
        interface=joined_on.name,
        local=f"{local[0]} port {port}",
        sent=sent,
        unicast=reports[0],
        multicast=reports[1],
        server_version=run.version,
        ignored=dict(run.ignored),
        exit_status=verdict(*reports),
    )


def _unicast_socket(family: int, interface: str | None) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if SO_TIMESTAMPNS is not None:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        if interface is not None:
            name = _interface_ref(interface).name
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
    except BaseException:
        sock.close()
        raise
    return sock


def _interface_ref(spec: str) -> InterfaceRef:
    try:
        return resolve_interface(spec)
    except BadInput as exc:
        raise McastBadInput(str(exc)) from None


def _interface_for(interface: str | None, local: tuple[Any, ...]) -> InterfaceRef:
    """The interface to join on: the one asked for, else the one the requests leave by."""
    if interface is not None:
        return _interface_ref(interface)
    if len(local) > 3 and local[3]:
        return _interface_ref(str(local[3]))  # a link-local source names its link
    return _interface_ref(str(local[0]).split("%", 1)[0])


async def _read_unicast(sock: socket.socket, run: _Run) -> None:
    while True:
        try:
            data, ancillary, _, peer = sock.recvmsg(2048, 256)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
            continue
        except OSError as exc:  # ECONNREFUSED: the responder's port is closed
            run.ignored[f"receive_{errno.errorcode.get(exc.errno or 0, 'error')}"] += 1
            await trio.lowlevel.checkpoint()
            continue
        hops = at = None
        for level, kind, value in ancillary:
            if (level, kind) in _HOP_MESSAGES:
                hops = INT.unpack(value[: INT.size])[0] if len(value) >= INT.size else value[0]
            found = arrival_ns(level, kind, value)
            if found is not None:
                at = found
        run.reply("unicast", data, str(peer[0]), hops, at or time.time_ns())


async def _read_multicast(rx: Any, run: _Run) -> None:
    while True:
        for datagram in await rx.receive_batch():
            at = datagram.arrived_ns or time.time_ns()
            run.reply("multicast", datagram.payload, datagram.source, datagram.ttl, at)
