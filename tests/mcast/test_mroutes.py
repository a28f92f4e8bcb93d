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


# --- a move from one plan to the next, on the one do/undo runner ----------------------------


Key = tuple[object, ...]


class Kernel:
    """The kernel's multicast routing tables as setsockopt leaves them, modelled from
    the socket options' meaning (linux/mroute.h): a slot (vif) by its number, an
    entry (MFC) by its origin and group; adding an entry replaces it, adding a slot
    whose number is taken is refused, deleting what is not there is ENOENT."""

    def __init__(self) -> None:
        self.slots: dict[Key, bytes] = {}
        self.entries: dict[Key, bytes] = {}

    def apply(self, op, fail: bool = False) -> bool:
        from ipv6.sockopts import LINUX, decode
        from mcast import McastError

        if fail:
            raise McastError(f"the kernel refused to {op.text}: Operation not permitted")
        table: dict[Key, bytes]
        if op.action.endswith("slot"):
            fields = decode(LINUX, "vifctl" if op.family == 4 else "mif6ctl", op.value)
            table = self.slots
            key: Key = (op.family, fields["vifc_vifi" if op.family == 4 else "mif6c_mifi"])
        else:
            prefix = "mfcc" if op.family == 4 else "mf6cc"
            fields = decode(LINUX, "mfcctl" if op.family == 4 else "mf6cctl", op.value)
            table = self.entries
            key = (op.family, fields[f"{prefix}_origin"], fields[f"{prefix}_mcastgrp"])
        if op.action.startswith("delete"):
            return table.pop(key, None) is not None
        if op.action == "add-slot" and key in table:
            raise AssertionError(f"slot taken: {op.text}")
        table[key] = op.value
        return True


ROUTES = [
    check_route("239.1.1.1", None, "eth0", [("eth1", 1)]),
    check_route("239.2.2.2", "10.0.0.9", "eth0", [("eth1", 3), ("eth2", 1)]),
    check_route("232.3.3.3", "10.0.0.7", "eth1", [("eth2", 2)]),
    check_route("239.4.4.4", None, "eth2", [("eth0", 1), ("eth1", 1)]),
    check_route("ff3e::5", "2001:db8::5", "eth0", [("eth1", 1)]),
    check_route("ff3e::6", None, "eth1", [("eth0", 1), ("eth2", 1)]),
]


def state(*plans: Plan) -> tuple[dict[Key, bytes], dict[Key, bytes]]:
    kernel = Kernel()
    before = Plan()
    for step in plans:
        for op in changes(before, step):
            kernel.apply(op)
        before = step
    return dict(kernel.slots), dict(kernel.entries)


# the second route again, with other outbound interfaces: its entry is replaced in place
CHANGED = check_route("239.2.2.2", "10.0.0.9", "eth0", [("eth2", 4)])


@pytest.mark.parametrize("old_routes", [ROUTES[:1], ROUTES[:2], ROUTES[1:], ROUTES[4:], ROUTES])
@pytest.mark.parametrize(
    "new_routes", [[], ROUTES[2:], ROUTES[::2], ROUTES[3:5], ROUTES, [CHANGED, *ROUTES[2:]]]
)
def test_a_refused_step_leaves_the_tables_as_they_were(old_routes, new_routes) -> None:
    from ipv6 import Refused, apply_steps
    from mcast.routing._mroutes import Step, transitions

    old = plan(old_routes, INDEXES)
    new = plan(new_routes, INDEXES, keep=old)
    steps = transitions(old, new)
    assert state(old, new) != state(old) or not steps or old == new
    for refused_at in range(len(steps)):
        kernel = Kernel()
        for op in changes(Plan(), old):
            kernel.apply(op)

        def do(step: Step, kernel: Kernel = kernel, at: int = refused_at) -> list[Step]:
            kernel.apply(step.op, fail=step is steps[at])
            return [Step(op, ()) for op in step.undo]

        with pytest.raises(Refused) as refused:
            apply_steps(steps, do, lambda step: step.op.text,
                        refusals=(__import__("mcast").McastError,))  # fmt: skip
        assert (kernel.slots, kernel.entries) == state(old), (refused_at, steps[refused_at].op)
        assert "nothing is left half-applied" in str(refused.value)


def test_the_kernel_plane_moves_on_the_runner_and_a_refusal_leaves_it_as_it_was() -> None:
    """KernelPlane.move over a routing socket that is the model above (this machine's
    kernel may have no multicast routing): a refusal in the middle of a move says
    what it undid, and the tables are the old plan's again."""
    from ipv6.sockopts import MRT
    from mcast import McastError
    from mcast.routing._kernelplane import KernelPlane
    from mcast.routing._mroutes import Op

    actions = {MRT["MRT_ADD_VIF"]: "add-slot", MRT["MRT_DEL_VIF"]: "delete-slot",
               MRT["MRT_ADD_MFC"]: "add-entry", MRT["MRT_DEL_MFC"]: "delete-entry"}  # fmt: skip

    class RoutingSocket:
        def __init__(self, kernel: Kernel, refuse: int | None) -> None:
            self.kernel, self.refuse, self.calls = kernel, refuse, 0

        def setsockopt(self, level: int, option: int, value: bytes) -> None:
            self.calls += 1
            if self.calls == self.refuse:
                raise PermissionError(1, "Operation not permitted")
            family = 4 if level == 0 else 6
            op = Op(actions[option], family, level, option, value, actions[option])
            if not self.kernel.apply(op) and op.action.startswith("delete"):
                raise FileNotFoundError(2, "No such file or directory")

    old = plan(ROUTES[:2], INDEXES)  # slots eth0, eth1, eth2
    new = plan([CHANGED, ROUTES[3]], INDEXES)  # the slots numbered afresh: all move
    count = len(changes(old, new))
    assert count >= 6
    for refuse in (None, *range(1, count + 1)):
        kernel = Kernel()
        for op in changes(Plan(), old):
            kernel.apply(op)
        routing = KernelPlane.__new__(KernelPlane)
        routing.family, routing.said = 4, None
        routing.sock = RoutingSocket(kernel, refuse)  # type: ignore[assignment]
        if refuse is None:
            routing.move(old, new)
            assert (kernel.slots, kernel.entries) == state(old, new)
            continue
        with pytest.raises(McastError, match=r"Operation not permitted; .* nothing is left"):
            routing.move(old, new)
        assert (kernel.slots, kernel.entries) == state(old), refuse
