"""What a host says on the wire about its memberships (RFC 3376, RFC 3810).

Rules of this module:
- Pure: per-socket filters in, interface state and messages out.
- Interface state (RFC 3376 3.2, RFC 3810 4.2): EXCLUDE as soon as one
  socket excludes, with the sources every excluding socket excludes and no
  including socket includes; otherwise INCLUDE with the union of the
  included sources; INCLUDE {} is "not a member".
- A state change is reported with the records of RFC 3376 5.1 (the same in
  RFC 3810 6.1), a query answered as in RFC 3376 5.2; both as
  :class:`Record` values, which hold for IGMPv3 and MLDv2 alike.
- In older compatibility modes (IGMPv2/v1 querier present or
  force_igmp_version, MLDv1 or force_mld_version) only joining and leaving
  the group show on the wire: a report when the group goes from "not a
  member" to member, a leave or done (IGMPv2, MLDv1) the other way; source
  changes stay on the host.
- Groups that are never reported: 224.0.0.1 (all hosts), and for MLD ff02::1
  (all nodes) and anything of smaller than link scope.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import reduce

from ..wire._igmp import GroupRecord, IgmpV1Report, IgmpV2Leave, IgmpV2Report
from ..wire._mld import AddressRecord, MldV1Done, MldV1Report
from ..wire._wirecommon import RecordType
from ._membership import Filter, Mode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NOT_MEMBER = Filter(Mode.INCLUDE)
ALL_HOSTS = ipaddress.IPv4Address("224.0.0.1")
ALL_NODES = ipaddress.IPv6Address("ff02::1")


@dataclass(frozen=True)
class Record:
    """A group record of IGMPv3 or an address record of MLDv2, without aux data."""

    type: RecordType
    group: IPAddress
    sources: frozenset[IPAddress] = frozenset()

    def __str__(self) -> str:
        listed = ", ".join(str(s) for s in sorted(self.sources, key=int))
        return f"{self.type.short}({self.group} {{{listed}}})"

    @classmethod
    def of(cls, record: GroupRecord | AddressRecord) -> Record:
        return cls(record.type, record.group, frozenset(record.sources))


def interface_state(filters: Iterable[Filter | None]) -> Filter:
    """The merged filter of one group on one interface, from every socket's."""
    present = [f for f in filters if f is not None and f != NOT_MEMBER]
    excluding = [f.sources for f in present if f.mode is Mode.EXCLUDE]
    including = [f.sources for f in present if f.mode is Mode.INCLUDE]
    included: frozenset[IPAddress] = reduce(frozenset.union, including, frozenset())
    if excluding:
        return Filter(Mode.EXCLUDE, reduce(frozenset.intersection, excluding) - included)
    return Filter(Mode.INCLUDE, included)


def reportable(group: IPAddress) -> bool:
    if isinstance(group, ipaddress.IPv4Address):
        return group != ALL_HOSTS
    scope = group.packed[1] & 0x0F
    return group != ALL_NODES and scope >= 2


def state_change(group: IPAddress, old: Filter | None, new: Filter | None) -> list[Record]:
    """The records a change from ``old`` to ``new`` sends (RFC 3376 5.1)."""
    old, new = old or NOT_MEMBER, new or NOT_MEMBER
    if not reportable(group) or old == new:
        return []
    a, b = old.sources, new.sources
    if old.mode is Mode.INCLUDE and new.mode is Mode.INCLUDE:
        pairs = [(RecordType.ALLOW_NEW_SOURCES, b - a), (RecordType.BLOCK_OLD_SOURCES, a - b)]
        return [Record(kind, group, frozenset(s)) for kind, s in pairs if s]
    if old.mode is Mode.EXCLUDE and new.mode is Mode.EXCLUDE:
        pairs = [(RecordType.ALLOW_NEW_SOURCES, a - b), (RecordType.BLOCK_OLD_SOURCES, b - a)]
        return [Record(kind, group, frozenset(s)) for kind, s in pairs if s]
    if new.mode is Mode.EXCLUDE:
        return [Record(RecordType.CHANGE_TO_EXCLUDE, group, b)]
    return [Record(RecordType.CHANGE_TO_INCLUDE, group, b)]


def current_state(group: IPAddress, state: Filter | None) -> list[Record]:
    state = state or NOT_MEMBER
    if not reportable(group) or state == NOT_MEMBER:
        return []
    kind = RecordType.MODE_IS_INCLUDE if state.mode is Mode.INCLUDE else RecordType.MODE_IS_EXCLUDE
    return [Record(kind, group, state.sources)]


def answer_query(
    states: Mapping[IPAddress, Filter],
    group: IPAddress | None = None,
    sources: Iterable[IPAddress] = (),
    *,
    stack: str = "rfc",
) -> list[Record]:
    """What a host answers a general (``group`` None), group-specific or
    group-and-source-specific query.

    ``stack="rfc"`` answers as RFC 3376 5.2 says. ``stack="linux"`` answers
    as the Linux kernel does (measured, and read in net/ipv4/igmp.c
    igmp_xmarksources and net/ipv6/mcast.c mld_xmarksources): for a group in
    EXCLUDE mode it answers a group-and-source-specific query with the
    group's whole current state, IS_EX(excluded), unless every queried
    source is excluded, where it stays silent; the RFC's answer would be
    IS_IN(queried - excluded).
    """
    if group is None or int(group) == 0:
        return [r for g, state in states.items() for r in current_state(g, state)]
    state = states.get(group)
    asked = frozenset(sources)
    if not asked:
        return current_state(group, state)
    if state is None or state == NOT_MEMBER or not reportable(group):
        return []
    if stack == "linux" and state.mode is Mode.EXCLUDE:
        return [] if asked <= state.sources else current_state(group, state)
    wanted = state.sources & asked if state.mode is Mode.INCLUDE else asked - state.sources
    return [Record(RecordType.MODE_IS_INCLUDE, group, wanted)] if wanted else []


CompatMessage = IgmpV1Report | IgmpV2Report | IgmpV2Leave | MldV1Report | MldV1Done


def compat_change(
    group: IPAddress, old: Filter | None, new: Filter | None, version: int
) -> list[CompatMessage]:
    """What a host in IGMPv1/v2 or MLDv1 mode sends for a change (joins and leaves only)."""
    was, now = (old or NOT_MEMBER) != NOT_MEMBER, (new or NOT_MEMBER) != NOT_MEMBER
    if not reportable(group) or was == now:
        return []
    if isinstance(group, ipaddress.IPv4Address):
        if now:
            return [IgmpV1Report(group) if version == 1 else IgmpV2Report(group)]
        return [] if version == 1 else [IgmpV2Leave(group)]
    return [MldV1Report(group)] if now else [MldV1Done(group)]
