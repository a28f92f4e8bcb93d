"""Daemons the toolkit starts (the tunnel service, netsh's router advertisers):
how they are started, how they say why they stopped, how others find them.

- :func:`spawn` starts ``python -m MODULE`` in a session of its own with its
  stderr appended to a log, and with the signals a daemon handles *blocked*:
  a SIGHUP or SIGUSR1 sent while the interpreter is still importing (whose
  default action would end it silently) waits until the daemon calls
  :func:`signal_receiver`, once its handlers are in place.
- :func:`run_daemon` wraps a daemon's main: a "started" line, faulthandler
  for crashes, and a "stopped" line with the reason on every way out.
- :func:`why_stopped` is what a command tells the user when a daemon it
  needs is gone: the exit status or signal when it is the daemon's parent,
  and the log's last lines, or, when the log has none, that it left no word.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import trio

HANDLED = (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)
LAST_LINES = 3


def spawn(module: str, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start the daemon ``module``; it outlives the command that started it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        with open(log, "ab") as errors:
            return subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def signal_receiver(*signals: int) -> Iterator[AsyncIterator[int]]:
    """A daemon's ``trio.open_signal_receiver``: the signals it handles, including
    those sent while it started (blocked since :func:`spawn`), which arrive now.

    Requests among them (SIGHUP, SIGUSR1: reload, counters) are ignored outside
    it, never fatal: at its end trio hands back to the handler before it what
    its receiver did not take, and a status request that comes while the daemon
    stops must not end it as killed by SIGUSR1."""
    import trio

    for signum in {signal.SIGHUP, signal.SIGUSR1} & set(signals):
        signal.signal(signum, signal.SIG_IGN)
    with trio.open_signal_receiver(*signals) as received:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        yield received


def alive(pid: object, module: str) -> bool:
    """Whether ``pid`` is still a daemon running ``module`` (not a reused pid, not a zombie).

    Right after exec the kernel has not yet set the new command line, so a
    daemon this process has just spawned is asked through its Popen instead.
    """
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return module.encode() in f.read()
    except OSError:
        return False


def say(name: str, text: str) -> None:
    """One line in the daemon's log (its stderr)."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {name}[{os.getpid()}]: {text}", file=sys.stderr)
    sys.stderr.flush()


def run_daemon(name: str, main: Callable[[], int]) -> int:
    """Run ``main`` and log why it stopped, whatever stopped it short of SIGKILL."""
    import faulthandler

    faulthandler.enable()  # a crash in C leaves its traceback in the log
    say(name, "started")
    status = 1
    try:
        status = main()
    except KeyboardInterrupt:
        say(name, "stopped: interrupted (SIGINT)")
        return 130
    except BaseException as exc:  # a daemon's last words, whatever ended it
        say(name, f"stopped: {reason(exc)}")
        return 1
    say(name, f"stopped (exit status {status})")
    return status


def reason(exc: BaseException) -> str:
    """One line for what ended a daemon, from the first leaf of exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, str) else f"exit status {exc.code}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def exit_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def why_stopped(log: Path, pid: int, process: subprocess.Popen[bytes] | None = None) -> str:
    """Why daemon ``pid`` is gone: its exit (when we are its parent) and its last log lines."""
    parts = []
    if process is not None:
        try:
            returncode = process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            returncode = None
        if returncode is not None:
            parts.append(exit_status(returncode))
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    mark = f"[{pid}]: started"
    starts = [n for n, line in enumerate(lines) if line.endswith(mark)]
    lines = lines[starts[-1] :] if starts else []  # this daemon's lines, not an earlier one's
    words = [line for line in lines if line.strip()][-LAST_LINES:]
    if words and "stopped" in words[-1]:
        parts.append(" | ".join(words))
    elif words:
        parts.append(
            "it left no last words (killed by SIGKILL, or by the OOM killer?); its log ends: "
            + " | ".join(words)
        )
    else:
        parts.append("it wrote nothing to its log (it did not get as far as starting)")
    return "; ".join(parts) + f" (log: {log})"


def ask_status(
    pid: int, read: Callable[[], dict[str, Any]], timeout: float = 1.0
) -> dict[str, Any]:
    """A daemon's status written at our asking: SIGUSR1 to ``pid``, then ``read``
    until its ``written`` count moves (or ``timeout`` passes: the last one then)."""
    before = read().get("written", 0)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if found.get("written", 0) != before:
            return found
        time.sleep(0.01)
    return read()


class Reporting(Protocol):
    """A service that counts: ``changed`` is set when its counters move."""

    changed: trio.Event

    def status(self) -> dict[str, Any]:
        """A snapshot of the counters, taken in the event loop."""

    def save_status(self, data: dict[str, Any]) -> None:
        """Write a snapshot to the status file (blocking: flushed to disk)."""


async def report_changes(service: Reporting, interval: float) -> None:
    """Write ``service``'s status file each time its counters move, at most once
    per ``interval`` seconds (a busy plane does not write for every packet)."""
    import trio

    while True:
        await service.changed.wait()
        service.changed = trio.Event()
        await write_status(service)
        await trio.sleep(interval)


async def write_status(service: Reporting) -> None:
    """The snapshot is taken in the loop, the file written (and fsynced) in a
    worker thread: the packets keep moving while the disk works."""
    import trio

    data = service.status()
    await trio.to_thread.run_sync(service.save_status, data)
