"""The IGMP/MLD proxy's decisions (RFC 4605), as data: what to subscribe to
upstream, and where to forward a source's datagrams downstream.

Rules of this module:
- Pure: the router part's state of each downstream interface (its
  :class:`~mcast.querier._routertable.GroupState` per group, as the querier keeps it)
  goes in; filters and interface sets come out.
- A downstream interface's membership of a group becomes a subscription
  (RFC 4605 section 4.1): INCLUDE(A) subscribes to A; EXCLUDE(X, Y) to
  everything but Y, the sources every member there excluded.
- The upstream subscription merges every downstream interface's with RFC
  3376's rules for one interface's sockets (section 3.2): any EXCLUDE makes
  it EXCLUDE of the sources all EXCLUDEs share, less those an INCLUDE asks
  for; else INCLUDE of them all (:func:`mcast.membership._hostmodel.interface_state`).
- A datagram from S to G goes down an interface whose subscription accepts
  S (section 4.2), never back where it came from; one that arrived on a
  downstream interface also goes up.
- The kernel asks about a datagram it has no entry for (an upcall, decoded
  by :func:`decode_upcall`); each such (S,G) becomes a :class:`Flows` entry
  and a source-specific route. Flows are bounded (a full table makes room
  by forgetting its oldest unwanted flow); one that forwards nowhere
  goes after :data:`NEGATIVE_LIFETIME`, one that stops losing its last
  member goes at once, and one whose kernel packet count stands still
  between two ageing rounds goes too (the kernel asks again if it returns).
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..membership._hostmodel import interface_state
from ..membership._membership import Filter, Mode
from ..querier._routertable import EXCLUDE, GroupState, IPAddress
from ._mroutes import Route

Tables = Mapping[str, Mapping[IPAddress, GroupState]]  # interface -> group -> router-part state


def subscription(state: GroupState) -> Filter:
    """What one downstream interface's members want of a group."""
    if state.mode == EXCLUDE:
        return Filter(Mode.EXCLUDE, state.excluded())
    return Filter(Mode.INCLUDE, state.requested())


def upstream(tables: Tables) -> dict[IPAddress, Filter]:
    """Every routable group any downstream interface has members of, and the
    filter to subscribe with upstream (no entry: leave it)."""
    wanted: dict[IPAddress, list[Filter]] = {}
    for groups in tables.values():
        for group, state in groups.items():
            if routable(group):
                wanted.setdefault(group, []).append(subscription(state))
    merged = {group: interface_state(filters) for group, filters in wanted.items()}
    return {g: f for g, f in merged.items() if f.mode is Mode.EXCLUDE or f.sources}


def upstream_of(tables: Tables, group: IPAddress) -> Filter | None:
    """:func:`upstream` for one group (after a report naming it): None to leave it."""
    if not routable(group):
        return None
    filters = [subscription(groups[group]) for groups in tables.values() if group in groups]
    if not filters:
        return None
    merged = interface_state(filters)
    return merged if merged.mode is Mode.EXCLUDE or merged.sources else None


def forward_to(tables: Tables, group: IPAddress, source: IPAddress, arrived_on: str) -> set[str]:
    """The downstream interfaces a datagram from ``source`` to ``group`` goes out of."""
    return {
        interface
        for interface, groups in tables.items()
        if interface != arrived_on
        and group in groups
        and subscription(groups[group]).accepts(source)
    }


def fingerprint(tables: Tables) -> frozenset[tuple[str, IPAddress, Filter]]:
    """What the downstream tables ask for, without their timers: equal fingerprints
    mean the same subscriptions (a refreshing report changes nothing)."""
    return frozenset(
        (interface, group, subscription(state))
        for interface, groups in tables.items()
        for group, state in groups.items()
    )


def routable(group: IPAddress) -> bool:
    """Whether a group may cross a router: not 224.0.0.0/24, not IPv6 scope 0-2."""
    if isinstance(group, ipaddress.IPv4Address):
        return group not in _LOCAL_V4
    return group.packed[1] & 0x0F > 2


_LOCAL_V4 = ipaddress.IPv4Network("224.0.0.0/24")


def widen(wanted: Filter, max_sources: int) -> Filter:
    """The filter to ask the kernel for: ``wanted``, or any source when it lists
    more sources than a filter may hold (igmp_max_msf, mld_max_msf). Asking for
    more than is wanted is safe: forwarding still follows the subscriptions."""
    if len(wanted.sources) <= max_sources:
        return wanted
    return Filter(Mode.EXCLUDE)


# --- the kernel's upcalls ----------------------------------------------------

NOCACHE, WRONG_INTERFACE, WHOLE_PACKET = 1, 2, 3  # IGMPMSG_* and MRT6MSG_* types


@dataclass(frozen=True)
class Upcall:
    """The kernel's note on a datagram (struct igmpmsg, struct mrt6msg)."""

    kind: int  # NOCACHE, WRONG_INTERFACE, WHOLE_PACKET...
    slot: int  # the interface slot it arrived on
    source: IPAddress
    group: IPAddress


