"""An IGMP or MLD querier as a pure state machine (RFC 3376 6, RFC 3810 7).

Rules of this module:
- Sans-IO, as h11 is: the driver feeds it received messages and the time,
  and it answers with :class:`Send` actions (messages to put on the wire)
  and :class:`Event` notes; :meth:`Querier.next_deadline` says when to call
  :meth:`Querier.tick` next. No socket, no clock.
- States: QUERIER or NON_QUERIER. It starts as querier and sends
  [robustness] general queries a quarter query interval apart, then one
  every query interval. A query from a lower address (IPv4 address, or
  IPv6 link-local address) makes it stand down for the Other Querier
  Present Interval; when that passes without such a query it takes over.
- Reports feed the router table (:mod:`mcast.querier._routertable`); the queries the
  table calls for (after leaves, BLOCK and TO_IN records) are sent
  [last member query count] times, a last member query interval apart, by
  the querier only. At most [last member query count] series of one query
  wait at once, and at most :data:`MAX_PENDING` distinct queries: what a
  flood of leaves asks for is bounded, and what was left out is counted.
"""

from __future__ import annotations

import collections
import heapq
import ipaddress
from dataclasses import dataclass, field
from enum import Enum

from ..wire._frames import WireMessage
from ..wire._igmp import IgmpQuery
from ..wire._mld import MldQuery
from ..wire._wirecommon import encode_code8, encode_code16
from ._routertable import RouterTable, SendQuery, Timers, records_of

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALL_HOSTS = ipaddress.IPv4Address("224.0.0.1")
ALL_NODES = ipaddress.IPv6Address("ff02::1")
MAX_PENDING = 1024  # distinct group(-and-source) queries waiting to be sent


class Role(Enum):
    QUERIER = "querier"
    NON_QUERIER = "non-querier"


@dataclass(frozen=True)
class Send:
    """A query to put on the wire, to ``destination``."""

    message: IgmpQuery | MldQuery
    destination: IPAddress


@dataclass(frozen=True)
class Event:
    """Something worth telling the user: an election change, a report, a query."""

    kind: str
    text: str
    detail: dict[str, object] = field(default_factory=dict)


Action = Send | Event


@dataclass
class QuerierConfig:
    address: IPAddress  # this querier's source (IPv4 address, or IPv6 link-local)
    version: int = 3  # IGMP 2 or 3; MLD 1 or 2
    timers: Timers = field(default_factory=Timers)

    @property
    def protocol(self) -> str:
        return "igmp" if self.address.version == 4 else "mld"

    @property
    def other_querier_present_interval(self) -> float:
        t = self.timers
        return t.robustness * t.query_interval + t.query_response_interval / 2


