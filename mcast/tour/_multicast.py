"""Tour scene: a source-specific join and an EXCLUDE filter at work."""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager, nullcontext

import trio

from ipv6 import read_host_joins

from .._datagram import Datagram
from ..streams._receiver import open_receiver
from ..streams._sender import open_sender
from ._stage import Stage

SSM, ASM, SSM6 = "232.1.1.1", "239.1.1.1", "ff3e::1:1"


async def filters_at_work(stage: Stage) -> bool:
    if stage.lab is None:
        return await _play(
            stage,
            receiver=None,
            interface="lo",
            wanted="127.0.0.1",
            blocked="127.0.0.2",
            senders={"127.0.0.1": None, "127.0.0.2": None},
            ipv6=None,
        )
    return await _play(
        stage,
        receiver="a",
        interface="eth0",
        wanted="10.0.1.2",
        blocked="10.0.1.3",
        senders={"10.0.1.2": "b", "10.0.1.3": "c"},
        ipv6=("2001:db8:0:2::2", "2001:db8:0:2::3"),
    )


async def _play(
    stage: Stage,
    *,
    receiver: str | None,
    interface: str,
    wanted: str,
    blocked: str,
    senders: dict[str, str | None],
    ipv6: tuple[str, str] | None,
) -> bool:
    def inside(host: str | None) -> AbstractContextManager[None]:
        return stage.lab.host(host).inside() if (stage.lab and host) else nullcontext()

    where = f"host {receiver}" if receiver else "this host"
    stage.say(
        f"{where} joins {SSM} source-specific from {wanted} only, and {ASM} any-source "
        f"with {blocked} blocked{' (and ' + SSM6 + ' from ' + ipv6[0] + ')' if ipv6 else ''}. "
        "Then every sender sends to every group."
    )
    stage.show(
        [
            f"mcast join {SSM} -p PORT -i {interface} --source {wanted}",
            f"mcast join {ASM} -p PORT -i {interface} --exclude {blocked}",
        ],
        indent="   $ ",
    )
    async with open_receiver(0) as rx:
        with inside(receiver):
            rx.join(SSM, interface, source=wanted)
            rx.join(ASM, interface)
            rx.block(ASM, blocked, interface)
            if ipv6:
                rx.join(SSM6, interface, source=ipv6[0])
            joins = [j for j in read_host_joins() if str(j.group) in (SSM, ASM, SSM6)]
        for source, host in senders.items():
            with inside(host):
                # On loopback each "sender" is a 127/8 source address of this host.
                tx = open_sender(SSM, interface=interface, source=None if host else source)
            with tx:
                for group in (SSM, ASM):
                    await tx.send(f"hello from {source}".encode(), group, rx.port)
        if ipv6:
            for source, host in zip(ipv6, ("b", "c"), strict=True):
                with inside(host):
                    tx6 = open_sender(SSM6, interface=interface)
                with tx6:
                    await tx6.send(f"hello from {source}".encode(), SSM6, rx.port)
        got: list[Datagram] = []
        with trio.move_on_after(0.5):
            while True:
                got += await rx.receive_batch()
    seen = Counter((d.group, d.source) for d in got)
    stage.say(f"What {where} received:")
    groups = [SSM, ASM] + ([SSM6] if ipv6 else [])
    all_sources = list(senders) + (list(ipv6) if ipv6 else [])
    rows = []
    for group in groups:
        for source in all_sources:
            if (":" in group) != (":" in source):
                continue
            rows.append(f"{group:<12} from {source:<18} {seen[(group, source)]} datagram(s)")
    stage.show(rows)
    stage.say(f"The kernel's view ({where}: mcast show joins):")
    stage.show(
        [
            f"{j.interface:<5} {j.group!s:<12} {j.mode.upper():<8} "
            + (", ".join(str(s) for s in j.filter_sources) or "-")
            for j in joins
        ]
    )
    expected = {(SSM, wanted): 1, (ASM, wanted): 1}
    for source in senders:
        if source != blocked:
            expected[(ASM, source)] = 1
    if ipv6:
        expected[(SSM6, ipv6[0])] = 1
    ok = dict(seen) == expected
    if ok:
        stage.say(
            f"Only {wanted} got through on {SSM}; everyone but {blocked} on {ASM}: "
            "the filters filter."
        )
    if not ipv6:
        stage.say("(IPv6 multicast needs a multicast-capable link; loopback is not one.)")
    return ok
