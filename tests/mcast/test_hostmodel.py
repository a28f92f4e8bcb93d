"""The host model: interface-state merge, state-change records, query answers."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from mcast.membership._hostmodel import (
    NOT_MEMBER,
    Record,
    answer_query,
    compat_change,
    interface_state,
    state_change,
)
from mcast.membership._membership import Filter, Mode
from mcast.wire._igmp import IgmpV2Leave, IgmpV2Report
from mcast.wire._mld import MldV1Done, MldV1Report
from mcast.wire._wirecommon import RecordType

G = ipaddress.IPv4Address("232.1.1.1")
A, B, C = (ipaddress.ip_address(f"10.0.0.{i}") for i in (1, 2, 3))


def inc(*s: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Filter:
    return Filter(Mode.INCLUDE, frozenset(s))


def exc(*s: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Filter:
    return Filter(Mode.EXCLUDE, frozenset(s))


def test_merge_rules_of_rfc_3376() -> None:
    assert interface_state([inc(A), inc(B)]) == inc(A, B)
    assert interface_state([exc(A, B), exc(B, C)]) == exc(B)
    assert interface_state([exc(A, B), inc(B)]) == exc(A)
    assert interface_state([]) == NOT_MEMBER
    assert interface_state([None, inc()]) == NOT_MEMBER


def test_state_change_table() -> None:
    t = RecordType
    assert state_change(G, None, inc(A)) == [Record(t.ALLOW_NEW_SOURCES, G, frozenset({A}))]
    assert state_change(G, inc(A), None) == [Record(t.BLOCK_OLD_SOURCES, G, frozenset({A}))]
    assert state_change(G, inc(A), inc(B)) == [
        Record(t.ALLOW_NEW_SOURCES, G, frozenset({B})),
        Record(t.BLOCK_OLD_SOURCES, G, frozenset({A})),
    ]
    assert state_change(G, None, exc()) == [Record(t.CHANGE_TO_EXCLUDE, G)]
    assert state_change(G, exc(), None) == [Record(t.CHANGE_TO_INCLUDE, G)]
    assert state_change(G, exc(), exc(A)) == [Record(t.BLOCK_OLD_SOURCES, G, frozenset({A}))]
    assert state_change(G, exc(A), exc()) == [Record(t.ALLOW_NEW_SOURCES, G, frozenset({A}))]
    assert state_change(G, inc(A), exc(B)) == [Record(t.CHANGE_TO_EXCLUDE, G, frozenset({B}))]
    assert state_change(G, exc(A), inc(B)) == [Record(t.CHANGE_TO_INCLUDE, G, frozenset({B}))]
    assert state_change(ipaddress.ip_address("224.0.0.1"), None, exc()) == []
    assert state_change(ipaddress.ip_address("ff02::1"), None, exc()) == []
    assert state_change(ipaddress.ip_address("ff01::5"), None, exc()) == []


def test_query_answers() -> None:
    states = {G: inc(A, B), ipaddress.ip_address("239.1.1.1"): exc(C)}
    general = answer_query(states)
    assert {str(r) for r in general} == {
        "IS_IN(232.1.1.1 {10.0.0.1, 10.0.0.2})",
        "IS_EX(239.1.1.1 {10.0.0.3})",
    }
    assert answer_query(states, G) == [Record(RecordType.MODE_IS_INCLUDE, G, frozenset({A, B}))]
    # group-and-source-specific: INCLUDE(A) answers A*Q, EXCLUDE(A) answers Q-A
    assert answer_query(states, G, [B, C]) == [
        Record(RecordType.MODE_IS_INCLUDE, G, frozenset({B}))
    ]
    g2 = ipaddress.ip_address("239.1.1.1")
    assert answer_query(states, g2, [B, C]) == [
        Record(RecordType.MODE_IS_INCLUDE, g2, frozenset({B}))
    ]
    assert answer_query(states, G, [C]) == []
    assert answer_query(states, ipaddress.ip_address("239.9.9.9")) == []


def test_older_versions_send_only_joins_and_leaves() -> None:
    assert compat_change(G, None, inc(A), 2) == [IgmpV2Report(G)]
    assert compat_change(G, inc(A), inc(A, B), 2) == []
    assert compat_change(G, exc(), None, 2) == [IgmpV2Leave(G)]
    assert compat_change(G, exc(), None, 1) == []
    g6 = ipaddress.IPv6Address("ff3e::1")
    assert compat_change(g6, None, exc(), 1) == [MldV1Report(g6)]
    assert compat_change(g6, exc(), None, 1) == [MldV1Done(g6)]


filters = st.builds(
    Filter, st.sampled_from(list(Mode)), st.frozensets(st.sampled_from([A, B, C]), max_size=3)
)


@given(filters, filters)
def test_records_take_a_router_from_old_to_new(old: Filter, new: Filter) -> None:
    """Applying the records to what the router knew gives what the host now has."""
    known = old
    for record in state_change(G, old, new):
        s = record.sources
        if record.type is RecordType.ALLOW_NEW_SOURCES:
            known = Filter(
                known.mode, known.sources | s if known.mode is Mode.INCLUDE else known.sources - s
            )
        elif record.type is RecordType.BLOCK_OLD_SOURCES:
            known = Filter(
                known.mode, known.sources - s if known.mode is Mode.INCLUDE else known.sources | s
            )
        elif record.type is RecordType.CHANGE_TO_EXCLUDE:
            known = Filter(Mode.EXCLUDE, s)
        else:
            known = Filter(Mode.INCLUDE, s)
    assert known == new


def test_linux_answers_source_queries_on_exclude_groups_with_the_whole_state() -> None:
    g = ipaddress.IPv4Address("239.1.1.1")
    states: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, Filter] = {g: exc(A)}
    rfc = answer_query(states, g, [A, C])
    linux = answer_query(states, g, [A, C], stack="linux")
    assert rfc == [Record(RecordType.MODE_IS_INCLUDE, g, frozenset({C}))]
    assert linux == [Record(RecordType.MODE_IS_EXCLUDE, g, frozenset({A}))]
    # Every queried source excluded: both stay silent.
    assert answer_query(states, g, [A]) == [] == answer_query(states, g, [A], stack="linux")
    # INCLUDE mode: the same answer either way.
    states = {g: inc(A, B)}
    assert answer_query(states, g, [B, C]) == answer_query(states, g, [B, C], stack="linux")
