"""Tour scene: a link-local ping with a zone (the seeds' Configuration 1)."""

from __future__ import annotations

import socket

import trio

from ipv6 import (
    AmbiguousScope,
    Destination,
    InterfaceRef,
    PingResult,
    Reply,
    choose_zone,
    eui64_address,
    parse_mac,
    ping,
    resolve_destination,
)

from ._stage import Stage


async def link_local_ping(stage: Stage) -> bool:
    if stage.lab is None:
        return await _on_loopback(stage)
    a = stage.lab.host("a")
    detail = await stage.lab.describe()
    mac = next(i.mac for i in detail.hosts["b"].interfaces if i.name == "eth0") or ""
    target = eui64_address(parse_mac(mac))
    stage.say(
        f"b's eth0 has MAC {mac}; its link-local address is the modified EUI-64 "
        f"{target} (ipv6 addr eui64 {mac}). a pings it with a zone:"
    )
    with a.inside():
        destination = resolve_destination(f"{target}%eth0")
    lines: list[str] = []
    result = await a.run_trio(_ping_quietly, destination, lines)
    stage.show(
        [
            f"$ ipv6 ping {destination} -c 2",
            *lines,
            f"{result.transmitted} transmitted, {result.received} received",
        ]
    )
    stage.say(
        "Without a zone, a host with more than one link cannot tell which is meant; "
        "ipv6 ping refuses and says how to choose:"
    )
    with a.inside():
        links = [InterfaceRef(i, n) for i, n in socket.if_nameindex() if n != "lo"]
    extra = InterfaceRef(99, "eth1") if len(links) == 1 else None
    try:
        choose_zone(target, None, links + ([extra] if extra else []), how="use -I INTERFACE")
        refused = ""
    except AmbiguousScope as exc:
        refused = str(exc)
    note = " (as it would be with a second link)" if extra else ""
    stage.show([f"$ ipv6 ping {target}{note}", f"ipv6 ping: {refused}"])
    return result.received == 2 and bool(refused)


async def _ping_quietly(destination: Destination, lines: list[str]) -> PingResult:
    def show(reply: Reply) -> None:
        timing = f"icmp_seq={reply.seq} time={reply.rtt_ms:.3f} ms"
        lines.append(f"{reply.size} bytes from {reply.source}: {timing}")

    return await ping(destination, count=2, interval=0.2, on_reply=show)


async def _on_loopback(stage: Stage) -> bool:
    stage.say(
        "A link-local address needs a zone: fe80::1%eth0 means fe80::1 on eth0. On loopback "
        "there is no link to ping across; the address and zone rules still apply:"
    )
    mac = "00-60-08-52-f9-d8"
    address = eui64_address(parse_mac(mac))
    two = [InterfaceRef(2, "eth0"), InterfaceRef(3, "eth1")]
    try:
        choose_zone(address, None, two, how="use -I INTERFACE")
        refused = ""
    except AmbiguousScope as exc:
        refused = str(exc)
    chosen = choose_zone(address, "eth0", two)
    stage.show(
        [
            f"ipv6 addr eui64 {mac}  ->  {address}  (the seeds' example)",
            f"with zone eth0: sockaddr {chosen.sockaddr()}",
            f"without a zone, on a host with eth0 and eth1: {refused}",
        ]
    )
    await trio.lowlevel.checkpoint()
    return str(address) == "fe80::260:8ff:fe52:f9d8" and bool(refused)
