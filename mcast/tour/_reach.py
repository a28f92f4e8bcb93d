"""Tour scene: UDP echo between every pair of hosts, over IPv4 and IPv6."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_interface

import trio

from ._stage import Stage

TIMEOUT = 2.0
OpenSocket = Callable[[str, int], trio.socket.SocketType]


@dataclass(frozen=True)
class Peer:
    host: str
    address: str
    family: int


async def _echo(sock: trio.socket.SocketType) -> None:
    while True:
        data, peer = await sock.recvfrom(2048)
        await sock.sendto(data, peer)


async def _ask(sock: trio.socket.SocketType, target: Peer, port: int) -> float | None:
    """Round-trip time in ms of one datagram to ``target``, or None on timeout."""
    message = f"tour hello to {target.host}".encode()
    started = time.perf_counter()
    await sock.sendto(message, (target.address, port))
    with trio.move_on_after(TIMEOUT):
        while True:
            data, _ = await sock.recvfrom(2048)
            if data == message:
                return (time.perf_counter() - started) * 1000
    return None


def _bound(sock: trio.socket.SocketType, family: int) -> trio.socket.SocketType:
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


async def reach_everyone(stage: Stage) -> bool:
    if stage.lab is None:
        peers = [
            Peer("this host", "127.0.0.1", socket.AF_INET),
            Peer("this host", "::1", socket.AF_INET6),
        ]
        return await _matrix(
            stage, peers, lambda _host, family: trio.socket.socket(family, socket.SOCK_DGRAM)
        )
    detail = await stage.lab.describe()
    peers = []
    for host, info in detail.hosts.items():
        for iface in info.interfaces:
            for addr in iface.addresses:
                ip = ip_interface(addr.address).ip
                if iface.name != "lo" and addr.scope == "global":
                    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
                    peers.append(Peer(host, str(ip), family))
    lab = stage.lab
    return await _matrix(
        stage, peers, lambda host, family: lab.host(host).socket(family, socket.SOCK_DGRAM)
    )


async def _matrix(stage: Stage, peers: list[Peer], open_socket: OpenSocket) -> bool:
    stage.say(
        "Each host answers UDP echo on each of its addresses; every host sends one datagram "
        "to every address of the others (to itself on loopback) and times the answer."
    )
    ok = True
    rows = []
    ports: dict[Peer, int] = {}
    async with trio.open_nursery() as nursery:
        responders = []
        for peer in peers:
            sock = _bound(open_socket(peer.host, peer.family), peer.family)
            await sock.bind((peer.address, 0))
            ports[peer] = sock.getsockname()[1]
            responders.append(sock)
            nursery.start_soon(_echo, sock)
        senders = sorted({p.host for p in peers})
        for source in senders:
            for target in peers:
                if target.host == source and len(senders) > 1:
                    continue
                with open_socket(source, target.family) as sock:
                    rtt = await _ask(sock, target, ports[target])
                family = "IPv4" if target.family == socket.AF_INET else "IPv6"
                result = f"{rtt:.3f} ms" if rtt is not None else "NO ANSWER"
                ok = ok and rtt is not None
                rows.append(
                    f"{source:>9} -> {target.host:<9} {family}  {target.address:<20} {result}"
                )
        nursery.cancel_scope.cancel()
    for sock in responders:
        sock.close()
    stage.show(rows)
    stage.say("Every pair answered." if ok else "Some pairs did not answer.")
    return ok
