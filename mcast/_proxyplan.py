"""The IGMP/MLD proxy's decisions (RFC 4605), as data: what to subscribe to
upstream, and where to forward a source's datagrams downstream.

Rules of this module:
- Pure: the router part's state of each downstream interface (its
  :class:`~mcast._routertable.GroupState` per group, as the querier keeps it)
  goes in; filters and interface sets come out.
- A downstream interface's membership of a group becomes a subscription
  (RFC 4605 section 4.1): INCLUDE(A) subscribes to A; EXCLUDE(X, Y) to
  everything but Y, the sources every member there excluded.
- The upstream subscription merges every downstream interface's with RFC
  3376's rules for one interface's sockets (section 3.2): any EXCLUDE makes
  it EXCLUDE of the sources all EXCLUDEs share, less those an INCLUDE asks
  for; else INCLUDE of them all (:func:`mcast._hostmodel.interface_state`).
- A datagram from S to G goes down an interface whose subscription accepts
  S (section 4.2), never back where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._hostmodel import interface_state
from ._membership import Filter, Mode
from ._routertable import EXCLUDE, GroupState, IPAddress

Tables = Mapping[str, Mapping[IPAddress, GroupState]]  # interface -> group -> router-part state


def subscription(state: GroupState) -> Filter:
    """What one downstream interface's members want of a group."""
    if state.mode == EXCLUDE:
        return Filter(Mode.EXCLUDE, state.excluded())
    return Filter(Mode.INCLUDE, state.requested())


def upstream(tables: Tables) -> dict[IPAddress, Filter]:
    """Every group any downstream interface has members of, and the filter to
    subscribe with upstream (no entry: leave it)."""
    wanted: dict[IPAddress, list[Filter]] = {}
    for groups in tables.values():
        for group, state in groups.items():
            wanted.setdefault(group, []).append(subscription(state))
    merged = {group: interface_state(filters) for group, filters in wanted.items()}
    return {g: f for g, f in merged.items() if f.mode is Mode.EXCLUDE or f.sources}


def forward_to(tables: Tables, group: IPAddress, source: IPAddress, arrived_on: str) -> set[str]:
    """The downstream interfaces a datagram from ``source`` to ``group`` goes out of."""
    return {
        interface
        for interface, groups in tables.items()
        if interface != arrived_on
        and group in groups
        and subscription(groups[group]).accepts(source)
    }
