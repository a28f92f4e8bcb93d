"""The seeds' "Multicast Socket Option Behavior" table, row by row, as data.

Each row: the calls made first, the conflicting call after them, what
Windows returns (from the seeds), what Linux returns (measured on a real
kernel; ``None`` where Linux accepts the call), the membership error the
model raises, and the seeds' remark. Tests run every row against the model
and against the kernel; :func:`error_for_kernel` turns a kernel refusal back
into the same error the model raises.

Where Linux differs from Windows it is said in ``linux_note``: most often in
the errno, once in substance: Linux accepts IP_ADD_SOURCE_MEMBERSHIP on a
group joined any-source and silently turns the socket's filter into
INCLUDE {source}, so the socket stops hearing every other source. The model
refuses that, as Windows does, so a script behaves the same everywhere.
"""

from __future__ import annotations

import errno as errno_module
from dataclasses import dataclass

from .._errors import (
    AlreadyBlocked,
    AlreadyIncluded,
    AlreadyJoined,
    JoinedAnySource,
    JoinedSourceSpecific,
    KernelRefused,
    LimitReached,
    McastError,
    MembershipError,
    NotBlocked,
    NotJoined,
    SourceBlocked,
    UseBlockInstead,
)
from ._membership import Call, Filter, GroupKey, IPAddress, Memberships

J, L, JS, LS, B, U = (
    Call.JOIN,
    Call.LEAVE,
    Call.JOIN_SOURCE,
    Call.LEAVE_SOURCE,
    Call.BLOCK,
    Call.UNBLOCK,
)


@dataclass(frozen=True)
class Row:
    before: tuple[Call, ...]
    then: Call
    windows: str
    linux: str | None  # errno name, or None when Linux accepts the call
    error: type[MembershipError]
    remark: str
    linux_note: str = ""

    def title(self) -> str:
        first = " then ".join(_ip_name(c) for c in self.before)
        return f"{first} then {_ip_name(self.then)}"


def _ip_name(call: Call) -> str:
    from ._membership import OPTION_NAMES

    return OPTION_NAMES[call][1]


# Every call with a source uses the same source, on the same group and interface.
# The seeds give this one sentence for four rows of their table.
NOT_IN_LIST = (
    "Making socket option calls on a group or group/source pair not currently in the "
    "inclusion list (due to dropping membership, or otherwise) results in an error."
)

