"""One socket's multicast memberships: filters per (group, interface), and the
rules for changing them, as a pure state machine.

Rules of this module:
- State: for each (group, interface) the socket has joined, a filter: mode
  INCLUDE with the sources it accepts (controlled-source, SSM) or mode
  EXCLUDE with the sources it blocks (any-source, ASM). Not joined means no
  entry; INCLUDE with no source is the same as not joined.
- Change-based calls (join, leave, block, unblock, join source, leave source)
  move between these states by :data:`TRANSITIONS`, a table keyed by the
  kind of state, the call, and whether the call's source is in the list.
  Every refusal in that table is a row of the seeds' "Multicast Socket Option
  Behavior" table (see :mod:`mcast.membership._conflicts`) and raises the error that
  names the rule and the call that does what was meant.
- Final-state calls (``set_filter``) replace the whole filter at once and
  are always allowed; INCLUDE with no source leaves the group.
- Limits (memberships per socket, sources per filter) are checked here too,
  against numbers the caller reads from the kernel.
No I/O: the Trio socket asks this model first and only then the kernel.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from .._errors import (
    AlreadyBlocked,
    AlreadyIncluded,
    AlreadyJoined,
    JoinedAnySource,
    JoinedSourceSpecific,
    LimitReached,
    McastBadInput,
    MembershipError,
    NotBlocked,
    NotIncluded,
    NotJoined,
    SourceBlocked,
    UseBlockInstead,
    UseLeaveSourceInstead,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Mode(Enum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


class Call(Enum):
    """The change-based calls; each names its MCAST_* and IP_* option."""

    JOIN = "join"  # MCAST_JOIN_GROUP / IP_ADD_MEMBERSHIP
    LEAVE = "leave"  # MCAST_LEAVE_GROUP / IP_DROP_MEMBERSHIP
    JOIN_SOURCE = "join_source"  # MCAST_JOIN_SOURCE_GROUP / IP_ADD_SOURCE_MEMBERSHIP
    LEAVE_SOURCE = "leave_source"  # MCAST_LEAVE_SOURCE_GROUP / IP_DROP_SOURCE_MEMBERSHIP
    BLOCK = "block"  # MCAST_BLOCK_SOURCE / IP_BLOCK_SOURCE
    UNBLOCK = "unblock"  # MCAST_UNBLOCK_SOURCE / IP_UNBLOCK_SOURCE

    @property
    def takes_source(self) -> bool:
        return self not in (Call.JOIN, Call.LEAVE)


OPTION_NAMES = {
    Call.JOIN: ("MCAST_JOIN_GROUP", "IP_ADD_MEMBERSHIP"),
    Call.LEAVE: ("MCAST_LEAVE_GROUP", "IP_DROP_MEMBERSHIP"),
    Call.JOIN_SOURCE: ("MCAST_JOIN_SOURCE_GROUP", "IP_ADD_SOURCE_MEMBERSHIP"),
    Call.LEAVE_SOURCE: ("MCAST_LEAVE_SOURCE_GROUP", "IP_DROP_SOURCE_MEMBERSHIP"),
    Call.BLOCK: ("MCAST_BLOCK_SOURCE", "IP_BLOCK_SOURCE"),
    Call.UNBLOCK: ("MCAST_UNBLOCK_SOURCE", "IP_UNBLOCK_SOURCE"),
}


@dataclass(frozen=True)
class GroupKey:
    group: IPAddress
    ifindex: int


@dataclass(frozen=True)
class Filter:
    mode: Mode
    sources: frozenset[IPAddress] = frozenset()

    @property
    def any_source(self) -> bool:
        return self.mode is Mode.EXCLUDE

    def accepts(self, source: IPAddress) -> bool:
        """Whether a datagram from ``source`` passes this filter."""
        inside = source in self.sources
        return inside if self.mode is Mode.INCLUDE else not inside

    def describe(self) -> str:
        listed = ", ".join(str(s) for s in sorted(self.sources, key=_sort_key))
        return f"{self.mode.value} {{{listed}}}"


def _sort_key(address: IPAddress) -> tuple[int, int]:
    return (address.version, int(address))


# --- the transition table ----------------------------------------------------

# The kind of state a (group, interface) is in, as the rules see it.
NONE, ANY_SOURCE, SOURCE_SPECIFIC = "not joined", "any-source", "source-specific"

Outcome = Callable[["_Context"], Filter | None]


@dataclass(frozen=True)
class _Context:
    key: GroupKey
    source: IPAddress | None
    current: Filter | None
    model: Memberships

    @property
    def where(self) -> str:
        """ "group G on interface N", for messages (made only when one is needed)."""
        return self.model.where(self.key)

    @property
    def src(self) -> IPAddress:
        assert self.source is not None
        return self.source


def _refuse(error: type[MembershipError], message: str, hint: str) -> Outcome:
    def refuse(ctx: _Context) -> Filter | None:
        raise error(message.format(ctx=ctx), hint.format(ctx=ctx))

    refuse.__name__ = f"refuse_{error.rule}"
    return refuse


def _join(ctx: _Context) -> Filter | None:
    return Filter(Mode.EXCLUDE)


def _leave(ctx: _Context) -> Filter | None:
    return None


def _join_source(ctx: _Context) -> Filter | None:
    sources = ctx.current.sources if ctx.current else frozenset()
    return Filter(Mode.INCLUDE, sources | {ctx.src})


def _leave_source(ctx: _Context) -> Filter | None:
    assert ctx.current is not None
    rest = ctx.current.sources - {ctx.src}
    return Filter(Mode.INCLUDE, rest) if rest else None  # the last source leaves the group


def _block(ctx: _Context) -> Filter | None:
    assert ctx.current is not None
    return Filter(Mode.EXCLUDE, ctx.current.sources | {ctx.src})


def _unblock(ctx: _Context) -> Filter | None:
    assert ctx.current is not None
    return Filter(Mode.EXCLUDE, ctx.current.sources - {ctx.src})


_NOT_JOINED = _refuse(
    NotJoined,
    "{ctx.where} is not joined",
    "join it first (join for any-source, join_source for a source-specific channel)",
)

# (state kind, call, listed) -> outcome. ``listed``: whether the call's source
# is in the filter's list; for a join, whether the filter lists any source;
# None where the answer does not depend on it.
TRANSITIONS: dict[tuple[str, Call, bool | None], Outcome] = {
    # Not joined: only the two joins work.
    (NONE, Call.JOIN, None): _join,
    (NONE, Call.JOIN_SOURCE, None): _join_source,
    (NONE, Call.LEAVE, None): _NOT_JOINED,
    (NONE, Call.LEAVE_SOURCE, None): _NOT_JOINED,
    (NONE, Call.BLOCK, None): _NOT_JOINED,
    (NONE, Call.UNBLOCK, None): _NOT_JOINED,
    # Any-source (EXCLUDE): sources are blocked and unblocked.
    (ANY_SOURCE, Call.JOIN, False): _refuse(
        AlreadyJoined,
        "{ctx.where} is already joined any-source",
        "join each group once per interface; leave it first to join it again",
    ),
    (ANY_SOURCE, Call.JOIN, True): _refuse(
        SourceBlocked,
        "{ctx.where} is joined any-source with blocked sources",
        "unblock the sources you want instead of joining again",
    ),
    (ANY_SOURCE, Call.JOIN_SOURCE, False): _refuse(
        JoinedAnySource,
        "{ctx.where} is joined any-source, so source {ctx.source} is already accepted",
        "to receive only chosen sources, leave the group and join each source with "
        "join_source, or set the whole filter with set_filter",
    ),
    (ANY_SOURCE, Call.JOIN_SOURCE, True): _refuse(
        SourceBlocked,
        "source {ctx.source} is blocked in any-source mode on {ctx.where}",
        "unblock it instead of adding it",
    ),
    (ANY_SOURCE, Call.LEAVE_SOURCE, None): _refuse(
        UseBlockInstead,
        "{ctx.where} is joined any-source: there is no source {ctx.source} to leave",
        "block the source instead",
    ),
    (ANY_SOURCE, Call.BLOCK, False): _block,
    (ANY_SOURCE, Call.BLOCK, True): _refuse(
        AlreadyBlocked,
        "source {ctx.source} is already blocked on {ctx.where}",
        "block each source once",
    ),
    (ANY_SOURCE, Call.UNBLOCK, True): _unblock,
    (ANY_SOURCE, Call.UNBLOCK, False): _refuse(
        NotBlocked,
        "source {ctx.source} is not blocked on {ctx.where}",
        "unblock only a source you blocked",
    ),
    (ANY_SOURCE, Call.LEAVE, None): _leave,
    # Source-specific (INCLUDE): sources are joined and left.
    (SOURCE_SPECIFIC, Call.JOIN, None): _refuse(
        JoinedSourceSpecific,
        "{ctx.where} is joined source-specific",
        "to receive every source, leave the group and join it any-source, or set the "
        "whole filter with set_filter",
    ),
    (SOURCE_SPECIFIC, Call.JOIN_SOURCE, False): _join_source,
    (SOURCE_SPECIFIC, Call.JOIN_SOURCE, True): _refuse(
        AlreadyIncluded,
        "source {ctx.source} is already joined on {ctx.where}",
        "join each (source, group) channel once",
    ),
    (SOURCE_SPECIFIC, Call.LEAVE_SOURCE, True): _leave_source,
    (SOURCE_SPECIFIC, Call.LEAVE_SOURCE, False): _refuse(
        NotIncluded,
        "source {ctx.source} is not joined on {ctx.where}",
        "leave only a source you joined",
    ),
    (SOURCE_SPECIFIC, Call.BLOCK, None): _refuse(
        UseLeaveSourceInstead,
        "{ctx.where} is joined source-specific: a source not joined is not received",
        "to stop a joined source, leave it with leave_source",
    ),
    (SOURCE_SPECIFIC, Call.UNBLOCK, None): _refuse(
        NotBlocked,
        "nothing is blocked on {ctx.where}, which is joined source-specific",
        "add a source with join_source",
    ),
    (SOURCE_SPECIFIC, Call.LEAVE, None): _leave,
}


def kind_of(current: Filter | None) -> str:
    if current is None:
        return NONE
    return ANY_SOURCE if current.mode is Mode.EXCLUDE else SOURCE_SPECIFIC


def outcome_for(current: Filter | None, call: Call, source: IPAddress | None) -> Outcome:
    """The table's entry for this call on this state."""
    kind = kind_of(current)
    listed: bool | None = None
    if current is not None:
        listed = source in current.sources if source is not None else bool(current.sources)
    if (kind, call, listed) in TRANSITIONS:
        return TRANSITIONS[(kind, call, listed)]
    return TRANSITIONS[(kind, call, None)]


