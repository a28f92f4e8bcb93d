"""One way to talk to a background service the toolkit starts: the tunnel and
translator plane, ipsec6's userspace plane, the multicast routing daemon,
netsh's router advertisers.

A :class:`Service` names the daemon's module (``python -m MODULE ARGS``,
started by :func:`ipv6._daemon.spawn`), what it is called in messages, and
the files of this network namespace it keeps (:mod:`ipv6._statefile`): the
state a command writes for it, the status it writes back, and its log. Every
service handles the same signals (:func:`ipv6._daemon.signal_receiver`):

- SIGHUP: read the state again (:meth:`Service.start_or_reload` starts the
  service instead when it does not run);
- SIGUSR1: write the status now, with a ``written`` count that moves
  (:meth:`Service.ask_status`);
- SIGTERM: let go of what it holds and stop (:meth:`Service.stop`).

A command then waits for the state it needs (:meth:`Service.wait`), and when
the service is gone it says why (:meth:`Service.why_stopped`: the exit, the
log's last lines), in one line of the caller's error class.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _daemon, _statefile
from ._errors import Ipv6Error

Check = Callable[[dict[str, Any]], "bool | str"]  # the status -> done, not yet, or an error


@dataclass(frozen=True)
class Service:
    """A daemon of this namespace, and its files (``KIND-netns-INODE``: ``.json``,
    ``.status.json``, ``.log``; ``log`` overrides the last, for a daemon of many)."""

    name: str  # "the tunnel service": how messages name it
    module: str  # what ``python -m`` runs
    kind: str  # the files' kind
    args: tuple[str, ...] = ()
    timeout: float = 5.0  # seconds a start, change or stop may take
    error: type[Exception] = Ipv6Error  # what its failures raise
    log: str | None = None  # the log file's kind, when not KIND (an advertiser per interface)

    # -- files --

    def state_path(self) -> Path:
        return _statefile.namespace_file(self.kind, ".json")

    def status_path(self) -> Path:
        return _statefile.namespace_file(self.kind, ".status.json")

    def log_path(self) -> Path:
        return _statefile.namespace_file(self.log or self.kind, ".log")

    def load_status(self) -> dict[str, Any]:
        return _statefile.read_json(self.status_path(), f"{self.name}'s status")

    # -- the process --

    def alive(self, pid: object) -> bool:
        """Whether ``pid`` is this service still (not a reused pid, not a zombie)."""
        return _daemon.alive(pid, self.module)

    def running(self, pid: int, started: subprocess.Popen[bytes] | None = None) -> bool:
        """Whether it runs; the one this process started is asked through its Popen
        (for a moment after exec its command line is not yet readable)."""
        if started is not None and started.pid == pid:
            return started.poll() is None
        return self.alive(pid)

    def start_or_reload(self, pid: object) -> subprocess.Popen[bytes] | None:
        """SIGHUP to the running service, or a new one (returned: its exit can be seen)."""
        if self.alive(pid):
            assert isinstance(pid, int)
            os.kill(pid, signal.SIGHUP)
            return None
        return _daemon.spawn(self.module, self.args, self.log_path())

    def wait(
        self, check: Check, pid: int, started: subprocess.Popen[bytes] | None = None,
        what: str = "take the change", *, needs_running: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """Poll the status until ``check`` says done (True) or failed (a reason: raised);
        raise why when the service stops first (unless what is awaited is that it let
        something go: ``needs_running`` false), or when ``timeout`` passes."""
        deadline = time.monotonic() + self.timeout
        while True:
            status = self.load_status()
            verdict = check(status)
            if isinstance(verdict, str):
                raise self.error(verdict)
            if verdict:
                return status
            if needs_running and not self.running(pid, started):
                raise self.error(
                    f"{self.name} (pid {pid}) stopped: {self.why_stopped(pid, started)}"
                )
            if time.monotonic() >= deadline:
                raise self.error(f"{self.name} did not {what} within {self.timeout:g} s")
            time.sleep(0.02)

    def ask_status(self, pid: int, timeout: float = 1.0) -> dict[str, Any]:
        """The status written at our asking (SIGUSR1; the last one after ``timeout``)."""
        return _daemon.ask_status(pid, self.load_status, timeout)

    def stop(self, pid: object) -> bool:
        """SIGTERM, and wait until it is gone; False when it was not running."""
        if not self.alive(pid):
            return False
        assert isinstance(pid, int)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.timeout
        while self.alive(pid):
            if time.monotonic() >= deadline:
                raise self.error(f"{self.name} (pid {pid}) did not stop within {self.timeout:g} s")
            time.sleep(0.02)
        return True

    def why_stopped(self, pid: int, started: subprocess.Popen[bytes] | None = None) -> str:
        return _daemon.why_stopped(self.log_path(), pid, started)
