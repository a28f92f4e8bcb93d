"""Sending a measurable test stream: paced (:mod:`._pacing`), batched with
sendmmsg where the platform has it, each datagram carrying its header
(:mod:`._streamheader`) written in place.

The send time in each header is read once per batch (the datagrams of one
sendmmsg call leave together). A datagram the kernel refuses is counted by
errno and skipped (its sequence number is then missing at the receiver, as it
would be on the wire); a full send queue waits until it drains.
"""

from __future__ import annotations

import collections
import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from ipv6 import Result
from ipv6 import batch as mmsg
from ipv6.sockopts import HOST, sockaddr

from .._datagram import as_address
from ._pacing import Schedule
from ._sender import Sender
from ._streamheader import HEADER_SEQNO64B, IPERF2, MAGIC, TOOLKIT, VERSION

BATCH = 64


@dataclass
class SendReport(Result):
    """What a stream sender did."""

    sent: int
    seconds: float
    rate_pps: float  # achieved
    bitrate_bps: float  # achieved, payload bits as iperf2 counts them
    target_pps: float | None  # asked for; None: unpaced
    shortfall_percent: float | None  # how far below the target, when it was below
    errors: dict[str, int] = field(default_factory=dict)  # datagrams refused, by errno


async def send_stream(
    sender: Sender,
    group: str,
    port: int,
    *,
    size: int,
    count: int | None = None,
    duration: float | None = None,
    rate: float = 0.0,
    burst: int = 1,
    format: str = "toolkit",
    stream: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Send until ``count`` datagrams or ``duration`` seconds (one of them, or both:
    whichever comes first), ``rate`` a second (0: as fast as the host allows)."""
    address = as_address(group)
    scope = sender.interface.index if (address.version == 6 and sender.interface) else 0
    name = sockaddr(HOST, address, port, scope)[: 16 if address.version == 4 else 28]
    writer = _writer(format, stream, size)
    errors: collections.Counter[str] = collections.Counter()
    begin = trio.current_time()
    schedule = Schedule(rate, burst, start=begin)
    deadline = begin + duration if duration is not None else None
    sent = 0
    batcher = mmsg.StreamSender(BATCH, size, name) if mmsg.sendmmsg_available() else None
    sock = sender.sock
    fd = sock.fileno()
    while count is None or sent < count:
        now = trio.current_time()
        if deadline is not None and now >= deadline:
            break
        due = schedule.due(now, count)
        if due <= sent:
            wake = schedule.next_time(sent)
            await trio.sleep_until(wake if deadline is None else min(wake, deadline))
            continue
        n = min(due - sent, BATCH)
        if batcher is not None:
            stamp = time.time_ns()
            buffer = batcher.buffer
            for i in range(n):
                writer(buffer, i * size, sent + i, stamp)
            try:
                took = batcher.send(fd, 0, n)
            except OSError as exc:
                errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
                sent += 1  # that datagram is skipped: a gap at the receiver
                continue
        else:
            target = _target(address, port, scope)
            took = await _send_one(sock, writer, size, sent, target=target, errors=errors)
        if took == 0:
            await sock.wait_writable()
            continue
        sent += took
        if progress is not None:
            progress(sent)
        await trio.lowlevel.checkpoint()  # signals and cancellation, once a batch
    if format == "iperf2" and sent:  # its FIN: the negative of the count, as iperf2 sends it
        fin = bytearray(size)
        writer(fin, 0, -sent, time.time_ns())
        try:
            await sock.sendto(bytes(fin), _target(address, port, scope))
        except OSError as exc:
            errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
    seconds = max(trio.current_time() - begin, 1e-9)
    achieved = sent / seconds
    shortfall = None
    if rate > 0 and achieved < rate:
        shortfall = round(100 * (rate - achieved) / rate, 3)
    return SendReport(
        sent=sent,
        seconds=round(seconds, 6),
        rate_pps=round(achieved, 3),
        bitrate_bps=round(achieved * size * 8, 3),
        target_pps=rate if rate > 0 else None,
        shortfall_percent=shortfall,
        errors=dict(sorted(errors.items())),
    )


Writer = Callable[[bytearray | memoryview, int, int, int], None]


def _writer(format: str, stream: int, size: int) -> Writer:
    """Writes one datagram's header at an offset: (buffer, offset, sequence, time_ns)."""
    if format == "iperf2":

        def iperf2(buffer: bytearray | memoryview, offset: int, sequence: int, now: int) -> None:
            wire = sequence & 0xFFFFFFFFFFFFFFFF
            seconds, nanoseconds = divmod(now, 1_000_000_000)
            IPERF2.pack_into(
                buffer,
                offset,
                wire & 0xFFFFFFFF,
                seconds & 0xFFFFFFFF,
                nanoseconds // 1000,
                wire >> 32,
                HEADER_SEQNO64B,
            )

        return iperf2

    def toolkit(buffer: bytearray | memoryview, offset: int, sequence: int, now: int) -> None:
        TOOLKIT.pack_into(buffer, offset, MAGIC, VERSION, 0, 0, stream, sequence, now, size)

    return toolkit


def _target(address: object, port: int, scope: int) -> tuple[str, int] | tuple[str, int, int, int]:
    text = str(address)
    return (text, port) if ":" not in text else (text, port, 0, scope)


async def _send_one(
    sock: trio.socket.SocketType,
    writer: Writer,
    size: int,
    sequence: int,
    *,
    target: tuple[str, int] | tuple[str, int, int, int],
    errors: collections.Counter[str],
) -> int:
    """Without sendmmsg: one datagram, one system call (Trio waits if the queue is full)."""
    payload = bytearray(size)
    writer(payload, 0, sequence, time.time_ns())
    try:
        await sock.sendto(bytes(payload), target)
    except OSError as exc:
        errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
    return 1
