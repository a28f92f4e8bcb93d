"""The oracle test: every membership change made with the toolkit on host A
produces, at host B's observer, exactly the messages the host model predicts;
IGMPv3 and MLDv2, and IGMPv2 and MLDv1 when A is forced to them."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest
import trio

from mcast.membership._hostmodel import Record, compat_change, interface_state, state_change
from mcast.membership._membership import Filter, GroupKey
from mcast.streams._receiver import Receiver, open_receiver
from mcast.wire._frames import WireMessage
from mcast.wire._igmp import IgmpV3Report
from mcast.wire._mld import MldV2Report
from mcast.wire._observer import Observer
from tests.mcast.labs import QUICK_REPORTS as LAB

pytestmark = pytest.mark.needs_root

Step = Callable[[Receiver], object]
STEPS: list[tuple[str, str, Step]] = [
    ("join any-source", "239.1.1.1", lambda rx: rx.join("239.1.1.1", "eth0")),
    ("block", "239.1.1.1", lambda rx: rx.block("239.1.1.1", "10.0.0.9", "eth0")),
    ("block another", "239.1.1.1", lambda rx: rx.block("239.1.1.1", "10.0.0.8", "eth0")),
    ("unblock", "239.1.1.1", lambda rx: rx.unblock("239.1.1.1", "10.0.0.9", "eth0")),
    ("leave", "239.1.1.1", lambda rx: rx.leave("239.1.1.1", "eth0")),
    ("join a channel", "232.1.1.1", lambda rx: rx.join("232.1.1.1", "eth0", source="10.0.0.2")),
    ("add a source", "232.1.1.1", lambda rx: rx.join("232.1.1.1", "eth0", source="10.0.0.3")),
    ("drop a source", "232.1.1.1", lambda rx: rx.leave("232.1.1.1", "eth0", source="10.0.0.2")),
    (
        "drop the last source",
        "232.1.1.1",
        lambda rx: rx.leave("232.1.1.1", "eth0", source="10.0.0.3"),
    ),
    (
        "final state: exclude",
        "232.2.2.2",
        lambda rx: rx.set_filter("232.2.2.2", "eth0", "exclude", ["10.0.0.5"]),
    ),
    (
        "final state: include",
        "232.2.2.2",
        lambda rx: rx.set_filter("232.2.2.2", "eth0", "include", ["10.0.0.6", "10.0.0.7"]),
    ),
    (
        "final state: leave",
        "232.2.2.2",
        lambda rx: rx.set_filter("232.2.2.2", "eth0", "include", []),
    ),
    ("IPv6 join any-source", "ff3e::1:2", lambda rx: rx.join("ff3e::1:2", "eth0")),
    ("IPv6 block", "ff3e::1:2", lambda rx: rx.block("ff3e::1:2", "2001:db8::9", "eth0")),
    ("IPv6 leave", "ff3e::1:2", lambda rx: rx.leave("ff3e::1:2", "eth0")),
    (
        "IPv6 join a channel",
        "ff3e::1:1",
        lambda rx: rx.join("ff3e::1:1", "eth0", source="2001:db8::2"),
    ),
    ("IPv6 leave the channel", "ff3e::1:1", lambda rx: rx.leave("ff3e::1:1", "eth0")),
]


def seen_for(
    group: ipaddress.IPv4Address | ipaddress.IPv6Address, messages: list[WireMessage]
) -> set[object]:
    """What A said about ``group``: its v3/v2 records, or its older messages (deduplicated)."""
    out: set[object] = set()
    for wire in messages:
        m = wire.message
        if isinstance(m, IgmpV3Report | MldV2Report):
            out |= {Record.of(r) for r in m.records if r.group == group}
        elif getattr(m, "group", None) == group:
            out.add(m)
    return out


async def drain(observer: Observer, seconds: float) -> list[WireMessage]:
    got: list[WireMessage] = []
    with trio.move_on_after(seconds):
        while True:
            item = await observer.next()
            wire = getattr(item, "wire", None)
            if wire is not None and not item.outgoing:  # type: ignore[union-attr]
                got.append(wire)
    return got


@pytest.mark.parametrize(("igmp", "mld"), [(3, 2), (2, 1)], ids=["IGMPv3+MLDv2", "IGMPv2+MLDv1"])
async def test_every_change_puts_exactly_the_predicted_messages_on_the_wire(lab, igmp, mld) -> None:
    force_v4 = 0 if igmp == 3 else igmp
    force_v6 = 0 if mld == 2 else mld
    async with lab(LAB.format(v4=force_v4, v6=force_v6), text=True) as running:
        with running.host("b").inside():
            observer = Observer.open("eth0")
        with observer:
            async with open_receiver(5000) as rx:
                await drain(observer, 0.3)  # the link's own start-up chatter
                with running.host("a").inside():
                    index = socket.if_nametoindex("eth0")
                for name, group_text, step in STEPS:
                    group = ipaddress.ip_address(group_text)
                    key = GroupKey(group, index)
                    before: Filter | None = interface_state([rx.filters().get(key)])
                    with running.host("a").inside():
                        step(rx)
                    after = interface_state([rx.filters().get(key)])
                    modern = igmp == 3 if group.version == 4 else mld == 2
                    if modern:
                        predicted: set[object] = set(state_change(group, before, after))
                    else:
                        old = igmp if group.version == 4 else mld
                        predicted = set(compat_change(group, before, after, old))
                    seen = seen_for(group, await drain(observer, 0.4))
                    assert seen == predicted, f"{name}: model {predicted}, wire {seen}"
