"""Static multicast routes planned as data: checks, slots, entries, operations."""

from __future__ import annotations

import pytest

from mcast._errors import McastBadInput
from mcast.routing._mroutes import MAX_SLOTS, Plan, changes, check_route, plan

INDEXES = {"eth0": 2, "eth1": 3, "eth2": 4}


def test_a_route_is_checked_and_told_in_one_line() -> None:
    route = check_route("232.1.1.1", "10.0.1.2", "eth0", [("eth2", 5), ("eth1", 1)])
    assert route.outbound == (("eth1", 1), ("eth2", 5))
    assert route.text() == "(10.0.1.2, 232.1.1.1) from eth0 to eth1 ttl>1, eth2 ttl>5"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("10.0.0.1", None, "eth0", [("eth1", 1)]), "not a multicast address"),
        (("ff02::5", None, "eth0", [("eth1", 1)]), "scoped to one link"),
        (("232.1.1.1", "2001:db8::1", "eth0", [("eth1", 1)]), "not of one IP version"),
        (("232.1.1.1", "239.1.1.1", "eth0", [("eth1", 1)]), "not a unicast address"),
        (("232.1.1.1", None, "eth0", []), "at least one outbound"),
        (("232.1.1.1", None, "eth0", [("eth0", 1)]), "both the inbound and an outbound"),
        (("232.1.1.1", None, "eth0", [("eth1", 0)]), "1 to 255"),
        (("232.1.1.1", None, "eth0", [("eth1", 256)]), "1 to 255"),
        (("232.1.1.1", None, "eth0", [("eth1", 1), ("eth1", 2)]), "named twice"),
    ],
)
def test_bad_routes_are_refused(args, words: str) -> None:
    with pytest.raises(McastBadInput, match=words):
        check_route(*args)


def test_slots_are_shared_and_kept_while_used() -> None:
    one = check_route("239.1.1.1", None, "eth0", [("eth1", 1)])
    two = check_route("239.2.2.2", "10.0.0.9", "eth0", [("eth1", 3), ("eth2", 1)])
    first = plan([one], INDEXES)
    assert {k: s.number for k, s in first.slots.items()} == {(4, "eth0"): 0, (4, "eth1"): 1}
    both = plan([one, two], INDEXES, keep=first)
    assert both.slots[4, "eth0"].number == 0 and both.slots[4, "eth1"].number == 1
    assert both.slots[4, "eth2"].number == 2
    entry = both.entries[4, "10.0.0.9", "239.2.2.2"]
    assert (entry.parent, entry.outbound) == (0, ((1, 3), (2, 1)))
    # Only what changed is done: a slot and an entry.
    assert [op.action for op in changes(first, both)] == ["add-slot", "add-entry"]
    # Removing the first route keeps the others' slot numbers.
    last = plan([two], INDEXES, keep=both)
    assert last.slots == both.slots
    assert [op.text for op in changes(both, last)] == ["delete (*, 239.1.1.1)"]
    assert [op.action for op in changes(last, Plan())] == [
        "delete-entry", "delete-slot", "delete-slot", "delete-slot",
    ]  # fmt: skip


def test_ipv6_routes_have_no_thresholds() -> None:
    with pytest.raises(McastBadInput, match="IPv6 routes have no TTL thresholds"):
        check_route("ff3e::1", None, "eth0", [("eth1", 2)])
    route = check_route("ff3e::1", None, "eth0", [("eth1", 1)])
    assert plan([route], INDEXES).slots[6, "eth1"].threshold == 1


def test_one_route_per_source_and_group_and_at_most_32_slots() -> None:
    a = check_route("239.1.1.1", None, "eth0", [("eth1", 1)])
    b = check_route("239.1.1.1", None, "eth2", [("eth1", 1)])
    with pytest.raises(McastBadInput, match="kernel keeps one per source and group"):
        plan([a, b], INDEXES)
    many = {f"if{i}": 10 + i for i in range(MAX_SLOTS + 1)}
    routes = [check_route("239.1.1.1", None, "if0", [(f"if{i}", 1) for i in range(1, 33)])]
    with pytest.raises(McastBadInput, match="32 interface slots"):
        plan(routes, many)
    with pytest.raises(McastBadInput, match="no interface eth9"):
        plan([check_route("239.1.1.1", None, "eth9", [("eth1", 1)])], INDEXES)


def test_the_operations_carry_the_kernels_structs() -> None:
    route = check_route("232.1.1.1", "10.0.1.2", "eth0", [("eth1", 4)])
    ops = changes(Plan(), plan([route], INDEXES))
    slot, _, entry = ops
    assert (slot.level, slot.option) == (0, 202)  # IPPROTO_IP, MRT_ADD_VIF
    assert slot.value[:4] == bytes([0, 0, 0x8, 1])  # slot 0, VIFF_USE_IFINDEX, threshold 1
    assert slot.value[8:12] == (2).to_bytes(4, "little")  # eth0's index
    assert (entry.level, entry.option) == (0, 204)  # MRT_ADD_MFC
    assert entry.value[:8] == bytes([10, 0, 1, 2, 232, 1, 1, 1])
    assert entry.value[10:12] == bytes([0, 4])  # slot 0 not out, slot 1 out above TTL 4
    route6 = check_route("ff3e::9", None, "eth1", [("eth2", 1)])
    op = changes(Plan(), plan([route6], INDEXES))[-1]
    assert (op.level, op.option, op.action) == (41, 204, "add-entry")
