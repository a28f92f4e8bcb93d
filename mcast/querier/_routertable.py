"""A multicast router's membership table (RFC 3376 6, RFC 3810 7), as a pure
state machine with the RFC timers.

Rules of this module:
- State per group: INCLUDE(A), or EXCLUDE(X, Y) with X the sources someone
  still asks for (timer running) and Y the excluded ones (timer zero).
- Each received record changes the state as RFC 3376's tables 6.4.1 (current
  state) and 6.4.2 (state change) say; the table is :data:`RULES`, keyed by
  mode and record type. The queries the router must then send come back as
  :class:`SendQuery` actions, and lower the timers as 6.6.3 says.
- Older hosts: an IGMPv1/v2 report or MLDv1 report is IS_EX({}), an IGMPv2
  leave or MLDv1 done is TO_IN({}).
- Time is given by the caller (``now`` in seconds): no clock, no I/O, so the
  timers are tested in milliseconds.
"""

from __future__ import annotations

import collections
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ipv6 import Result

from .._errors import McastBadInput
from ..membership._hostmodel import Record
from ..wire._frames import WireMessage
from ..wire._igmp import IgmpV1Report, IgmpV2Leave, IgmpV2Report, IgmpV3Report
from ..wire._mld import MldV1Done, MldV1Report, MldV2Report
from ..wire._wirecommon import RecordType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
INCLUDE, EXCLUDE = "include", "exclude"


@dataclass
class Timers:
    """RFC 3376 8: the numbers the timers come from (seconds)."""

    robustness: int = 2
    query_interval: float = 125.0
    query_response_interval: float = 10.0
    last_member_query_interval: float = 1.0
    last_member_query_count: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.query_response_interval < self.query_interval:
            raise McastBadInput(
                "the query response interval must be more than 0 and less than the query interval"
            )
        if not 1 <= self.robustness <= 7:  # the 3 bits of IGMPv3's and MLDv2's QRV
            raise McastBadInput("the robustness variable must be 1 to 7")

    @property
    def group_membership_interval(self) -> float:
        return self.robustness * self.query_interval + self.query_response_interval

    @property
    def last_member_query_time(self) -> float:
        return self.last_member_query_count * self.last_member_query_interval


@dataclass(frozen=True)
class GroupRow(Result):
    """One group of the table, as ``mcast watch --table`` and the querier show it."""

    group: str
    mode: str  # "include" or "exclude"
    sources: list[str]  # INCLUDE: the sources wanted; EXCLUDE: those excluded
    requested: list[str]  # EXCLUDE: the sources some member still asks for
    last_reporter: str  # "" until a report was heard
    expires_in: float  # seconds until the group (or its last source) times out


@dataclass(frozen=True)
class SendQuery:
    """A group-specific (no sources) or group-and-source-specific query to send."""

    group: IPAddress
    sources: frozenset[IPAddress] = frozenset()


@dataclass
class GroupState:
    mode: str = INCLUDE
    sources: dict[IPAddress, float] = field(default_factory=dict)  # expiry; 0.0 = excluded (Y)
    group_timer: float = 0.0
    last_reporter: str = ""

    def requested(self) -> frozenset[IPAddress]:  # A in INCLUDE, X in EXCLUDE
        return frozenset(s for s, t in self.sources.items() if t > 0)

    def excluded(self) -> frozenset[IPAddress]:  # Y
        return frozenset(s for s, t in self.sources.items() if t == 0)


@dataclass
class _Step:
    """What a rule needs: the state, the record's sources, the timers, the time."""

    state: GroupState
    b: frozenset[IPAddress]
    timers: Timers
    now: float
    group: IPAddress
    actions: list[SendQuery]

    @property
    def gmi(self) -> float:
        return self.now + self.timers.group_membership_interval

    def set(self, sources: Iterable[IPAddress], expiry: float) -> None:
        for s in sources:
            self.state.sources[s] = expiry

    def delete(self, sources: Iterable[IPAddress]) -> None:
        for s in sources:
            self.state.sources.pop(s, None)

    def query(self, sources: Iterable[IPAddress] | None = None) -> None:
        """Send Q(G) or Q(G, S), lowering the timers it asks about (6.6.3)."""
        lowered = self.now + self.timers.last_member_query_time
        if sources is None:
            self.actions.append(SendQuery(self.group))
            self.state.group_timer = min(self.state.group_timer, lowered)
            return
        asked = frozenset(sources)
        if not asked:
            return
        self.actions.append(SendQuery(self.group, asked))
        for s in asked:
            if self.state.sources.get(s, 0) > lowered:
                self.state.sources[s] = lowered


