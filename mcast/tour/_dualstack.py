"""Tour scene: what connects to what on a dual-stack host (the probe's table)."""

from __future__ import annotations

from ipv6 import ProbeRow, run_probe

from ._stage import Stage


async def probe_table(stage: Stage) -> bool:
    stage.say(
        "Every listener kind against every client family, over TCP, on loopback "
        "(ipv6 dualstack probe shows UDP too, and as root both bindv6only values):"
    )
    if stage.lab is not None:
        rows: list[ProbeRow] = await stage.lab.host("a").run_trio(run_probe)
    else:
        rows = await run_probe()
    tcp = [r for r in rows if r.protocol == "TCP"]
    width = max(len(r.listener) for r in tcp)
    lines = [f"{'LISTENER':<{width}}  {'IPv4':<23}{'IPv6':<23}v4-mapped"]
    for listener in dict.fromkeys(r.listener for r in tcp):
        cells = []
        for client in ("IPv4", "IPv6", "v4-mapped"):
            row = next(r for r in tcp if r.listener == listener and r.client == client)
            cells.append(f"sees {row.server_saw}" if row.reached else "refused")
        lines.append(f"{listener:<{width}}  {cells[0]:<23}{cells[1]:<23}{cells[2]}")
    stage.show(lines)
    stage.say(
        "A dual-stack listener (IPV6_V6ONLY off) takes both families and sees IPv4 clients as "
        "::ffff:a.b.c.d; a v6-only one refuses IPv4, a v4-only one IPv6. A v4-mapped client is "
        "IPv4 on the wire."
    )
    dual = [r for r in tcp if r.listener == "dual-stack"]
    return all(r.reached for r in dual) and any(
        not r.reached for r in tcp if r.listener == "v6-only"
    )


async def hostile_clients(stage: Stage) -> bool:
    """The echo service against clients that reset, stay silent, or are one too many."""
    import socket
    import struct

    import trio

    from ipv6 import EchoService, Kind, make_socket

    stage.say(
        "The dual-stack echo service (ipv6 dualstack serve) is for pointing unfriendly "
        "clients at. Here, on loopback, with room for 2 connections and a 1 s idle timeout: "
        "two clients stay silent, a third is one too many, a fourth resets as soon as it has "
        "connected."
    )
    service = EchoService(0, lambda event: None, max_connections=2, idle_timeout=1.0)

    async def connect() -> tuple[trio.socket.SocketType, str]:
        sock = trio.socket.from_stdlib_socket(make_socket(Kind.DUAL, socket.SOCK_STREAM))
        await sock.connect(("::1", port))
        line = b""
        with trio.move_on_after(3):
            while not line.endswith(b"\n") and (chunk := await sock.recv(200)):
                line += chunk
        return sock, line.decode().strip()

    async with trio.open_nursery() as nursery:
        port = await nursery.start(service.serve)
        held = [await connect() for _ in range(2)]  # greeted, then left silent
        third, busy = await connect()
        third.close()
        await trio.sleep(1.5)  # the idle timeout closes the silent two
        for sock, _ in held:
            sock.close()
        resetter = trio.socket.from_stdlib_socket(make_socket(Kind.DUAL, socket.SOCK_STREAM))
        await resetter.connect(("::1", port))
        resetter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        resetter.close()
        last, after = await connect()
        last.close()
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    silent = [line for _, line in held]
    counters = service.counters
    stage.show(
        [
            f"silent clients were told: {silent[0]!r}",
            f"the third was told:       {busy!r}",
            f"after all that, a new client is told: {after!r}",
            f"counters: {counters.summary()}",
        ]
    )
    stage.say("Nothing a client does ends the service: each case is counted, and it goes on.")
    return (
        busy.startswith("busy")
        and after.startswith("you are")
        and counters.tcp_refused == 1
        and counters.tcp_timed_out >= 2
        and counters.tcp_reset + counters.tcp_closed >= 1
    )
