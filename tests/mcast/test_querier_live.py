"""A querier on host B: host A's Linux kernel answers its queries as the host
model says, the table follows, leaves are queried, and the lower address wins
the election."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
import trio

from mcast.membership._hostmodel import Record, answer_query, interface_state
from mcast.membership._membership import GroupKey
from mcast.querier._querier import Action, Event, Querier, Role, Send
from mcast.querier._querying import Link, queriers_for, run_queriers
from mcast.querier._routertable import Timers
from mcast.streams._receiver import open_receiver
from mcast.wire._igmp import IgmpQuery, IgmpV3Report
from mcast.wire._mld import MldV2Report
from mcast.wire._observer import Observed, Observer
from mcast.wire._wirecommon import RecordType
from tests.mcast.labs import QUICK_REPORTS
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

FAST = Timers(
    robustness=2,
    query_interval=4.0,
    query_response_interval=1.0,
    last_member_query_interval=0.2,
    last_member_query_count=2,
)
CURRENT = {RecordType.MODE_IS_INCLUDE, RecordType.MODE_IS_EXCLUDE}


async def collect(observer: Observer, seconds: float) -> list[Observed]:
    got: list[Observed] = []
    with trio.move_on_after(seconds):
        while True:
            item = await observer.next()
            if isinstance(item, Observed):
                got.append(item)
    return got


async def test_a_querier_hears_the_kernel_answer_as_the_model_says(lab) -> None:
    async with (
        lab(QUICK_REPORTS.format(v4=0, v6=0), text=True) as running,
        open_receiver(5000) as rx,
    ):
        a, b = running.host("a"), running.host("b")
        with a.inside():
            rx.join("239.1.1.1", "eth0")
            rx.block("239.1.1.1", "10.0.0.9", "eth0")
            rx.join("232.1.1.1", "eth0", source="10.0.0.2")
            rx.join("ff3e::1", "eth0", source="2001:db8::2")
            index = socket.if_nametoindex("eth0")
        with b.inside():
            link = Link.open("eth0")
            watcher = Observer.open("eth0")
        events: list[tuple[Querier, Action]] = []
        with watcher:
            queriers = queriers_for(link, timers=FAST, now=trio.current_time())
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    run_queriers, link, queriers, lambda q, act: events.append((q, act))
                )
                seen = await collect(watcher, 2.5)

                # What A answered to the general queries: current-state records.
                answered = {
                    Record.of(r)
                    for item in seen
                    if not item.outgoing
                    and isinstance(item.wire.message, IgmpV3Report | MldV2Report)
                    for r in item.wire.message.records
                    if r.type in CURRENT
                }
                groups = [ipaddress.ip_address(g) for g in ("239.1.1.1", "232.1.1.1", "ff3e::1")]
                states = {
                    g: interface_state([rx.filters().get(GroupKey(g, index))]) for g in groups
                }
                expected = set(answer_query(states, stack="linux"))
                assert expected <= answered, f"model {expected}, answered {answered}"
                assert {r for r in answered if r.group in groups} == expected
                # B sent general queries of both protocols.
                sent = [act for _, act in events if isinstance(act, Send)]
                assert any(isinstance(s.message, IgmpQuery) and s.message.general for s in sent)
                assert any(not isinstance(s.message, IgmpQuery) and s.message.general for s in sent)
                # And keeps the table a router would.
                igmp_querier = next(q for q in queriers if q.config.protocol == "igmp")
                rows = {r.group: r for r in igmp_querier.table.snapshot(trio.current_time())}
                assert rows["239.1.1.1"].mode == "exclude" and rows["239.1.1.1"].sources == [
                    "10.0.0.9"
                ]
                assert rows["232.1.1.1"].mode == "include" and rows["232.1.1.1"].sources == [
                    "10.0.0.2"
                ]

                # A leaves: its TO_IN makes B ask about the group, twice, then forget it.
                with a.inside():
                    rx.leave("239.1.1.1", "eth0")
                seen = await collect(watcher, 1.0)
                specific = [
                    item
                    for item in seen
                    if item.outgoing
                    and isinstance(item.wire.message, IgmpQuery)
                    and str(item.wire.message.group) == "239.1.1.1"
                ]
                to_in = [
                    r
                    for item in seen
                    if not item.outgoing and isinstance(item.wire.message, IgmpV3Report)
                    for r in item.wire.message.records
                    if r.type is RecordType.CHANGE_TO_INCLUDE and str(r.group) == "239.1.1.1"
                ]
                # Each TO_IN calls for Q(G) now and once more (last member query count 2).
                assert to_in and len(specific) == 2 * len(to_in)
                left = {r.group for r in igmp_querier.table.snapshot(trio.current_time())}
                assert "239.1.1.1" not in left and "232.1.1.1" in left

                # A starts a querier of its own: its lower address wins.
                with a.inside():
                    a_link = Link.open("eth0")
                with a_link.observer:
                    a_queriers = queriers_for(
                        a_link, timers=FAST, mld_version=None, now=trio.current_time()
                    )
                    nursery.start_soon(run_queriers, a_link, a_queriers, lambda q, act: None)
                    await wait_until(lambda: igmp_querier.role is Role.NON_QUERIER,
                                     "the querier to stand down")  # fmt: skip
                    assert any(
                        isinstance(act, Event)
                        and act.kind == "election"
                        and "stands down" in act.text
                        for _, act in events
                    )
                    nursery.cancel_scope.cancel()
        link.close()


@pytest.mark.parametrize("family", [4, 6])
async def test_group_and_source_specific_queries_are_answered_as_the_model_says(
    lab, family
) -> None:
    from mcast.wire._igmp import IgmpQuery as Q4
    from mcast.wire._mld import MldQuery as Q6

    if family == 4:
        inc_group, exc_group = "232.4.4.4", "239.4.4.4"
        s1, s2, s3 = "10.0.0.11", "10.0.0.12", "10.0.0.13"
    else:
        inc_group, exc_group = "ff3e::4:4", "ff3e::4:5"
        s1, s2, s3 = "2001:db8::11", "2001:db8::12", "2001:db8::13"
    ip = ipaddress.ip_address
    async with (
        lab(QUICK_REPORTS.format(v4=0, v6=0), text=True) as running,
        open_receiver(5000) as rx,
    ):
        a, b = running.host("a"), running.host("b")
        with a.inside():
            rx.set_filter(inc_group, "eth0", "include", [s1, s2])
            rx.set_filter(exc_group, "eth0", "exclude", [s1])
            index = socket.if_nametoindex("eth0")
        with b.inside():
            link = Link.open("eth0")
        with link.observer:
            await collect(link.observer, 0.3)  # the joins' own reports go by
            states = {
                ip(g): interface_state([rx.filters().get(GroupKey(ip(g), index))])
                for g in (inc_group, exc_group)
            }
            for group in (inc_group, exc_group):
                asked = frozenset({ip(s2), ip(s3)} if group == inc_group else {ip(s1), ip(s3)})
                query: Any
                if family == 4:
                    listed4 = tuple(sorted((a for a in asked if a.version == 4), key=int))
                    query = Q4(3, 5, ipaddress.IPv4Address(group), False, 2, 125, listed4)
                    link.send(Send(query, ip(group)), link.ipv4)  # type: ignore[arg-type]
                else:
                    listed6 = tuple(sorted((a for a in asked if a.version == 6), key=int))
                    query = Q6(2, 500, ipaddress.IPv6Address(group), False, 2, 125, listed6)
                    link.send(Send(query, ip(group)), link.ipv6_link_local)  # type: ignore[arg-type]
                seen = await collect(link.observer, 1.0)
                answered = {
                    Record.of(r)
                    for item in seen
                    if not item.outgoing
                    and isinstance(item.wire.message, IgmpV3Report | MldV2Report)
                    for r in item.wire.message.records
                    if r.group == ip(group) and r.type in CURRENT
                }
                expected = set(answer_query(states, ip(group), asked, stack="linux"))
                assert expected, "the model must predict a non-empty answer here"
                assert answered == expected, f"{group}: model {expected}, kernel {answered}"