def _include_is_in(st: _Step) -> None:  # INCLUDE(A) + IS_IN(B) or ALLOW(B): INCLUDE(A+B), (B)=GMI
    st.set(st.b, st.gmi)


def _include_is_ex(st: _Step) -> None:  # -> EXCLUDE(A*B, B-A); (B-A)=0; Delete(A-B); GT=GMI
    a = st.state.requested()
    st.state.mode = EXCLUDE
    st.set(st.b - a, 0.0)
    st.delete(a - st.b)
    st.state.group_timer = st.gmi


def _include_block(st: _Step) -> None:  # INCLUDE(A); Send Q(G, A*B)
    st.query(st.state.requested() & st.b)


def _include_to_ex(st: _Step) -> None:  # like IS_EX, then Send Q(G, A*B)
    a = st.state.requested()
    _include_is_ex(st)
    st.query(a & st.b)


def _include_to_in(st: _Step) -> None:  # INCLUDE(A+B); (B)=GMI; Send Q(G, A-B)
    a = st.state.requested()
    st.set(st.b, st.gmi)
    st.query(a - st.b)


def _exclude_is_in(st: _Step) -> None:  # EXCLUDE(X+A, Y-A); (A)=GMI   (also ALLOW)
    st.set(st.b, st.gmi)


def _exclude_is_ex(
    st: _Step,
) -> None:  # EXCLUDE(A-Y, Y*A); (A-X-Y)=GMI; Delete(X-A); Delete(Y-A); GT=GMI
    x, y = st.state.requested(), st.state.excluded()
    st.set(st.b - x - y, st.gmi)
    st.delete((x | y) - st.b)
    st.state.group_timer = st.gmi


def _exclude_block(st: _Step) -> None:  # EXCLUDE(X+(A-Y), Y); (A-X-Y)=Group Timer; Send Q(G, A-Y)
    x, y = st.state.requested(), st.state.excluded()
    st.set(st.b - x - y, st.state.group_timer)
    st.query(st.b - y)


def _exclude_to_ex(
    st: _Step,
) -> None:  # EXCLUDE(A-Y, Y*A); (A-X-Y)=GT; Delete(X-A); Delete(Y-A); Q(G,A-Y); GT=GMI
    x, y = st.state.requested(), st.state.excluded()
    st.set(st.b - x - y, st.state.group_timer)
    st.delete((x | y) - st.b)
    st.query(st.b - y)
    st.state.group_timer = st.gmi


def _exclude_to_in(st: _Step) -> None:  # EXCLUDE(X+A, Y-A); (A)=GMI; Send Q(G, X-A); Send Q(G)
    x = st.state.requested()
    st.set(st.b, st.gmi)
    st.query(x - st.b)
    st.query()


def _earliest(state: GroupState) -> float:
    """When the first of the group's timers runs out (excluded sources have none)."""
    running = [t for t in state.sources.values() if t > 0]
    if state.mode == EXCLUDE:
        running.append(state.group_timer)
    return min(running, default=float("inf"))


Rule = Callable[[_Step], None]
T = RecordType
RULES: dict[tuple[str, RecordType], Rule] = {
    (INCLUDE, T.MODE_IS_INCLUDE): _include_is_in,
    (INCLUDE, T.MODE_IS_EXCLUDE): _include_is_ex,
    (INCLUDE, T.ALLOW_NEW_SOURCES): _include_is_in,
    (INCLUDE, T.BLOCK_OLD_SOURCES): _include_block,
    (INCLUDE, T.CHANGE_TO_EXCLUDE): _include_to_ex,
    (INCLUDE, T.CHANGE_TO_INCLUDE): _include_to_in,
    (EXCLUDE, T.MODE_IS_INCLUDE): _exclude_is_in,
    (EXCLUDE, T.MODE_IS_EXCLUDE): _exclude_is_ex,
    (EXCLUDE, T.ALLOW_NEW_SOURCES): _exclude_is_in,
    (EXCLUDE, T.BLOCK_OLD_SOURCES): _exclude_block,
    (EXCLUDE, T.CHANGE_TO_EXCLUDE): _exclude_to_ex,
    (EXCLUDE, T.CHANGE_TO_INCLUDE): _exclude_to_in,
}


