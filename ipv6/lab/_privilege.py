"""Which capabilities this process has, read from /proc/self/status.

A lab needs CAP_NET_ADMIN (links, addresses, routes) and CAP_SYS_ADMIN
(making and entering namespaces, mounting them under /run/netns). Checking
before the first step means a user without them gets one line naming what is
missing, and nothing is made.
"""

from __future__ import annotations

from .._errors import NeedsPrivilege

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


def require_capabilities(action: str, needed: tuple[str, ...] = LAB_NEEDS) -> None:
    """Raise :class:`NeedsPrivilege` naming what ``action`` lacks, if anything."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            mask = effective_capabilities(status.read())
    except OSError:
        mask = 0
    missing = missing_capabilities(mask, needed)
    if missing:
        raise NeedsPrivilege(action, missing)
