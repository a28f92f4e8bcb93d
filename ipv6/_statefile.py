"""The toolkit's state files: where they live, and one way to read and to
write them (whole or not at all).

Each network namespace has its own files (netsh's state, the tunnel registry,
the tunnel service's counters, the 6to4 settings, the daemons' logs), named
after the namespace's inode in one directory ($NETSH_STATE_DIR, by default
/var/lib/mcast-ipv6-toolkit/netsh): what the toolkit keeps for one namespace
never leaks into another.

A state file (netsh's per-namespace state, the tunnel registry, the tunnel
service's counters) is written to a temporary file beside it, flushed to
disk, and renamed over the old one, so a reader sees either the old state or
the new one. When the write fails (a read-only or full disk), the temporary
file is removed, the previous state stays as it was, and the caller gets one
:class:`StateWriteFailed` line saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._errors import Ipv6Error

STATE_DIR_ENV = "NETSH_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/mcast-ipv6-toolkit/netsh"


class StateWriteFailed(Ipv6Error):
    """A state file could not be written; the previous one is intact."""


def namespace_file(kind: str = "", suffix: str = "") -> Path:
    """This network namespace's file of ``kind`` (``KIND-netns-INODE.SUFFIX``;
    netsh's own has no kind: ``netns-INODE.json``)."""
    directory = Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))
    inode = os.stat("/proc/thread-self/ns/net").st_ino
    return directory / f"{kind + '-' if kind else ''}netns-{inode}{suffix}"


def read_json(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; empty when there is no such file yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise Ipv6Error(f"{what} file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise Ipv6Error(f"{what} file {path} is unreadable: not a JSON object")
    return data


def write_json(path: Path, data: Any, what: str) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically; ``what`` names it in errors."""
    text = json.dumps(data, indent=1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StateWriteFailed(
            f"cannot save {what} to {path}: {exc.strerror or exc}; the previous state is kept"
        ) from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One change of a state file at a time (read, write, wait for its daemon):
    an exclusive lock on ``path`` with ``.lock`` for a suffix, held until the
    block ends (and let go by the kernel if the process dies)."""
    import fcntl

    lock_path = path.with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
