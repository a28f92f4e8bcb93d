"""The toolkit's state files: where they live, and one way to read and to
write them (whole or not at all).

Each network namespace has its own files (netsh's state, the tunnel registry,
the tunnel service's counters, the 6to4 settings, the daemons' logs), named
after the namespace's inode in one directory ($NETSH_STATE_DIR, by default
/var/lib/mcast-ipv6-toolkit/netsh): what the toolkit keeps for one namespace
never leaks into another.

An inode outlives its namespace: the kernel gives a deleted namespace's
number to the next one made. So the files of an inode belong to one
namespace's life, told by its identity (the boot and the namespace's cookie,
which the kernel never gives twice in a boot), kept in the inode's owner
file. The first use of the files in a namespace that is not their owner
removes them all (:func:`namespace_file`): a new namespace starts with none,
and nothing adopts what another namespace left. ``ipv6 lab down`` removes a
host's files before its namespace goes (:func:`forget_namespace`).

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


SO_NETNS_COOKIE = 71  # Linux 5.14: the namespace's 64-bit cookie, unique in a boot


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))


def namespace_file(kind: str = "", suffix: str = "") -> Path:
    """This network namespace's file of ``kind`` (``KIND-netns-INODE.SUFFIX``;
    netsh's own has no kind: ``netns-INODE.json``). Files an earlier namespace
    with the same inode left are removed first."""
    directory = state_dir()
    inode = os.stat("/proc/thread-self/ns/net").st_ino
    _claim(directory, inode)
    return directory / f"{kind + '-' if kind else ''}netns-{inode}{suffix}"


def namespace_identity() -> str:
    """What tells this network namespace from any other of this boot, its inode's
    earlier and later holders included: the boot's id and the namespace's cookie
    (the inode alone where the kernel has no cookies, before Linux 5.14)."""
    import socket
    import struct

    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
    except OSError:
        boot = "unknown-boot"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            cookie = str(struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE,
                                                             8))[0])  # fmt: skip
        except OSError:
            cookie = f"inode {os.stat('/proc/thread-self/ns/net').st_ino}"
    return f"{boot} {cookie}"


def _files_of(directory: Path, inode: int) -> list[Path]:
    """Every file of namespace ``inode`` in ``directory`` (its owner file too)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    mark = f"netns-{inode}"
    found = []
    for name in names:
        at = name.find(mark)
        if at < 0 or (at and name[at - 1] not in "-."):
            continue
        rest = name[at + len(mark) :]
        if rest == "" or rest[0] in ".-":
            found.append(directory / name)
    return found


def _claim(directory: Path, inode: int) -> None:
    """Make this namespace the owner of ``inode``'s files, removing any other's."""
    owner = directory / f"owner-netns-{inode}.json"
    identity = namespace_identity()
    if _owner_of(owner) == identity:
        return
    import fcntl

    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / f".claim-netns-{inode}", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _owner_of(owner) == identity:
                return
            for path in _files_of(directory, inode):
                if path.name.startswith(".claim-"):
                    continue  # the lock held now
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            owner.write_text(json.dumps({"identity": identity}) + "\n", encoding="utf-8")
    except OSError:
        return  # a read-only state directory: the write that follows says so


def _owner_of(owner: Path) -> str | None:
    try:
        value = json.loads(owner.read_text(encoding="utf-8")).get("identity")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def forget_namespace(inode: int) -> list[Path]:
    """Remove every state file of the namespace with ``inode`` (it is going away)."""
    removed = []
    for path in _files_of(state_dir(), inode):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


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
