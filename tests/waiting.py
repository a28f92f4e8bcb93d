"""The one way a test waits: for the state it needs, with a deadline that says
what was awaited. A fixed sleep stays only where time itself is under test,
with a comment saying so."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import trio

T = TypeVar("T")
DEADLINE = 30.0  # seconds: a loaded CI machine is slow, never this slow


@overload
async def wait_until(
    check: Callable[[], Awaitable[T | None]], what: str, *, timeout: float = ..., every: float = ...
) -> T: ...
@overload
async def wait_until(
    check: Callable[[], T | None], what: str, *, timeout: float = ..., every: float = ...
) -> T: ...
async def wait_until(
    check: Callable[[], Any], what: str, *, timeout: float = DEADLINE, every: float = 0.05
) -> Any:
    """Call ``check`` (plain or async) until it returns something true; that value.
    After ``timeout`` seconds, fail naming ``what`` was awaited."""
    with trio.move_on_after(timeout):
        while True:
            found = check()
            if inspect.isawaitable(found):
                found = await found
            if found:
                return found
            await trio.sleep(every)
    raise AssertionError(f"waited {timeout:g} s for {what}, in vain")


async def stderr_says(stream: trio.abc.ReceiveStream, marker: bytes, what: str) -> bytes:
    """Read ``stream`` (a process's stderr) until ``marker`` appears; what was read."""
    said = b""
    with trio.move_on_after(DEADLINE):
        while marker not in said:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise AssertionError(f"{what} ended before it said {marker!r}: {said!r}")
            said += chunk
        return said
    raise AssertionError(f"waited {DEADLINE:g} s for {what} to say {marker!r}: {said!r}")


async def bound(host: object, port: int, protocol: str = "udp", sockets: int = 1) -> None:
    """Until ``sockets`` sockets of ``protocol`` (udp, tcp: listening) in lab ``host``
    are bound to ``port``: a server started there takes its first request."""
    flag = "-lun" if protocol == "udp" else "-ltn"

    async def there() -> bool:
        shown = await host.run(["ss", "-H", flag, f"sport = :{port}"])  # type: ignore[attr-defined]
        return len(shown.stdout.strip().splitlines()) >= sockets

    await wait_until(there, f"{sockets} {protocol} sockets on port {port}")
