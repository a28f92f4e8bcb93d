"""Named network namespaces, made and entered from Python without forking.

Python 3.11 has no os.setns or os.unshare, so this speaks to libc through
ctypes. Namespaces are mounted under /run/netns exactly as iproute2 does it,
so ``ip netns list`` and every other tool see them.

Entering is per thread: the kernel keeps the network namespace per task, so
:func:`inside_namespace` switches only the calling thread and always switches back.
A socket or netlink handle opened inside keeps its namespace after that.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import time
from collections.abc import Iterator

NETNS_DIR = "/run/netns"
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, target: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", target)


def path_of(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path_of(name))


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def _share_run_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does, once."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    rundir = NETNS_DIR.encode()
    if _libc.mount(b"", rundir, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    _check(
        _libc.mount(rundir, rundir, b"none", MS_BIND | MS_REC, None), "bind /run/netns", NETNS_DIR
    )
    _check(
        _libc.mount(b"", rundir, b"none", MS_SHARED | MS_REC, None), "share /run/netns", NETNS_DIR
    )


def create(name: str) -> None:
    """Make the namespace ``name`` and mount it at /run/netns/NAME.

    Done in the calling thread: it moves to a new namespace, binds it to the
    file and moves back, so the process never forks.
    """
    _share_run_dir()
    path = path_of(name)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare", name)
            try:
                _check(
                    _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                    "mount",
                    name,
                )
            finally:
                _check(_libc.setns(home, CLONE_NEWNET), "setns back", name)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
    finally:
        os.close(home)


def remove(name: str) -> bool:
    """Unmount and delete the namespace's file; False if it was not there."""
    path = path_of(name)
    if not os.path.exists(path):
        return False
    _libc.umount2(path.encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


@contextlib.contextmanager
def inside_namespace(name: str) -> Iterator[None]:
    """Run the body with this thread inside namespace ``name``."""
    target = os.open(path_of(name), os.O_RDONLY)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.setns(target, CLONE_NEWNET), "setns", name)
        try:
            yield
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back", name)
    finally:
        os.close(target)
        os.close(home)


def open_fd(name: str) -> int:
    """An open file descriptor of the namespace (the caller closes it)."""
    return os.open(path_of(name), os.O_RDONLY)


def processes_in(name: str) -> list[int]:
    """Processes whose network namespace is ``name``."""
    try:
        want = os.stat(path_of(name))
    except FileNotFoundError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino) and int(entry) != os.getpid():
            found.append(int(entry))
    return found


def stop_processes(name: str, grace: float = 2.0) -> list[int]:
    """SIGTERM every process in the namespace, then SIGKILL what is left."""
    pids = processes_in(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and processes_in(name):
        time.sleep(0.05)
    for pid in processes_in(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def exec_in(name: str, argv: list[str]) -> None:
    """Replace this process with ``argv`` running inside namespace ``name``.

    As ``ip netns exec`` does, the command also gets a mount namespace of its
    own with /sys mounted afresh, so tools that read /sys/class/net see the
    lab host's interfaces rather than the machine's, and each file of
    /etc/netns/NAME/ (``resolv.conf``, ``hosts``) bound over its namesake in
    /etc, so a lab host can have its own resolver.
    """
    fd = open_fd(name)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns", name)
    finally:
        os.close(fd)
    if _libc.unshare(CLONE_NEWNS) == 0:
        _libc.mount(b"none", b"/", None, MS_SLAVE | MS_REC, None)
        if _libc.umount2(b"/sys", MNT_DETACH) == 0 or ctypes.get_errno() == errno.EINVAL:
            _libc.mount(name.encode(), b"/sys", b"sysfs", 0, None)
        _bind_etc(name)
    os.execvp(argv[0], argv)


ETC_NETNS = "/etc/netns"


def _bind_etc(name: str) -> None:
    """/etc/netns/NAME/FILE over /etc/FILE, for each FILE there (``ip netns exec``'s
    convention); one that cannot be bound is left as the machine's."""
    try:
        entries = os.listdir(f"{ETC_NETNS}/{name}")
    except OSError:
        return
    for entry in entries:
        source, target = f"{ETC_NETNS}/{name}/{entry}", f"/etc/{entry}"
        if os.path.exists(target):
            _libc.mount(source.encode(), target.encode(), None, MS_BIND, None)
