"""The router's membership table: RFC 3376 tables 6.4.1 and 6.4.2, and timers."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcast.membership._hostmodel import Record
from mcast.querier._routertable import EXCLUDE, INCLUDE, RULES, RouterTable, SendQuery, Timers
from mcast.wire._wirecommon import RecordType as T

G = ipaddress.ip_address("232.1.1.1")
A, B, C = (ipaddress.ip_address(f"10.0.0.{i}") for i in (1, 2, 3))


def rec(kind: T, *sources: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Record:
    return Record(kind, G, frozenset(sources))


def test_every_mode_and_record_type_has_a_rule() -> None:
    assert {(m, t) for m in (INCLUDE, EXCLUDE) for t in T} == set(RULES)


def test_include_then_allow_then_block_asks_about_the_blocked_source() -> None:
    table = RouterTable()
    table.apply(rec(T.ALLOW_NEW_SOURCES, A, B), now=0)
    actions = table.apply(rec(T.BLOCK_OLD_SOURCES, B), now=1)
    assert actions == [SendQuery(G, frozenset({B}))]
    state = table.groups[G]
    assert state.mode == INCLUDE and state.requested() == {A, B}
    # B's timer was lowered to the last member query time: it goes unless refreshed.
    table.expire(1 + Timers().last_member_query_time + 0.01)
    assert table.groups[G].requested() == {A}


def test_to_ex_from_include_and_the_group_timer() -> None:
    table = RouterTable()
    table.apply(rec(T.ALLOW_NEW_SOURCES, A), now=0)
    actions = table.apply(rec(T.CHANGE_TO_EXCLUDE, A, B), now=0)
    state = table.groups[G]
    assert state.mode == EXCLUDE and state.requested() == {A} and state.excluded() == {B}
    assert actions == [SendQuery(G, frozenset({A}))]
    gmi = Timers().group_membership_interval
    table.expire(gmi - 1)
    assert table.groups[G].mode == EXCLUDE
    table.expire(gmi + 1)  # group timer out, and A's (lowered) too
    assert G not in table.groups


def test_leave_of_an_any_source_group_queries_and_expires() -> None:
    table = RouterTable()
    table.apply(rec(T.MODE_IS_EXCLUDE), now=0, reporter="10.0.0.9")
    assert table.snapshot(0)[0].mode == EXCLUDE
    actions = table.apply(rec(T.CHANGE_TO_INCLUDE), now=5)
    assert actions == [SendQuery(G)]
    assert table.snapshot(5)[0].expires_in == Timers().last_member_query_time
    table.expire(5 + Timers().last_member_query_time + 0.001)
    assert table.snapshot(8) == []


def test_exclude_block_and_allow() -> None:
    table = RouterTable()
    table.apply(rec(T.MODE_IS_EXCLUDE, C), now=0)
    actions = table.apply(rec(T.BLOCK_OLD_SOURCES, A, C), now=1)
    assert actions == [SendQuery(G, frozenset({A}))]
    table.apply(rec(T.ALLOW_NEW_SOURCES, C), now=2)
    assert table.groups[G].excluded() == set() and C in table.groups[G].requested()


def test_a_flood_of_made_up_groups_stops_at_the_group_limit_and_is_counted() -> None:
    from mcast.querier._routertable import MAX_GROUPS

    table = RouterTable()
    groups = [ipaddress.ip_address(int(ipaddress.ip_address("232.0.0.0")) + n) for n in range(1500)]
    for group in groups:
        table.apply(Record(T.MODE_IS_EXCLUDE, group), now=0)
    assert len(table.groups) == MAX_GROUPS
    assert table.refused["group_limit"] == 1500 - MAX_GROUPS
    # A group already in the table is still served; one that left makes room.
    table.apply(Record(T.CHANGE_TO_INCLUDE, groups[0]), now=0)
    table.expire(Timers().last_member_query_time + 1)
    assert groups[0] not in table.groups
    table.apply(Record(T.MODE_IS_EXCLUDE, groups[-1]), now=5)
    assert groups[-1] in table.groups


def test_a_group_keeps_at_most_max_sources() -> None:
    from mcast.querier._routertable import MAX_SOURCES

    table = RouterTable()
    many = [ipaddress.ip_address(f"10.1.{n // 250}.{n % 250 + 1}") for n in range(MAX_SOURCES + 1)]
    table.apply(rec(T.ALLOW_NEW_SOURCES, *many[:MAX_SOURCES]), now=0)
    table.apply(rec(T.ALLOW_NEW_SOURCES, many[MAX_SOURCES]), now=0)
    assert len(table.groups[G].sources) == MAX_SOURCES
    assert table.refused["source_limit"] == 1
    table.apply(rec(T.ALLOW_NEW_SOURCES, many[0]), now=1)  # a known source refreshes
    assert table.refused["source_limit"] == 1 and table.groups[G].sources[many[0]] > 1


_records = st.lists(
    st.tuples(
        st.sampled_from(list(T)),
        st.sampled_from([G, ipaddress.ip_address("232.2.2.2")]),
        st.frozensets(st.sampled_from([A, B, C]), max_size=3),
        st.floats(0, 400),
    ),
    max_size=40,
)


@given(_records)
def test_skipping_the_walk_until_a_timer_runs_out_changes_nothing(steps) -> None:
    """The table walks its groups only once a timer can have run out; a table
    made to walk them at every step must agree with it at every step."""
    lazy, eager = RouterTable(), RouterTable()
    now = 0.0
    for kind, group, sources, pause in steps:
        now += pause
        record = Record(kind, group, sources)
        eager._next_expiry = float("-inf")  # walk every time, as before the shortcut
        assert lazy.apply(record, now) == eager.apply(record, now)
        eager._next_expiry = float("-inf")
        assert lazy.snapshot(now) == eager.snapshot(now)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"query_interval": 10, "query_response_interval": 10}, "less than the query interval"),
        ({"query_response_interval": 0}, "more than 0"),
        ({"robustness": 0}, "1 to 7"),
        ({"robustness": 8}, "1 to 7"),  # IGMPv3's and MLDv2's QRV field has 3 bits
    ],
)
def test_timers_rfc_3376_cannot_hold_are_refused(values: dict[str, Any], words: str) -> None:
    from mcast import McastBadInput

    with pytest.raises(McastBadInput, match=words):
        Timers(**values)
