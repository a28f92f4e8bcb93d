"""Tour scene: does multicast reach from every host to every other? A ping matrix."""

from __future__ import annotations

import dataclasses
import socket

import trio

from ..ping._pingclient import multicast_ping, resolve_target
from ..ping._pingmatrix import grid_text, lab_matrix
from ..ping._pingresponder import Responder
from ._stage import Stage


async def ping_matrix(stage: Stage) -> bool:
    if not stage.lab:
        return await _loopback(stage)
    stage.say(
        "Each host answers multicast pings (RFC 6450, as ssmpingd does) and pings every other "
        "host: each request brings a unicast and a multicast reply, so every ordered pair "
        "shows whether multicast gets through where unicast does:"
    )
    stage.show([f"mcast ping --lab {stage.lab.name} --duration 2"], indent="   $ ")
    report = await lab_matrix(stage.lab.name, duration=2.0, interval=0.5)
    stage.show(grid_text(report).splitlines())
    ok = report.exit_status == 0 and len(report.pairs) == len(report.hosts) * (
        len(report.hosts) - 1
    )
    if ok:
        stage.say(
            "Every pair answered both ways. A host whose multicast is broken would show as "
            "its row of MULTICAST LOST, and the command would exit 6 (unicast works, "
            "multicast does not)."
        )
    return ok


async def _loopback(stage: Stage) -> bool:
    stage.say("A multicast ping of this host over loopback (responder and client here):")
    stage.show(["mcast ping --serve &", "mcast ping 127.0.0.1 -c 3"], indent="   $ ")
    responder = Responder(port=_free_port())  # 4321 may be a real responder's here
    responder.open()
    async with trio.open_nursery() as nursery:
        await nursery.start(responder.serve)
        target = await resolve_target("127.0.0.1", group=None, asm=False, interface=None)
        target = dataclasses.replace(target, port=responder.port)
        report = await multicast_ping(target, count=3, interval=0.2, wait=0.5)
        nursery.cancel_scope.cancel()
    for path in (report.unicast, report.multicast):
        stage.show([f"{path.path}: {path.received} of {path.sent} answered, "
                    f"rtt avg {path.rtt_ms.avg} ms"])  # fmt: skip
    return report.exit_status == 0


def _free_port() -> int:
    """A UDP port free on IPv4 and IPv6 loopback now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port = int(v4.getsockname()[1])
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
                try:
                    v6.bind(("::1", port))
                except OSError:
                    continue
        return port
