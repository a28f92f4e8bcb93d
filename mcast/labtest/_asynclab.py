"""The Trio face of a test's lab: :class:`AsyncLab` and :class:`AsyncHost`, the
same calls as :class:`Lab` and :class:`Host` awaited (the work runs in a worker
thread, or as a Trio process), for tests run by pytest-trio."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ipv6 import LabError

from ._support import READY
from ._testlab import Host, Lab, _with_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mcast import PingReport

    from ._pieces import Nat64Gateway, StreamResult, Tunnel

T = TypeVar("T")


class AsyncHost:
    """One host of a test's lab, for Trio tests: the same calls, awaited."""

    def __init__(self, host: Host) -> None:
        self.sync = host
        self.name, self.namespace, self.addresses = host.name, host.namespace, host.addresses

    def __repr__(self) -> str:
        return f"<AsyncHost {self.sync.lab.name}:{self.name}>"

    def address(self, family: int = 4, interface: str | None = None) -> str:
        """As :meth:`Host.address`."""
        return self.sync.address(family, interface)

    def argv(self, command: Sequence[str]) -> list[str]:
        """As :meth:`Host.argv`."""
        return self.sync.argv(command)

    async def run(self, command: Sequence[str], **options: Any) -> subprocess.CompletedProcess[Any]:
        """As :meth:`Host.run`, in a worker thread."""
        import trio

        return await trio.to_thread.run_sync(lambda: self.sync.run(command, **options))

    async def spawn(self, command: Sequence[str], *, env: dict[str, str] | None = None) -> Any:
        """A Trio process in this host, stopped with the lab."""
        import trio

        process = await trio.lowlevel.open_process(
            self.argv(_with_env(command, env)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.sync.lab.processes.append(_TrioProcessHandle(process))  # type: ignore[arg-type]
        return process

    def socket(
        self, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM, proto: int = 0
    ) -> Any:
        """A Trio socket that lives in this host's network namespace."""
        import trio

        with self.sync.inside():
            return trio.socket.socket(family, type, proto)

    def resolver(self, nameserver: str, search: Sequence[str] = ()) -> None:
        """As :meth:`Host.resolver` (it writes a file: no need to await)."""
        self.sync.resolver(nameserver, search)

    def joined(self, group: str, interface: str | None = None) -> bool:
        """As :meth:`Host.joined` (it reads a table: no need to await)."""
        return self.sync.joined(group, interface)

    def listening(self, port: int, protocol: str = "tcp", family: int | None = None) -> bool:
        """As :meth:`Host.listening` (it reads a table: no need to await)."""
        return self.sync.listening(port, protocol, family)

    async def wait_listening(
        self, port: int, protocol: str = "tcp", timeout: float = READY
    ) -> None:
        """As :meth:`Host.wait_listening`, awaited."""
        import trio

        with trio.move_on_after(timeout):
            while not self.sync.listening(port, protocol):
                await trio.sleep(0.05)
            return
        raise LabError(f"waited {timeout:g} s for {self.name} to listen on {protocol} port {port}")

    def inside(self) -> contextlib.AbstractContextManager[None]:
        """As :meth:`Host.inside` (this thread: Trio's own, so keep the block short)."""
        return self.sync.inside()

    async def toolkit(self, *words: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """As :meth:`Host.toolkit`, in a worker thread."""
        import trio

        return await trio.to_thread.run_sync(lambda: self.sync.toolkit(*words, check=check))


class _TrioProcessHandle:
    """A Trio process as the lab's teardown stops it (from outside the Trio loop)."""

    def __init__(self, process: Any) -> None:
        self.process = process

    def poll(self) -> int | None:
        return self.process.returncode  # type: ignore[no-any-return]

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(self.process.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                pid, status = os.waitpid(self.process.pid, os.WNOHANG)
            except ChildProcessError:
                return 0
            if pid:
                return os.waitstatus_to_exitcode(status)
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("process", timeout or 0)
            time.sleep(0.02)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class AsyncLab:
    """A test's lab, for Trio tests: the same calls as :class:`Lab`, awaited."""

    def __init__(self, lab: Lab) -> None:
        self.sync = lab
        self.name, self.record, self.config = lab.name, lab.record, lab.config
        self.hosts = {name: AsyncHost(host) for name, host in lab.hosts.items()}

    def __repr__(self) -> str:
        return f"<AsyncLab {self.name} hosts {', '.join(self.hosts)}>"

    def host(self, name: str) -> AsyncHost:
        """As :meth:`Lab.host`."""
        self.sync.host(name)
        return self.hosts[name]

    def __getitem__(self, name: str) -> AsyncHost:
        return self.host(name)

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **options: Any) -> T:
        import trio

        return await trio.to_thread.run_sync(lambda: fn(*args, **options))

    async def nat64(self, gateway: str = "gw", **options: Any) -> Nat64Gateway:
        """As :meth:`Lab.nat64`."""
        return await self._in_thread(self.sync.nat64, gateway, **options)

    async def tunnel(self, a: str, b: str, **options: Any) -> Tunnel:
        """As :meth:`Lab.tunnel`."""
        return await self._in_thread(self.sync.tunnel, a, b, **options)

    async def stream(self, sender: str, receiver: str, **options: Any) -> StreamResult:
        """As :meth:`Lab.stream`."""
        return await self._in_thread(self.sync.stream, sender, receiver, **options)

    async def mping(self, client: str, responder: str, **options: Any) -> PingReport:
        """As :meth:`Lab.mping`."""
        return await self._in_thread(self.sync.mping, client, responder, **options)

    async def assert_reaches(self, host: str, address: str, port: int, **options: Any) -> None:
        """As :meth:`Lab.assert_reaches`."""
        await self._in_thread(self.sync.assert_reaches, host, address, port, **options)
