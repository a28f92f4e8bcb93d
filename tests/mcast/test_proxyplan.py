"""The proxy's decisions (RFC 4605 sections 4.1 and 4.2), worked by hand:
downstream router-part states in, the upstream subscription and the
downstream interfaces a datagram goes out of."""

from __future__ import annotations

from ipaddress import IPv4Address as V4

from mcast._membership import Filter, Mode
from mcast._proxyplan import Tables, forward_to, subscription, upstream
from mcast._routertable import EXCLUDE, INCLUDE, GroupState

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
