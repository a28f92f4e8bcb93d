"""Tour scene: a paced test stream, measured as it arrives."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import trio

from ..streams._receiver import open_receiver
from ..streams._sender import open_sender
from ..streams._streaming import send_stream
from ._stage import Stage

GROUP, COUNT, RATE, BURST = "239.2.2.2", 2000, 20000, 10


async def measured_stream(stage: Stage) -> bool:
    receiver, sender, interface = ("a", "b", "eth0") if stage.lab else (None, None, "lo")

    def inside(host: str | None) -> AbstractContextManager[None]:
        return stage.lab.host(host).inside() if (stage.lab and host) else nullcontext()

    where = f"host {receiver}" if receiver else "this host"
    source = f"host {sender}" if sender else "this host"
    stage.say(
        f"{source} sends {COUNT} datagrams to {GROUP}, {RATE:,} a second in bursts of {BURST}, "
        f"each with the toolkit's test header (stream id, sequence, send time); {where} "
        "measures the stream as it arrives:"
    )
    stage.show(
        [
            f"mcast join {GROUP} -p PORT -i {interface} -t 5",
            f"mcast send {GROUP} -p PORT -i {interface} --rate 20k --burst {BURST} --count {COUNT}",
        ],
        indent="   $ ",
    )
    # Room for the whole stream (2,000 datagrams of about 1 KB each in the kernel's
    # accounting): the sender shares this process, and on a loaded machine its pacing
    # catches up in bursts larger than the default buffer while the reader waits its turn.
    async with open_receiver(0, measure="toolkit", rcvbuf=4 << 20) as rx:
        with inside(receiver):
            rx.join(GROUP, interface)
        with inside(sender):
            tx = open_sender(GROUP, interface=interface)
        with tx:
            sent = await send_stream(
                tx, GROUP, rx.port, size=200, count=COUNT, rate=RATE, burst=BURST, stream=1
            )
        arrived = 0
        with trio.move_on_after(2):
            while arrived < COUNT:
                arrived += len(await rx.receive_batch())
        assert rx.streams is not None
        reports = rx.streams.reports()
    stage.say(f"Sent {sent.sent} in {sent.seconds:.3f} s ({sent.rate_pps:,.0f}/s). Received:")
    stage.show(
        [
            f"{r.source}:{r.source_port} -> {r.group} #{r.stream}: received {r.received}, "
            f"lost {r.lost}, duplicates {r.duplicates}, reordered {r.reordered}, "
            f"jitter {r.jitter_ms:.3f} ms, one-way delay at most {r.delay_ms.max or 0:.3f} ms "
            "(one clock: the sender's and receiver's are the same host's)"
            for r in reports
        ]
    )
    ok = len(reports) == 1 and reports[0].received == COUNT and reports[0].lost == 0
    if ok:
        stage.say(
            "Every datagram arrived once and in order. A gap, a duplicate or a late one "
            "would show in those numbers (mcast join --max-loss makes CI fail on loss)."
        )
    return ok
