"""Kernel settings under /proc/sys, of the calling thread's network namespace.

Paths are written as under /proc/sys (``net/ipv6/conf/eth0/mtu``). A setting
this kernel does not have reads as the default given; writing one raises
:class:`FileNotFoundError` for the caller to put in its own words.
"""

from __future__ import annotations

PROC_SYS = "/proc/sys"


def read_sysctl(path: str, default: str = "") -> str:
    """The setting's value, stripped; ``default`` if this kernel has no such setting."""
    try:
        with open(f"{PROC_SYS}/{path}", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return default


def read_sysctl_int(path: str) -> int | None:
    """The setting's (first) number; None if there is no such setting, or no number."""
    try:
        return int(read_sysctl(path).split()[0])
    except (ValueError, IndexError):
        return None


def write_sysctl(path: str, value: str) -> None:
    """Write ``value`` to /proc/sys/``path`` (``net/ipv6/conf/eth0/forwarding``), in this
    thread's network namespace."""
    with open(f"{PROC_SYS}/{path}", "w", encoding="ascii") as f:
        f.write(value)
