"""PGM for scripts: send a file or messages as one session and stay for the
repairs receivers ask for; receive one session's messages, or write them to a
file. Each returns the statistics ``mcast pgm send/recv --json`` print (the
commands are these functions and a line of output).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, cast

import trio

from ipv6 import InterfaceRef

from .._datagram import IPAddress
from .._errors import McastBadInput, McastError
from ._pgmsession import (
    PgmUnrecoverable,
    SenderOptions,
    SenderStatistics,
    SessionStatistics,
    open_pgm_listener,
    open_pgm_sender,
)

CHUNK = 8192  # octets per message (APDU) of a file
LINGER = 30.0  # seconds without a NAK after the data, before the session goes


async def send_messages(
    group: IPAddress, port: int, interface: InterfaceRef,
    messages: Iterable[bytes] | AsyncIterable[bytes], *, options: SenderOptions | None = None,
    linger: float = LINGER, stop: trio.Event | None = None,
    progress: Callable[[int, SenderStatistics], None] | None = None,
    sent: Callable[[SenderStatistics], None] | None = None,
) -> SenderStatistics:  # fmt: skip
    """Send ``messages`` (each one PGM APDU, whole at the receivers) as one session to
    ``group``, data port ``port``, out of ``interface``; then stay for repairs until
    no NAK came for ``linger`` seconds, or ``stop`` is set. ``progress(bytes sent,
    statistics)`` after each message, ``sent(statistics)`` once they all are. The
    source's statistics."""
    async with open_pgm_sender(group, port, interface, options) as sender:
        done = 0

        async def one(message: bytes) -> None:
            nonlocal done
            await sender.send(message)
            done += len(message)
            if progress is not None:
                progress(done, sender.statistics)

        if isinstance(messages, AsyncIterable):
            async for message in messages:
                await one(message)
        else:
            for message in messages:
                await one(message)
        if sent is not None:
            sent(sender.statistics)
        async with trio.open_nursery() as nursery:

            async def lingering() -> None:
                await sender.finish(linger)
                nursery.cancel_scope.cancel()

            async def stopped() -> None:
                if stop is not None:
                    await stop.wait()
                    nursery.cancel_scope.cancel()

            nursery.start_soon(lingering)
            nursery.start_soon(stopped)
        return sender.statistics


async def send_file(
    group: IPAddress, port: int, interface: InterfaceRef, source: str | Path | BinaryIO, *,
    options: SenderOptions | None = None, linger: float = LINGER, stop: trio.Event | None = None,
    progress: Callable[[int, SenderStatistics], None] | None = None,
    sent: Callable[[SenderStatistics], None] | None = None,
) -> SenderStatistics:  # fmt: skip
    """Send a file (a path, or an open binary file: stdin, a pipe) as one session,
    in chunks; as :func:`send_messages`. A file that cannot be read is McastBadInput."""
    with _opened(source, "rb") as reader:

        def chunks() -> Iterable[bytes]:
            while chunk := reader.read(CHUNK):
                yield chunk

        return await send_messages(group, port, interface, chunks(), options=options,
                                   linger=linger, stop=stop, progress=progress,
                                   sent=sent)  # fmt: skip


async def receive_messages(
    group: IPAddress, port: int, interface: InterfaceRef | Sequence[InterfaceRef],
    deliver: Callable[[bytes], Any], *,
    timeout: float | None = None, udp_port: int | None = None, late_join: bool = False,
    expiry: float = 300.0, high_speed: bool = False,
    progress: Callable[[SessionStatistics], None] | None = None,
) -> SessionStatistics:  # fmt: skip
    """Receive the first PGM session to ``group``, data port ``port``, on ``interface``
    (or on each of several, RM_ADD_RECEIVE_IF), waiting ``timeout`` seconds for it
    (None: as long as it takes): each message, in order and whole, to ``deliver``,
    until the source ends the session. Whatever the source's window still holds is
    asked for, so a lost first packet is repaired
    (``late_join``: a session already going may be joined where it is). The
    session's statistics; PgmUnrecoverable (its ``statistics`` attached) when data
    will never arrive, McastError when no session started in time."""
    async with open_pgm_listener(group, port, interface, udp_port=udp_port, late_join=True,
                                 need_syn=not late_join, peer_expiry=expiry,
                                 high_speed=high_speed) as listener:  # fmt: skip
        with trio.move_on_after(math.inf if timeout is None else timeout) as waiting:
            session = await listener.accept()
        if waiting.cancelled_caught:
            raise McastError(f"no PGM session to {group} port {port} started within "
                             f"{timeout:g} s")  # fmt: skip
        try:
            while (message := await session.receive()) is not None:
                deliver(message)
                if progress is not None:
                    progress(session.statistics)
        except PgmUnrecoverable as exc:
            exc.statistics = replace(
                session.statistics, faults=dict(listener.faults), unrecoverable_at=exc.offset
            )
            raise
        return replace(session.statistics, faults=dict(listener.faults))


async def receive_file(
    group: IPAddress, port: int, interface: InterfaceRef | Sequence[InterfaceRef],
    out: str | Path | BinaryIO,
    **options: Any,
) -> SessionStatistics:  # fmt: skip
    """Receive one session (as :func:`receive_messages`) into a file (a path, or an open
    binary file); a file that cannot be written is McastBadInput."""
    with _opened(out, "wb") as writer:
        return await receive_messages(group, port, interface, writer.write, **options)


@contextmanager
def _opened(target: str | Path | BinaryIO, mode: str) -> Iterator[BinaryIO]:
    """A path opened (and closed after), or an open file as it is; McastBadInput
    when the path cannot be opened."""
    if not isinstance(target, (str, Path)):
        yield target
        return
    try:
        file = cast("BinaryIO", open(target, mode))  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise McastBadInput(f"{target}: {exc.strerror or exc}") from None
    with file:
        yield file