def decode_upcall(family: int, data: bytes) -> Upcall | None:
    """An upcall read from a routing socket; None for the IGMP or ICMPv6 messages
    the same socket also receives. ValueError when it is too short to be either."""
    if family == 4:
        # struct igmpmsg overlays an IP header: im_mbz (the protocol byte) is 0.
        if len(data) < 20:
            raise ValueError(f"{len(data)} bytes: shorter than an IP header")
        if data[9] != 0:
            return None
        slot = data[10] | data[11] << 8  # im_vif, im_vif_hi
        return Upcall(data[8], slot, ipaddress.IPv4Address(data[12:16]),
                      ipaddress.IPv4Address(data[16:20]))  # fmt: skip
    # struct mrt6msg overlays an ICMPv6 header: im6_mbz (the type byte) is 0.
    if not data:
        raise ValueError("an empty message")
    if data[0] != 0:
        return None
    if len(data) < 40:
        raise ValueError(f"{len(data)} bytes: shorter than struct mrt6msg")
    slot = int.from_bytes(data[2:4], sys.byteorder)  # im6_mif, in host order
    return Upcall(data[1], slot, ipaddress.IPv6Address(data[8:24]),
                  ipaddress.IPv6Address(data[24:40]))  # fmt: skip


# --- flows -------------------------------------------------------------------

MAX_FLOWS = 4096  # (S,G) entries the proxy installs, per family together
NEGATIVE_LIFETIME = 30.0  # seconds an entry forwarding nowhere is kept


@dataclass
class Flow:
    inbound: str
    created: float
    forwarded: bool = False  # went out somewhere at the last look
    packets: int = -1  # the kernel's count at the last ageing round


@dataclass
class Flows:
    """The (S,G) flows the kernel asked about, and the routes they need."""

    upstream: str
    downstream: tuple[str, ...]
    limit: int = MAX_FLOWS
    flows: dict[tuple[IPAddress, IPAddress], Flow] = field(default_factory=dict)  # (S, G)
    dropped: dict[str, int] = field(default_factory=dict)
    evicted: int = 0  # unwanted flows forgotten to make room
    evicted_keys: list[tuple[IPAddress, IPAddress]] = field(default_factory=list)
    version: int = 0  # counts every flow added or dropped
    sources: dict[IPAddress, set[IPAddress]] = field(default_factory=dict)  # group -> its flows

    def _drop(self, reason: str) -> str:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return reason

    def upcall(self, source: IPAddress, group: IPAddress, inbound: str, now: float) -> str | None:
        """Note a datagram with no entry; the reason when it is not taken."""
        if not routable(group):
            return self._drop("link-local group")
        if source.is_multicast or source.is_unspecified or source.is_loopback:
            return self._drop("bad source")
        flow = self.flows.get((source, group))
        if flow is not None:
            flow.inbound = inbound  # it moved (or the entry was lost): route it again
            return None
        if len(self.flows) >= self.limit and not self._evict():
            return self._drop("flow table full")
        self.flows[source, group] = Flow(inbound, now)
        self.sources.setdefault(group, set()).add(source)
        self.version += 1
        return None

    def _evict(self) -> bool:
        """Make room by forgetting the oldest flow that forwards nowhere (the kernel
        asks again if it still arrives), so a flood of unwanted flows cannot keep a
        wanted one out. False when every flow is wanted."""
        # The flows are in the order they came (a dict keeps it): the first unwanted
        # one is the oldest, and in a flood of unwanted flows it is found at once.
        key = next((k for k, f in self.flows.items()
                    if not f.forwarded and f.inbound == self.upstream), None)  # fmt: skip
        if key is None:
            return False
        self._forget(key)
        self.evicted += 1
        self.evicted_keys.append(key)
        return True

    def route_of(self, key: tuple[IPAddress, IPAddress], tables: Tables) -> Route:
        """The route one flow needs now (a new flow's, installed at once)."""
        source, group = key
        flow = self.flows[key]
        down = forward_to(tables, group, source, flow.inbound)
        outs = down | ({self.upstream} if flow.inbound != self.upstream else set())
        return Route(str(group), str(source), flow.inbound,
                     tuple(sorted((name, 1) for name in outs)))  # fmt: skip

    def decide(self, key: tuple[IPAddress, IPAddress], tables: Tables, now: float) -> Route | None:
        """The route one flow needs now; None when the flow goes (its last member
        left, or nobody wanted it for NEGATIVE_LIFETIME)."""
        flow = self.flows[key]
        route = self.route_of(key, tables)
        down = {name for name, _ in route.outbound} - {self.upstream}
        if (not down and flow.forwarded and flow.inbound == self.upstream) or (
            not route.outbound and now - flow.created >= NEGATIVE_LIFETIME
        ):
            self._forget(key)
            return None
        flow.forwarded = bool(down)
        return route

    def routes(self, tables: Tables, now: float) -> list[Route]:
        """One (S,G) route per flow, after dropping the flows that should go."""
        decided = (self.decide(key, tables, now) for key in list(self.flows))
        return [route for route in decided if route is not None]

    def of_group(self, group: IPAddress) -> list[tuple[IPAddress, IPAddress]]:
        """The flows of one group (after a report naming it)."""
        return [(source, group) for source in self.sources.get(group, ())]

    def _forget(self, key: tuple[IPAddress, IPAddress]) -> None:
        del self.flows[key]
        sources = self.sources[key[1]]
        sources.discard(key[0])
        if not sources:
            del self.sources[key[1]]
        self.version += 1

    def take_evicted(self) -> list[tuple[IPAddress, IPAddress]]:
        """The flows forgotten to make room since the last call (their entries go)."""
        gone, self.evicted_keys = self.evicted_keys, []
        return gone

    def age(self, packets: Mapping[tuple[str, str], int]) -> int:
        """Drop the flows whose kernel packet count (by (group, source) text)
        has not moved since the last round; how many went."""
        gone = 0
        for key, flow in list(self.flows.items()):
            count = packets.get((str(key[1]), str(key[0])), 0)
            if count == flow.packets:
                self._forget(key)
                gone += 1
            else:
                flow.packets = count
        return gone
