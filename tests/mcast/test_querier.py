"""The querier state machine, on a fake clock (pure: no socket, no sleeping)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from mcast.querier._querier import Event, Querier, QuerierConfig, Role, Send
from mcast.querier._routertable import Timers
from mcast.wire._frames import WireMessage
from mcast.wire._igmp import GroupRecord, IgmpQuery, IgmpV2Leave, IgmpV3Report
from mcast.wire._mld import MldQuery
from mcast.wire._wirecommon import RecordType

ME = ipaddress.IPv4Address("10.0.0.2")
LOWER = ipaddress.IPv4Address("10.0.0.1")
HOST = ipaddress.IPv4Address("10.0.0.7")
G = ipaddress.IPv4Address("239.1.1.1")
T = Timers(robustness=2, query_interval=100, query_response_interval=10,
           last_member_query_interval=1, last_member_query_count=2)  # fmt: skip


def wire(source: ipaddress.IPv4Address, message: object) -> WireMessage:
    return WireMessage("igmp", source, ipaddress.IPv4Address("224.0.0.1"), 1, True, message)  # type: ignore[arg-type]


def sends(actions: Sequence[object]) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


def test_startup_queries_then_one_per_interval() -> None:
    q = Querier(QuerierConfig(ME, 3, T), now=0)
    times = []
    now = 0.0
    while now < 350:
        if sends(q.tick(now)):
            times.append(now)
        now = q.next_deadline()
    # robustness 2: a startup query, another a quarter interval later, then every interval
    assert times == [0, 25, 125, 225, 325]
    first = q.tick(0)  # nothing due again at 0
    assert first == []


def test_queries_carry_the_timers() -> None:
    q = Querier(QuerierConfig(ME, 3, T), now=0)
    (send,) = sends(q.tick(0))
    assert isinstance(send.message, IgmpQuery) and send.destination == ipaddress.IPv4Address(
        "224.0.0.1"
    )
    assert send.message.max_resp_tenths == 100 and send.message.qrv == 2
    v2 = Querier(QuerierConfig(ME, 2, T), now=0)
    (old,) = sends(v2.tick(0))
    assert old.message.version == 2 and old.message.max_resp_code == 100
    mld = Querier(QuerierConfig(ipaddress.IPv6Address("fe80::2"), 2, T), now=0)
    (m,) = sends(mld.tick(0))
    assert isinstance(m.message, MldQuery) and m.message.max_resp_ms == 10000


def test_a_lower_address_wins_and_silence_hands_it_back() -> None:
    q = Querier(QuerierConfig(ME, 3, T), now=0)
    q.tick(0)
    actions = q.receive(wire(LOWER, IgmpQuery(3)), now=1)
    assert q.role is Role.NON_QUERIER and any(isinstance(a, Event) for a in actions)
    assert sends(q.tick(200)) == []  # non-queriers stay quiet
    assert q.receive(wire(ipaddress.IPv4Address("10.0.0.9"), IgmpQuery(3)), now=2) == []
    present = 2 * 100 + 10 / 2
    assert q.next_deadline() == 1 + present
    taken = q.tick(1 + present)
    assert q.role.value == "querier" and sends(taken) and any(isinstance(a, Event) for a in taken)


def test_a_snooping_switch_query_from_no_address_takes_no_part_in_elections() -> None:
    # RFC 4541 2.1.1: a switch's proxy query comes from 0.0.0.0 (or ::); it is not
    # a lower address than ours, and the querier goes on querying.
    q = Querier(QuerierConfig(ME, 3, T), now=0)
    q.tick(0)
    assert q.receive(wire(ipaddress.IPv4Address(0), IgmpQuery(3)), now=1) == []
    assert q.role is Role.QUERIER and sends(q.tick(25))


def test_a_leave_is_queried_last_member_count_times() -> None:
    q = Querier(QuerierConfig(ME, 2, T), now=0)
    q.tick(0)
    q.receive(wire(HOST, IgmpV3Report((GroupRecord(RecordType.MODE_IS_EXCLUDE, G),))), now=1)
    first = sends(q.receive(wire(HOST, IgmpV2Leave(G)), now=2))
    assert [s.destination for s in first] == [G] and first[0].message.group == G
    second = sends(q.tick(q.next_deadline()))
    assert [s.destination for s in second] == [G]
    assert q.next_deadline() > 3  # no third one
    q.tick(2 + T.last_member_query_time + 0.01)
    assert q.table.snapshot(5) == []


def test_its_own_messages_and_the_other_protocol_are_ignored() -> None:
    q = Querier(QuerierConfig(ME, 3, T), now=0)
    assert q.receive(wire(ME, IgmpQuery(3)), now=1) == []
    assert q.role is Role.QUERIER