# --- the model ---------------------------------------------------------------


@dataclass
class Limits:
    """Per-socket limits; None where the kernel has no fixed one."""

    max_memberships: int | None = None  # net.ipv4.igmp_max_memberships (IPv4)
    max_sources: int | None = None  # net.ipv4.igmp_max_msf / net.ipv6.mld_max_msf
    memberships_sysctl: str = "net.ipv4.igmp_max_memberships"
    sources_sysctl: str = "net.ipv4.igmp_max_msf"


@dataclass
class Memberships:
    """The filters of one socket, changed only through its rules."""

    limits: Limits = field(default_factory=Limits)
    filters: dict[GroupKey, Filter] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # ifindex -> name, for messages

    def where(self, key: GroupKey) -> str:
        name = self.names.get(key.ifindex)
        interface = f"{name} (index {key.ifindex})" if name else f"index {key.ifindex}"
        return f"group {key.group} on interface {interface}"

    def filter_of(self, key: GroupKey) -> Filter | None:
        return self.filters.get(key)

    def check(self, call: Call, key: GroupKey, source: IPAddress | None = None) -> Filter | None:
        """The filter ``call`` would leave, or the rule's error; changes nothing."""
        _check_source(call, key, source)
        current = self.filters.get(key)
        ctx = _Context(key, source, current, self)
        after = outcome_for(current, call, source)(ctx)
        self._check_limits(key, current, after)
        return after

    def apply(self, call: Call, key: GroupKey, source: IPAddress | None = None) -> Filter | None:
        """Make the change, or raise the rule's error and change nothing."""
        after = self.check(call, key, source)
        self.commit(key, after)
        return after

    def commit(self, key: GroupKey, after: Filter | None) -> None:
        """Record a filter :meth:`check` returned, once the kernel has taken it."""
        self._store(key, after)

    def set_filter(self, key: GroupKey, mode: Mode, sources: Iterable[IPAddress]) -> Filter | None:
        """Final-state: the whole filter at once (INCLUDE with no source leaves)."""
        sources = frozenset(sources)
        for source in sources:
            _check_source(Call.JOIN_SOURCE, key, source)
        after = None if mode is Mode.INCLUDE and not sources else Filter(mode, sources)
        self._check_limits(key, self.filters.get(key), after)
        self._store(key, after)
        return after

    def _store(self, key: GroupKey, after: Filter | None) -> None:
        if after is None:
            self.filters.pop(key, None)
        else:
            self.filters[key] = after

    def _check_limits(self, key: GroupKey, before: Filter | None, after: Filter | None) -> None:
        limit = self.limits.max_memberships
        joining = before is None and after is not None
        if joining and limit is not None and len(self.filters) >= limit:
            raise LimitReached(
                f"this socket already has {len(self.filters)} memberships, the most "
                f"{self.limits.memberships_sysctl} allows",
                self.limits.memberships_sysctl,
                len(self.filters) + 1,
            )
        most = self.limits.max_sources
        if after is not None and most is not None and len(after.sources) > most:
            raise LimitReached(
                f"{self.where(key)} would have {len(after.sources)} sources in its filter; "
                f"{self.limits.sources_sysctl} allows {most}: set "
                f"{self.limits.sources_sysctl} to at least {len(after.sources)}",
                self.limits.sources_sysctl,
                len(after.sources),
            )

    def __len__(self) -> int:
        return len(self.filters)


def _check_source(call: Call, key: GroupKey, source: IPAddress | None) -> None:
    if call.takes_source and source is None:
        raise McastBadInput(f"{call.value} needs a source")
    if not call.takes_source and source is not None:
        raise McastBadInput(f"{call.value} takes no source")
    if source is not None and source.version != key.group.version:
        raise MembershipError(
            f"source {source} is not of the family of group {key.group}",
            "use an IPv4 source for an IPv4 group and an IPv6 source for an IPv6 group",
        )
