"""Membership and source filters: the seeds' rules (the model's transitions, the
conflict table), group kinds, what a host sends, and the socket calls that make them.

Modules: ``_conflicts``, ``_groups``, ``_hostmodel``, ``_membercalls``,
``_membership``, ``_slot``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "Memberships": "_membership",
    "Filter": "_membership",
    "Mode": "_membership",
    "Call": "_membership",
    "GroupKey": "_membership",
    "interface_state": "_hostmodel",
    "parse_group": "_groups",
}
__all__ = ["Call", "Filter", "GroupKey", "Memberships", "Mode", "interface_state", "parse_group"]
__getattr__ = loader(__name__, _LAZY)
