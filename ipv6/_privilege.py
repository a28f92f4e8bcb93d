"""Whether this process may do what it is about to: one check, before anything changes.

A user without the capabilities a change needs gets one line naming what is
missing (:class:`NeedsPrivilege`, exit 4), and nothing is made.
"""

from __future__ import annotations

from ._capabilities import LAB_NEEDS, effective_capabilities, missing_capabilities
from ._errors import NeedsPrivilege

NETSH_NEEDS = ("CAP_NET_ADMIN",)
TUNNEL_NEEDS = ("CAP_NET_ADMIN", "CAP_NET_RAW")


def missing_privileges(needed: tuple[str, ...] = LAB_NEEDS) -> list[str]:
    """The capabilities in ``needed`` this process lacks (all of them if unreadable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            mask = effective_capabilities(status.read())
    except OSError:
        mask = 0
    return missing_capabilities(mask, needed)


def require_capabilities(action: str, needed: tuple[str, ...] = LAB_NEEDS) -> None:
    """Raise :class:`NeedsPrivilege` naming what ``action`` lacks, if anything."""
    missing = missing_privileges(needed)
    if missing:
        raise NeedsPrivilege(action, missing)