class Querier:
    """The IGMP/MLD querier of one link as a pure machine (RFC 3376 and 3810):
    reports in, queries and group state out; the caller gives the time."""

    def __init__(self, config: QuerierConfig, now: float) -> None:
        self.config = config
        self.table = RouterTable(config.timers)
        self.role = Role.QUERIER
        self.other_querier: IPAddress | None = None
        self._startup_left = config.timers.robustness
        self._next_general = now
        self._other_present_until = 0.0
        self._pending: list[tuple[float, int, SendQuery, int]] = []  # (when, seq, query, left)
        self._queued: collections.Counter[SendQuery] = collections.Counter()  # series waiting
        self._seq = 0
        self.suppressed = 0  # series asked for while [LMQC] of them still wait
        self.dropped_queries = 0  # past MAX_PENDING distinct queries

    # -- what the driver calls --

    def tick(self, now: float) -> list[Action]:
        """Everything due by ``now``: general queries, retransmissions, elections."""
        actions: list[Action] = []
        if self.role is Role.NON_QUERIER and now >= self._other_present_until:
            self.role = Role.QUERIER
            actions.append(
                Event(
                    "election",
                    f"{self.config.address} takes over as querier: "
                    f"{self.other_querier} fell silent",
                )
            )
            self.other_querier = None
            self._next_general = now
        if self.role is Role.QUERIER and now >= self._next_general:
            actions.append(self._general_query())
            t = self.config.timers
            if self._startup_left > 1:
                self._startup_left -= 1
                self._next_general = now + t.query_interval / 4
            else:
                self._startup_left = 0
                self._next_general = now + t.query_interval
        while self._pending and self._pending[0][0] <= now:
            _, _, query, left = heapq.heappop(self._pending)
            if self.role is Role.QUERIER:
                actions.append(self._specific_query(query))
            if left > 1:
                self._schedule(
                    query, now + self.config.timers.last_member_query_interval, left - 1, again=True
                )
            else:  # the series is done
                self._queued[query] -= 1
                if not self._queued[query]:
                    del self._queued[query]
        self.table.expire(now)
        return actions

    def receive(self, wire: WireMessage, now: float) -> list[Action]:
        """Take a message seen on the link (not one this querier sent)."""
        if wire.protocol != self.config.protocol or wire.source == self.config.address:
            return []
        message = wire.message
        if isinstance(message, IgmpQuery | MldQuery):
            return self._heard_query(wire.source, now)
        actions: list[Action] = []
        queries = self.table.observe(wire, now)
        groups = sorted({str(r.group) for r in records_of(wire)})
        detail: dict[str, object] = {"source": str(wire.source), "groups": groups}
        actions.append(Event("report", f"report from {wire.source}", detail))
        for query in queries:
            self._schedule(query, now, self.config.timers.last_member_query_count)
        actions += self.tick(now)
        return actions

    def next_deadline(self) -> float:
        candidates = [
            self._next_general if self.role is Role.QUERIER else self._other_present_until
        ]
        if self._pending:
            candidates.append(self._pending[0][0])
        return min(candidates)

    # -- inside --

    def _heard_query(self, source: IPAddress, now: float) -> list[Action]:
        if source.is_unspecified:
            return []  # a snooping switch's query (RFC 4541 2.1.1): it takes no part in elections
        if int(source) >= int(self.config.address):
            return []  # a querier with a higher address: we stay (or become) the querier
        actions: list[Action] = []
        if self.role is Role.QUERIER or self.other_querier != source:
            actions.append(
                Event(
                    "election", f"{source} has a lower address: {self.config.address} stands down"
                )
            )
        self.role = Role.NON_QUERIER
        self.other_querier = source
        self._other_present_until = now + self.config.other_querier_present_interval
        return actions

    def _schedule(self, query: SendQuery, when: float, left: int, *, again: bool = False) -> None:
        """Queue ``query`` and its retransmissions (a series). At most [last member
        query count] series of one query wait at once, so a flood of leaves for a
        group costs a bounded number of queries, not two for every leave."""
        if not again:
            if self._queued[query] >= self.config.timers.last_member_query_count:
                self.suppressed += 1
                return
            if len(self._queued) >= MAX_PENDING and query not in self._queued:
                self.dropped_queries += 1
                return
            self._queued[query] += 1
        self._seq += 1
        heapq.heappush(self._pending, (when, self._seq, query, left))

    def _general_query(self) -> Send:
        t = self.config.timers
        if self.config.protocol == "igmp":
            destination: IPAddress = ALL_HOSTS
            message: IgmpQuery | MldQuery = self._igmp(int(t.query_response_interval * 10))
        else:
            destination = ALL_NODES
            message = self._mld(int(t.query_response_interval * 1000))
        return Send(message, destination)

    def _specific_query(self, query: SendQuery) -> Send:
        t = self.config.timers
        if self.config.protocol == "igmp":
            assert isinstance(query.group, ipaddress.IPv4Address)
            message: IgmpQuery | MldQuery = self._igmp(
                int(t.last_member_query_interval * 10), query.group, query.sources
            )
        else:
            assert isinstance(query.group, ipaddress.IPv6Address)
            message = self._mld(
                int(t.last_member_query_interval * 1000), query.group, query.sources
            )
        return Send(message, query.group)

    def _igmp(
        self,
        tenths: int,
        group: ipaddress.IPv4Address = ipaddress.IPv4Address(0),  # noqa: B008
        sources: frozenset[IPAddress] = frozenset(),
    ) -> IgmpQuery:
        t = self.config.timers
        if self.config.version == 2:
            return IgmpQuery(2, max(1, min(255, tenths)), group)
        listed = tuple(
            sorted((s for s in sources if isinstance(s, ipaddress.IPv4Address)), key=int)
        )
        return IgmpQuery(
            3,
            encode_code8(tenths),
            group,
            False,
            min(t.robustness, 7),
            encode_code8(int(t.query_interval)),
            listed,
        )

    def _mld(
        self,
        ms: int,
        group: ipaddress.IPv6Address = ipaddress.IPv6Address(0),  # noqa: B008
        sources: frozenset[IPAddress] = frozenset(),
    ) -> MldQuery:
        t = self.config.timers
        if self.config.version == 1:
            return MldQuery(1, min(65535, ms), group)
        listed = tuple(
            sorted((s for s in sources if isinstance(s, ipaddress.IPv6Address)), key=int)
        )
        return MldQuery(
            2,
            encode_code16(ms),
            group,
            False,
            min(t.robustness, 7),
            encode_code8(int(t.query_interval)),
            listed,
        )
