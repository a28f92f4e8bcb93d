"""Tour scene: a join watched on the wire, next to what the model predicts."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import trio

from ipv6 import write_sysctl

from ..membership._hostmodel import Record, interface_state, state_change
from ..membership._membership import Call, Filter, GroupKey, Memberships
from ..streams._receiver import open_receiver
from ..wire._igmp import IgmpV3Report
from ..wire._observer import Observed, Observer
from ..wire._wiretext import line
from ._stage import Stage

GROUP, SOURCE, BLOCKED = "232.9.9.9", "10.0.1.2", "10.0.1.3"
ASM = "239.9.9.9"


async def join_on_the_wire(stage: Stage) -> bool:
    if stage.lab is None:
        return _model_only(stage)
    a, b = stage.lab.host("a"), stage.lab.host("b")
    stage.say(
        "Host b watches IGMP on its link (mcast watch -i eth0) while host a joins a "
        "source-specific channel, joins a group any-source, blocks a source and leaves; "
        "each change is shown with the records the host model predicts."
    )
    stage.say(
        "(In this lab a retransmits each report after 10 ms instead of up to 1 s, so one "
        "change's reports are done before the next: a kernel merges pending retransmissions "
        "into later reports, as RFC 3376 says.)"
    )
    with a.inside():
        write_sysctl("net/ipv4/conf/eth0/igmpv3_unsolicited_report_interval", "10")
    with b.inside():
        observer = Observer.open("eth0")
    ok = True
    with observer:
        with trio.move_on_after(1.1):  # the last scene's retransmissions (up to 1 s) go by
            while True:
                await observer.next()
        async with open_receiver(0) as rx:
            with a.inside():
                index = socket.if_nametoindex("eth0")
            changes: list[tuple[str, str, Callable[[], object]]] = [
                (
                    f"join {GROUP} from {SOURCE}",
                    GROUP,
                    lambda: rx.join(GROUP, "eth0", source=SOURCE),
                ),
                (f"join {ASM} any-source", ASM, lambda: rx.join(ASM, "eth0")),
                (f"block {BLOCKED} on {ASM}", ASM, lambda: rx.block(ASM, BLOCKED, "eth0")),
                (f"leave {GROUP}", GROUP, lambda: rx.leave(GROUP, "eth0", source=SOURCE)),
            ]
            for title, group, change in changes:
                key = GroupKey(_ip(group), index)
                before = interface_state([rx.filters().get(key)])
                with a.inside():
                    change()
                after = interface_state([rx.filters().get(key)])
                predicted = state_change(key.group, before, after)
                first: Observed | None = None
                with trio.move_on_after(0.3):
                    while True:  # the first report about the group; then drain the rest
                        item = await observer.next()
                        if (
                            first is None
                            and isinstance(item, Observed)
                            and not item.outgoing
                            and isinstance(item.wire.message, IgmpV3Report)
                            and any(r.group == key.group for r in item.wire.message.records)
                        ):
                            first = item
                stage.say(f"a: {title}")
                rows = [f"model predicts  {' '.join(str(r) for r in predicted)}"]
                if first is None:
                    rows.append("wire           (nothing seen)")
                    ok = False
                else:
                    rows.append(f"wire           {line(first.time, 'b:eth0', False, first.wire)}")
                    assert isinstance(first.wire.message, IgmpV3Report)
                    said = {
                        Record.of(r) for r in first.wire.message.records if r.group == key.group
                    }
                    ok = ok and said == set(predicted)
                stage.show(rows)
    stage.say(
        "Each report carries exactly the records the model predicted (the oracle test checks "
        "every record, IGMPv3 and MLDv2, and IGMPv2 and MLDv1 too)."
    )
    return ok


def _model_only(stage: Stage) -> bool:
    stage.say(
        "Watching the wire needs a link with IGMP on it and CAP_NET_RAW; loopback carries no "
        "IGMP. Here is what the host model predicts a host would send for the same changes "
        "(as root, the tour shows the real reports next to these):"
    )
    model = Memberships()
    key = GroupKey(_ip(GROUP), 2)
    steps = [(f"join {GROUP} from {SOURCE}", "join_source"), (f"leave {GROUP}", "leave_source")]
    for title, call in steps:
        before: Filter | None = model.filter_of(key)
        model.apply(Call(call), key, _ip(SOURCE))
        after = model.filter_of(key)
        stage.show(
            [f"{title:<26} -> {' '.join(str(r) for r in state_change(key.group, before, after))}"]
        )
    return True


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)
