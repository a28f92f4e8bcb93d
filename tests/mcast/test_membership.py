"""The membership state machine: transitions, final state, limits, properties."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcast._errors import LimitReached, MembershipError
from mcast.membership._membership import (
    NONE,
    TRANSITIONS,
    Call,
    Filter,
    GroupKey,
    Limits,
    Memberships,
    Mode,
    kind_of,
)

G = GroupKey(ipaddress.ip_address("232.1.1.1"), 2)
S1, S2, S3 = (ipaddress.ip_address(f"10.0.0.{i}") for i in (1, 2, 3))


def test_any_source_join_block_unblock_leave() -> None:
    m = Memberships()
    assert m.apply(Call.JOIN, G) == Filter(Mode.EXCLUDE)
    assert m.apply(Call.BLOCK, G, S1) == Filter(Mode.EXCLUDE, frozenset({S1}))
    current = m.filter_of(G)
    assert current is not None and not current.accepts(S1) and current.accepts(S2)
    assert m.apply(Call.UNBLOCK, G, S1) == Filter(Mode.EXCLUDE)
    assert m.apply(Call.LEAVE, G) is None and len(m) == 0


def test_source_specific_channels_and_the_last_source_leaves() -> None:
    m = Memberships()
    m.apply(Call.JOIN_SOURCE, G, S1)
    m.apply(Call.JOIN_SOURCE, G, S2)
    assert m.filter_of(G) == Filter(Mode.INCLUDE, frozenset({S1, S2}))
    current = m.filter_of(G)
    assert current is not None and current.accepts(S1) and not current.accepts(S3)
    m.apply(Call.LEAVE_SOURCE, G, S1)
    assert m.apply(Call.LEAVE_SOURCE, G, S2) is None
    assert m.filter_of(G) is None


def test_final_state_replaces_the_filter_and_include_nothing_leaves() -> None:
    m = Memberships()
    m.apply(Call.JOIN_SOURCE, G, S1)
    after = m.set_filter(G, Mode.EXCLUDE, [S2, S3])
    assert after is not None and after.describe() == "exclude {10.0.0.2, 10.0.0.3}"
    assert m.set_filter(G, Mode.INCLUDE, []) is None and len(m) == 0


def test_every_state_and_call_has_an_entry() -> None:
    for kind in (NONE, "any-source", "source-specific"):
        for call in Call:
            assert any(k[0] == kind and k[1] is call for k in TRANSITIONS), (kind, call)


def test_the_membership_limit_names_the_sysctl() -> None:
    m = Memberships(limits=Limits(max_memberships=2))
    m.apply(Call.JOIN, GroupKey(ipaddress.ip_address("239.0.0.1"), 2))
    m.apply(Call.JOIN, GroupKey(ipaddress.ip_address("239.0.0.2"), 2))
    with pytest.raises(LimitReached) as caught:
        m.apply(Call.JOIN, GroupKey(ipaddress.ip_address("239.0.0.3"), 2))
    assert caught.value.sysctl == "net.ipv4.igmp_max_memberships" and caught.value.needed == 3


def test_the_source_limit_says_the_value_needed() -> None:
    m = Memberships(limits=Limits(max_sources=2))
    with pytest.raises(LimitReached, match=r"set net\.ipv4\.igmp_max_msf to at least 3"):
        m.set_filter(G, Mode.EXCLUDE, [S1, S2, S3])
    assert m.filter_of(G) is None


def test_a_source_of_the_other_family_is_refused() -> None:
    with pytest.raises(MembershipError, match="not of the family"):
        Memberships().apply(Call.JOIN_SOURCE, G, ipaddress.ip_address("2001:db8::1"))


sources = st.sampled_from([S1, S2, S3])
calls = st.lists(st.tuples(st.sampled_from(list(Call)), sources), max_size=25)


@given(calls)
def test_any_sequence_keeps_the_model_consistent(sequence: list[tuple[Call, object]]) -> None:
    """Whatever is called, refusals change nothing and states stay well formed."""
    m = Memberships()
    for call, source in sequence:
        before = dict(m.filters)
        try:
            m.apply(call, G, source if call.takes_source else None)  # type: ignore[arg-type]
        except MembershipError:
            assert m.filters == before
        current = m.filter_of(G)
        if current is not None:
            # INCLUDE with nothing in it is "not joined", never stored.
            assert current.mode is Mode.EXCLUDE or current.sources
            assert kind_of(current) != NONE
