"""An ICMP error queued on a UDP socket (what IP_RECVERR/IPV6_RECVERR surface as
a failed receive) ends nothing: the receiver and the echo service count it and
read on. Loopback only; the error is made by sending to a closed port."""

from __future__ import annotations

import select
import socket

import trio

from tests.waiting import wait_until

IP_RECVERR, IPV6_RECVERR = 11, 25


async def error_queued(sock: socket.socket) -> None:
    """Until the ICMP error is on the socket's error queue (POLLERR; nothing read)."""
    poller = select.poll()
    poller.register(sock, select.POLLERR)
    await wait_until(lambda: poller.poll(0), "the ICMP error on the socket's queue")


def closed_port(family: int) -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        return int(probe.getsockname()[1])


async def test_the_receiver_counts_a_queued_error_and_reads_on() -> None:
    from mcast import open_receiver

    async with open_receiver(0, bind="127.0.0.1") as rx:
        rx.join("239.255.77.77", "lo")
        (slot,) = rx._slots
        slot.sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        slot.sock.sendto(b"x", ("127.0.0.1", closed_port(socket.AF_INET)))  # -> port unreachable
        await error_queued(slot.sock)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"after the error", ("127.0.0.1", rx.port))
        with trio.fail_after(5):
            datagram = await rx.receive()
    assert datagram.payload == b"after the error"
    assert dict(rx.errors) == {"ECONNREFUSED": 1}


async def test_the_echo_service_counts_a_queued_error_and_answers_on() -> None:
    from ipv6.dualstack._dualsockets import DualStackUDP
    from ipv6.dualstack._echo import EchoService

    service = EchoService(0, lambda event: None)
    udp = DualStackUDP(0, "::1")
    udp.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    udp.sock.sendto(b"x", ("::1", closed_port(socket.AF_INET6)))
    await error_queued(udp.sock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service._udp_loop, udp)
        with trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
            await client.sendto(b"ping", ("::1", udp.port))
            with trio.fail_after(5):
                assert (await client.recvfrom(100))[0] == b"ping"
        nursery.cancel_scope.cancel()
    udp.close()
    counters = service.counters
    assert counters.udp_failed == 1 and dict(counters.errors) == {"ECONNREFUSED": 1}
    assert counters.udp_received == counters.udp_replied == 1
