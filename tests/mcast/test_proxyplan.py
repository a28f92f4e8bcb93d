"""The proxy's decisions (RFC 4605 sections 4.1 and 4.2), worked by hand:
downstream router-part states in, the upstream subscription and the
downstream interfaces a datagram goes out of."""

from __future__ import annotations

import sys
from ipaddress import IPv4Address as V4
from ipaddress import IPv6Address as V6

import pytest

from mcast.membership._membership import Filter, Mode
from mcast.querier._routertable import EXCLUDE, INCLUDE, GroupState
from mcast.routing._mroutes import Route
from mcast.routing._proxyplan import (
    NEGATIVE_LIFETIME,
    NOCACHE,
    WRONG_INTERFACE,
    Flows,
    Tables,
    Upcall,
    decode_upcall,
    forward_to,
    routable,
    subscription,
    upstream,
    upstream_of,
    widen,
)

G = V4("239.1.1.1")
S1, S2, S3 = V4("10.0.0.1"), V4("10.0.0.2"), V4("10.0.0.3")


def include(*sources: V4) -> GroupState:
    return GroupState(INCLUDE, {s: 100.0 for s in sources})


def exclude(requested: tuple[V4, ...] = (), excluded: tuple[V4, ...] = ()) -> GroupState:
    state = GroupState(EXCLUDE, {s: 100.0 for s in requested}, group_timer=100.0)
    state.sources.update({s: 0.0 for s in excluded})  # Y: timer 0
    return state


def test_a_downstream_membership_becomes_a_subscription() -> None:
    assert subscription(include(S1, S2)) == Filter(Mode.INCLUDE, frozenset({S1, S2}))
    # EXCLUDE(X, Y): everything but Y (X, still wanted, is not excluded).
    assert subscription(exclude((S1,), (S2,))) == Filter(Mode.EXCLUDE, frozenset({S2}))


def test_include_and_include_merge_to_their_union() -> None:
    up = upstream({"eth1": {G: include(S1)}, "eth2": {G: include(S2)}})
    assert up == {G: Filter(Mode.INCLUDE, frozenset({S1, S2}))}


def test_exclude_and_include_merge_to_exclude_less_what_is_included() -> None:
    # eth1 excludes S1 and S2; eth2 includes S2: upstream excludes only S1.
    up = upstream({"eth1": {G: exclude((), (S1, S2))}, "eth2": {G: include(S2)}})
    assert up == {G: Filter(Mode.EXCLUDE, frozenset({S1}))}


def test_two_excludes_merge_to_what_both_exclude() -> None:
    up = upstream({"eth1": {G: exclude((), (S1, S2))}, "eth2": {G: exclude((), (S2, S3))}})
    assert up == {G: Filter(Mode.EXCLUDE, frozenset({S2}))}


def test_no_members_no_subscription() -> None:
    assert upstream({"eth1": {G: include()}, "eth2": {}}) == {}


def test_a_datagram_goes_only_where_its_source_is_wanted() -> None:
    tables: Tables = {
        "eth1": {G: include(S1)},  # SSM member of S1
        "eth2": {G: exclude((), (S1,))},  # any source but S1
        "eth3": {},  # no member
    }
    assert forward_to(tables, G, S1, arrived_on="eth0") == {"eth1"}
    assert forward_to(tables, G, S2, arrived_on="eth0") == {"eth2"}
    assert forward_to(tables, G, S2, arrived_on="eth2") == set()  # never back where it came


def test_link_local_groups_are_not_subscribed_upstream() -> None:
    mdns, local6 = V4("224.0.0.251"), V6("ff02::fb")
    up = upstream({"eth1": {mdns: exclude(), local6: exclude(), G: exclude()}})
    assert up == {G: Filter(Mode.EXCLUDE)}
    assert routable(V6("ff05::1")) and routable(V6("ff3e::1")) and not routable(V6("ff02::1:3"))


def test_a_filter_longer_than_the_kernel_takes_widens_to_any_source() -> None:
    three = Filter(Mode.INCLUDE, frozenset({S1, S2, S3}))
    assert widen(three, 3) == three
    assert widen(three, 2) == Filter(Mode.EXCLUDE)
    assert widen(Filter(Mode.EXCLUDE, frozenset({S1, S2})), 1) == Filter(Mode.EXCLUDE)


# -- upcalls: struct igmpmsg and struct mrt6msg, written byte by byte ---------


def test_an_ipv4_upcall_is_decoded() -> None:
    igmpmsg = bytes(8) + bytes([NOCACHE, 0, 3, 0]) + S1.packed + G.packed + b"payload"
    assert decode_upcall(4, igmpmsg) == Upcall(NOCACHE, 3, S1, G)
    high_slot = bytes(8) + bytes([WRONG_INTERFACE, 0, 1, 1]) + S1.packed + G.packed
    assert decode_upcall(4, high_slot) == Upcall(WRONG_INTERFACE, 257, S1, G)


def test_an_igmp_message_on_the_routing_socket_is_not_an_upcall() -> None:
    ip_header = bytes([0x45, 0, 0, 32, 0, 0, 0, 0, 1, 2, 0, 0]) + S1.packed + G.packed
    assert decode_upcall(4, ip_header + bytes(12)) is None
    with pytest.raises(ValueError):
        decode_upcall(4, bytes(19))


