"""Capabilities as the kernel reports them: a pure reading of /proc/PID/status text.

A lab needs CAP_NET_ADMIN (links, addresses, routes) and CAP_SYS_ADMIN
(making and entering namespaces, mounting them under /run/netns); netsh
CAP_NET_ADMIN; tunnels CAP_NET_ADMIN and CAP_NET_RAW. The reading of the
file and the check are :mod:`ipv6._privilege`'s.
"""

from __future__ import annotations

CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21}
LAB_NEEDS = ("CAP_NET_ADMIN", "CAP_SYS_ADMIN")


def effective_capabilities(status_text: str) -> int:
    """The CapEff bit mask from the text of /proc/PID/status (0 if absent)."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split(":", 1)[1].strip(), 16)
    return 0


def missing_capabilities(mask: int, needed: tuple[str, ...] = LAB_NEEDS) -> list[str]:
    """The names in ``needed`` whose bit is not set in ``mask``."""
    return [name for name in needed if not mask >> CAPABILITIES[name] & 1]