ROWS: tuple[Row, ...] = (
    Row((J,), J, "WSAEADDRNOTAVAIL", "EADDRINUSE", AlreadyJoined,
        "Do not call IP_ADD_MEMBERSHIP with the same group more than once on the same "
        "network interface."),
    Row((J,), JS, "WSAEADDRNOTAVAIL", None, JoinedAnySource,
        "Do not call IP_ADD_SOURCE_MEMBERSHIP with the same group previously called with "
        "IP_ADD_MEMBERSHIP on the same network interface.",
        "Linux accepts it and turns the socket's filter into INCLUDE {source}: every other "
        "source is silently dropped."),
    Row((J,), LS, "WSAEINVAL", "EADDRNOTAVAIL", UseBlockInstead,
        "Use IP_BLOCK_SOURCE instead."),
    Row((J,), U, "WSAEINVAL", "EADDRNOTAVAIL", NotBlocked,
        "Returns an error when attempting to unblock a group/source pair that has not "
        "previously been blocked on the same network interface."),
    Row((J, L), L, "WSAEINVAL", "EADDRNOTAVAIL", NotJoined,
        NOT_IN_LIST),
    Row((J, L), B, "WSAEINVAL", "EINVAL", NotJoined,
        NOT_IN_LIST),
    Row((J, L), U, "WSAEINVAL", "EINVAL", NotJoined,
        NOT_IN_LIST),
    Row((J, L), LS, "WSAEINVAL", "EINVAL", NotJoined,
        NOT_IN_LIST),
    Row((JS,), J, "WSAEADDRNOTAVAIL", "EADDRINUSE", JoinedSourceSpecific,
        "Do not call IP_ADD_MEMBERSHIP with the same group previously called with "
        "IP_ADD_SOURCE_MEMBERSHIP on the same network interface."),
    Row((JS,), JS, "WSAEADDRNOTAVAIL", "EADDRNOTAVAIL", AlreadyIncluded,
        "Do not call IP_ADD_SOURCE_MEMBERSHIP with the same group/source pair previously "
        "called with IP_ADD_SOURCE_MEMBERSHIP on the same network interface."),
    Row((JS,), U, "WSAEINVAL", "EINVAL", NotBlocked,
        "Returns an error when attempting to unblock a group/source pair that has not "
        "previously been blocked on the same network interface."),
    Row((JS, LS), U, "WSAEINVAL", "EINVAL", NotJoined,
        "Returns an error when attempting to unblock a group/source pair that has not "
        "previously been blocked on the same network interface.",
        "On Linux dropping the last source leaves the group, so the call meets no "
        "membership at all."),
    Row((JS, LS), LS, "WSAEADDRNOTAVAIL", "EINVAL", NotJoined,
        "Returns an error when attempting to drop a group/source pair that is not in the "
        "inclusion list on the same network interface.",
        "On Linux dropping the last source leaves the group, hence EINVAL (no membership) "
        "rather than EADDRNOTAVAIL."),
    Row((J, B), B, "WSAEADDRNOTAVAIL", "EADDRNOTAVAIL", AlreadyBlocked,
        "Returns an error when attempting to block a group/source pair that is already "
        "blocked on the same network interface."),
    Row((J, B), JS, "WSAEINVAL", "EINVAL", SourceBlocked,
        "Use IP_UNBLOCK_SOURCE instead."),
    Row((J, B), J, "WSAEINVAL", "EADDRINUSE", SourceBlocked,
        "Use IP_UNBLOCK_SOURCE instead."),
    Row((J, B, U), U, "WSAEADDRNOTAVAIL", "EADDRNOTAVAIL", NotBlocked,
        "Returns an error when attempting to unblock a group/source pair that is not in "
        "the blocked list on the same network interface."),
)  # fmt: skip


def error_for_kernel(
    memberships: Memberships,
    call: Call,
    *,
    key: GroupKey,
    source: IPAddress | None,
    code: int,
    option: str,
) -> McastError:
    """The error for a kernel refusal of ``call``, seen from the state before it.

    A refusal the rules explain becomes the rule's error; running out of
    buffers becomes :class:`LimitReached` naming the sysctl; anything else is
    :class:`KernelRefused` with the kernel's words.
    """
    if code == errno_module.ENOBUFS:
        if call in (Call.JOIN, Call.JOIN_SOURCE) and memberships.filter_of(key) is None:
            limits = memberships.limits
            return LimitReached(
                f"the kernel has no room for another membership on this socket ({option}: "
                f"No buffer space available); raise {limits.memberships_sysctl}",
                limits.memberships_sysctl,
                len(memberships) + 1,
            )
        limits = memberships.limits
        current = memberships.filter_of(key)
        needed = (len(current.sources) if current else 0) + 1
        return LimitReached(
            f"the kernel has no room for another source of {memberships.where(key)} "
            f"({option}); set {limits.sources_sysctl} to at least {needed}",
            limits.sources_sysctl,
            needed,
        )
    try:
        memberships.check(call, key, source)
    except MembershipError as rule:
        # The rule's error only when the kernel refused the way that rule's
        # refusal looks on Linux (the table's errno); otherwise it refused for
        # a reason of its own, and says so below.
        name = errno_module.errorcode.get(code, "")
        if any(r.then is call and type(rule) is r.error and r.linux == name for r in ROWS):
            return rule
    return KernelRefused(
        f"{option} on {memberships.where(key)} failed: {errno_module.errorcode.get(code, code)} "
        f"({_strerror(code)})"
    )


def _strerror(code: int) -> str:
    import os

    return os.strerror(code)


def replay(rows_before: tuple[Call, ...], key: GroupKey, source: IPAddress) -> Memberships:
    """A model with ``rows_before`` applied (every call with ``source`` where it takes one)."""
    model = Memberships()
    for call in rows_before:
        model.apply(call, key, source if call.takes_source else None)
    return model


__all__ = ["ROWS", "Filter", "Row", "error_for_kernel", "replay"]