def test_an_ipv6_upcall_is_decoded() -> None:
    source, group = V6("2001:db8:1::2"), V6("ff3e::4321:1")
    mif = (5).to_bytes(2, sys.byteorder)
    mrt6msg = bytes([0, NOCACHE]) + mif + bytes(4) + source.packed + group.packed
    assert decode_upcall(6, mrt6msg) == Upcall(NOCACHE, 5, source, group)
    assert decode_upcall(6, bytes([143, 0]) + bytes(40)) is None  # an MLDv2 report
    with pytest.raises(ValueError):
        decode_upcall(6, mrt6msg[:39])
    with pytest.raises(ValueError):
        decode_upcall(6, b"")


# -- flows ---------------------------------------------------------------------


def route(source: V4, inbound: str, *outs: str) -> Route:
    return Route(str(G), str(source), inbound, tuple((name, 1) for name in sorted(outs)))


def test_a_flow_from_upstream_goes_down_where_its_source_is_wanted() -> None:
    flows = Flows("up", ("d1", "d2"))
    assert flows.upcall(S1, G, "up", 0.0) is None
    assert flows.upcall(S2, G, "up", 0.0) is None
    tables: Tables = {"d1": {G: include(S1)}, "d2": {G: exclude((), (S1,))}}
    assert sorted(flows.routes(tables, 1.0), key=lambda r: r.source or "") == [
        route(S1, "up", "d1"),
        route(S2, "up", "d2"),
    ]


def test_a_flow_from_downstream_also_goes_up_and_never_back() -> None:
    flows = Flows("up", ("d1", "d2"))
    flows.upcall(S3, G, "d1", 0.0)
    tables: Tables = {"d1": {G: exclude()}, "d2": {G: exclude()}}
    assert flows.routes(tables, 1.0) == [route(S3, "d1", "d2", "up")]
    assert flows.routes({}, 1.0) == [route(S3, "d1", "up")]


def test_the_last_leave_removes_the_entry_and_an_unwanted_one_expires() -> None:
    flows = Flows("up", ("d1",))
    flows.upcall(S1, G, "up", 0.0)
    assert flows.routes({"d1": {G: exclude()}}, 1.0) == [route(S1, "up", "d1")]
    assert flows.routes({"d1": {}}, 2.0) == []  # the last member went: the entry goes
    assert not flows.flows
    flows.upcall(S1, G, "up", 3.0)  # still arriving: an entry forwarding nowhere
    assert flows.routes({}, 3.0 + NEGATIVE_LIFETIME - 1) == [route(S1, "up")]
    assert flows.routes({}, 3.0 + NEGATIVE_LIFETIME) == []


def test_flows_are_bounded_and_link_local_groups_refused() -> None:
    flows = Flows("up", ("d1",), limit=2)
    first, second, third = (V4(f"10.0.1.{n}") for n in (1, 2, 3))
    flows.upcall(first, G, "up", 0.0)
    flows.upcall(second, G, "up", 1.0)
    # Full: the oldest flow nobody wants makes room.
    assert flows.upcall(third, G, "up", 2.0) is None
    assert set(flows.flows) == {(second, G), (third, G)} and flows.evicted == 1
    # When every flow is wanted, a new one is refused.
    flows.routes({"d1": {G: exclude()}}, 3.0)
    assert flows.upcall(S1, G, "up", 4.0) == "flow table full"
    flows.upcall(S1, V4("224.0.0.9"), "up", 0.0)
    flows.upcall(V4("0.0.0.0"), G, "up", 0.0)
    assert len(flows.flows) == 2
    assert flows.dropped == {"flow table full": 1, "link-local group": 1, "bad source": 1}


def test_a_flow_whose_kernel_count_stands_still_is_aged_out() -> None:
    flows = Flows("up", ("d1",))
    flows.upcall(S1, G, "up", 0.0)
    flows.upcall(S2, G, "up", 0.0)
    assert flows.age({(str(G), str(S1)): 5, (str(G), str(S2)): 7}) == 0
    assert flows.age({(str(G), str(S1)): 9, (str(G), str(S2)): 7}) == 1
    assert list(flows.flows) == [(S1, G)]


def test_one_groups_subscription_is_what_the_whole_merge_says_of_it() -> None:
    other = V4("239.2.2.2")
    tables: Tables = {
        "eth1": {G: exclude((), (S1, S2)), other: include(S1)},
        "eth2": {G: include(S2)},
    }
    whole = upstream(tables)
    assert upstream_of(tables, G) == whole[G] == Filter(Mode.EXCLUDE, frozenset({S1}))
    assert upstream_of(tables, other) == whole[other]
    assert upstream_of(tables, V4("239.3.3.3")) is None  # nobody: leave it
    assert upstream_of({"eth1": {G: include()}}, G) is None
    assert upstream_of({"eth1": {V4("224.0.0.251"): exclude()}}, V4("224.0.0.251")) is None


def test_a_groups_flows_are_found_by_group_and_forgotten_with_it() -> None:
    flows = Flows("up", ("d1",))
    other = V4("239.2.2.2")
    for source in (S1, S2):
        flows.upcall(source, G, "up", 0.0)
    flows.upcall(S1, other, "up", 0.0)
    assert sorted(flows.of_group(G)) == [(S1, G), (S2, G)]
    assert flows.decide((S1, G), {"d1": {G: exclude()}}, 1.0) == route(S1, "up", "d1")
    assert flows.decide((S1, G), {"d1": {}}, 2.0) is None  # its last member went
    assert flows.of_group(G) == [(S2, G)] and flows.of_group(other) == [(S1, other)]
