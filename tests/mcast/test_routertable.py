"""The router's membership table: RFC 3376 tables 6.4.1 and 6.4.2, and timers."""

from __future__ import annotations

import ipaddress

from mcast._hostmodel import Record
from mcast._routertable import EXCLUDE, INCLUDE, RULES, RouterTable, SendQuery, Timers
from mcast._wirecommon import RecordType as T

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
    assert table.snapshot(0)[0]["mode"] == EXCLUDE
    actions = table.apply(rec(T.CHANGE_TO_INCLUDE), now=5)
    assert actions == [SendQuery(G)]
    assert table.snapshot(5)[0]["expires_in"] == Timers().last_member_query_time
    table.expire(5 + Timers().last_member_query_time + 0.001)
    assert table.snapshot(8) == []


def test_exclude_block_and_allow() -> None:
    table = RouterTable()
    table.apply(rec(T.MODE_IS_EXCLUDE, C), now=0)
    actions = table.apply(rec(T.BLOCK_OLD_SOURCES, A, C), now=1)
    assert actions == [SendQuery(G, frozenset({A}))]
    table.apply(rec(T.ALLOW_NEW_SOURCES, C), now=2)
    assert table.groups[G].excluded() == set() and C in table.groups[G].requested()
