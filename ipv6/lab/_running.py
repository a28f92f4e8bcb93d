"""A lab for Trio code: bring it up, work inside its hosts, always take it down.

``open_lab`` is an async context manager. Building and removing run in a
worker thread (pyroute2 is synchronous); removal is shielded from
cancellation, so a cancelled or failing body still leaves nothing behind.
"""

from __future__ import annotations

import socket as stdlib_socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

from .._errors import BadInput
from . import _lab, _netns
from ._config import LabConfig
from ._shipped import load_config
from ._state import LabRecord

T = TypeVar("T")


class LabHost:
    """One host of a running lab: sockets, commands and code inside it."""

    def __init__(self, lab: RunningLab, name: str, namespace: str) -> None:
        self.lab = lab
        self.name = name
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"<LabHost {self.lab.name}:{self.name} ({self.namespace})>"

    def socket(
        self,
        family: int = stdlib_socket.AF_INET,
        type: int = stdlib_socket.SOCK_DGRAM,
        proto: int = 0,
    ) -> trio.socket.SocketType:
        """A Trio socket that lives in this host's network namespace."""
        with _netns.inside_namespace(self.namespace):
            return trio.socket.socket(family, type, proto)

    def inside(self) -> AbstractContextManager[None]:
        """``with host.inside():`` this thread is in the host until the block ends.

        For synchronous calls only: sockets, interface lookups and /proc reads
        made in the block belong to the host. Do not await inside the block;
        other tasks would run in the host too.
        """
        return _netns.inside_namespace(self.namespace)

    def argv(self, command: Sequence[str]) -> list[str]:
        """The command line that runs ``command`` in this host, for any spawner."""
        return _lab.exec_argv(self.lab.record, self.name, list(command))

    async def run(
        self, command: Sequence[str], *, check: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command in this host and wait for it (output captured by default)."""
        kwargs.setdefault("capture_stdout", True)
        kwargs.setdefault("capture_stderr", True)
        return await trio.run_process(self.argv(command), check=check, **kwargs)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call a blocking function with this thread inside the host."""
        with _netns.inside_namespace(self.namespace):
            return fn(*args)

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking function in a worker thread that is inside the host."""
        return await trio.to_thread.run_sync(self.call, fn, *args)

    async def run_trio(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a Trio coroutine function in its own event loop inside the host.

        Everything the coroutine opens (sockets, connections) is made in the
        host's namespace. It runs in a thread; cancel it with its own timeouts.
        """

        def in_host() -> T:
            with _netns.inside_namespace(self.namespace):
                return trio.run(async_fn, *args)

        return await trio.to_thread.run_sync(in_host)


class RunningLab:
    """A lab that is up: its record and its hosts."""

    def __init__(self, record: LabRecord) -> None:
        self.record = record
        self.name = record.name
        self.hosts = {h: LabHost(self, h, ns) for h, ns in record.hosts.items()}

    def host(self, name: str) -> LabHost:
        self.record.namespace_of(name)  # raises a clear error for unknown hosts
        return self.hosts[name]

    def __getitem__(self, name: str) -> LabHost:
        return self.host(name)

    async def describe(self) -> _lab.LabView:
        return await trio.to_thread.run_sync(_lab.describe, self.record)


@asynccontextmanager
async def open_lab(
    config: LabConfig | str | Path,
    *,
    name: str | None = None,
    progress: _lab.Progress | None = None,
) -> AsyncIterator[RunningLab]:
    """Bring a lab up for the body and take it down after, whatever happens."""
    if not isinstance(config, LabConfig):
        config = load_config(config, name=name)
    elif name is not None and name != config.name:
        raise BadInput("give the name in the LabConfig or as name=, not both")
    record = await trio.to_thread.run_sync(lambda: _lab.up(config, progress=progress))
    try:
        yield RunningLab(record)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_lab.down, record.name)