def records_of(wire: WireMessage) -> list[Record]:
    """The records a report stands for, older versions included."""
    m = wire.message
    if isinstance(m, IgmpV3Report | MldV2Report):
        return [Record.of(r) for r in m.records]
    if isinstance(m, IgmpV1Report | IgmpV2Report | MldV1Report):
        return [Record(RecordType.MODE_IS_EXCLUDE, m.group)]
    if isinstance(m, IgmpV2Leave | MldV1Done):
        return [Record(RecordType.CHANGE_TO_INCLUDE, m.group)]
    return []


MAX_GROUPS = 1024  # groups a table keeps; a report for one more is refused and counted
MAX_SOURCES = 256  # sources a group keeps (Linux's hosts default to 10 and 64)


class RouterTable:
    """The memberships a router on this link would keep, within bounds.

    A record that would take the table past :data:`MAX_GROUPS` groups, or a
    group past :data:`MAX_SOURCES` sources, is refused and counted in
    :attr:`refused`, so a flood of reports for made-up groups cannot grow it.
    """

    def __init__(self, timers: Timers | None = None) -> None:
        self.timers = timers or Timers()
        self.groups: dict[IPAddress, GroupState] = {}
        self.refused: collections.Counter[str] = collections.Counter()
        self._next_expiry = float("inf")  # nothing can expire before this

    def observe(self, wire: WireMessage, now: float) -> list[SendQuery]:
        """Take a report (or leave/done) into the table; the queries to send back."""
        actions: list[SendQuery] = []
        for record in records_of(wire):
            actions += self.apply(record, now, reporter=str(wire.source))
        return actions

    def apply(self, record: Record, now: float, reporter: str = "") -> list[SendQuery]:
        self.expire(now)
        state = self.groups.get(record.group)
        if state is None:
            if len(self.groups) >= MAX_GROUPS:
                self.refused["group_limit"] += 1
                return []
            state = GroupState()
        if len(record.sources) > MAX_SOURCES or (
            len(state.sources) + len(record.sources) > MAX_SOURCES
            and len(state.sources.keys() | record.sources) > MAX_SOURCES
        ):
            self.refused["source_limit"] += 1
            return []
        self.groups[record.group] = state
        actions: list[SendQuery] = []
        RULES[(state.mode, record.type)](
            _Step(state, record.sources, self.timers, now, record.group, actions)
        )
        state.last_reporter = reporter or state.last_reporter
        if state.mode == INCLUDE and not state.sources:
            del self.groups[record.group]
        else:
            self._next_expiry = min(self._next_expiry, _earliest(state))
        return actions

    def expire(self, now: float) -> None:
        """Run the timers up to ``now`` (RFC 3376 6.5 and 6.6.1)."""
        if now < self._next_expiry:
            return  # no timer has run out yet: nothing to walk
        self._next_expiry = float("inf")
        for group, state in list(self.groups.items()):
            if state.mode == EXCLUDE and state.group_timer <= now:
                # Group timer ran out: back to INCLUDE with the sources still asked for.
                state.mode = INCLUDE
                state.sources = {s: t for s, t in state.sources.items() if t > now}
            if state.mode == INCLUDE:
                state.sources = {s: t for s, t in state.sources.items() if t > now}
                if not state.sources:
                    del self.groups[group]
                    continue
            self._next_expiry = min(self._next_expiry, _earliest(state))

    def snapshot(self, now: float, groups: Iterable[IPAddress] | None = None) -> list[GroupRow]:
        """The table as rows (for ``mcast watch --table`` and the querier); with
        ``groups``, only the rows of those of them the table holds."""
        self.expire(now)
        rows = []
        chosen = self.groups if groups is None else [g for g in groups if g in self.groups]
        for group in sorted(chosen, key=lambda g: (g.version, int(g))):
            state = self.groups[group]
            if state.mode == EXCLUDE:
                shown, asked = state.excluded(), state.requested()
                expiry = state.group_timer
            else:
                shown, asked = state.requested(), frozenset()
                expiry = max(state.sources.values(), default=now)
            rows.append(
                GroupRow(
                    group=str(group),
                    mode=state.mode,
                    sources=[str(s) for s in sorted(shown, key=int)],
                    requested=[str(s) for s in sorted(asked, key=int)],
                    last_reporter=state.last_reporter,
                    expires_in=round(expiry - now, 3),
                )
            )
        return rows
