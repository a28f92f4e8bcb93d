"""Control messages: decoded from what the kernel really sends, built as the
kernel accepts them (the oracle is the kernel, not the tables)."""

import ipaddress
import socket
import struct

import pytest

from ipv6 import sockopts
from ipv6.sockopts import HOST, drop_count, packet_info, send_from


def test_the_struct_formats_agree_with_the_platform_layouts():
    in_pktinfo, in6_pktinfo = HOST.layout("in_pktinfo"), HOST.layout("in6_pktinfo")
    assert in_pktinfo is not None and in6_pktinfo is not None
    assert sockopts.IN_PKTINFO.size == in_pktinfo.size()
    assert sockopts.IN6_PKTINFO.size == in6_pktinfo.size()


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_packet_info_reads_what_the_kernel_sends(family, host):
    receiver = socket.socket(family, socket.SOCK_DGRAM)
    sender = socket.socket(family, socket.SOCK_DGRAM)
    assert sockopts.SO_RXQ_OVFL is not None  # Linux has it
    with receiver, sender:
        if family == socket.AF_INET:
            receiver.setsockopt(socket.IPPROTO_IP, sockopts.IP_PKTINFO, 1)
        else:
            receiver.setsockopt(socket.IPPROTO_IPV6, sockopts.IPV6_RECVPKTINFO, 1)
        receiver.setsockopt(socket.SOL_SOCKET, sockopts.SO_RXQ_OVFL, 1)
        receiver.bind((host, 0))
        sender.sendto(b"x", receiver.getsockname())
        _, ancillary, _, _ = receiver.recvmsg(16, 256)
    infos = [packet_info(*message) for message in ancillary]
    assert [i for i in infos if i is not None] == [(host, socket.if_nametoindex("lo"))]
    # Linux adds SO_RXQ_OVFL only once the socket has dropped something.
    assert [d for d in (drop_count(*m) for m in ancillary) if d is not None] == []


def test_drop_count_reads_the_counter():
    assert sockopts.SO_RXQ_OVFL is not None
    counter = struct.pack("=I", 7)  # native order, as the kernel writes it
    assert drop_count(socket.SOL_SOCKET, sockopts.SO_RXQ_OVFL, counter) == 7


def test_other_messages_are_not_packet_info():
    assert packet_info(socket.IPPROTO_IP, sockopts.IP_TTL, bytes(4)) is None
    assert packet_info(socket.IPPROTO_IP, sockopts.IP_PKTINFO, bytes(3)) is None  # too short
    assert drop_count(socket.IPPROTO_IP, sockopts.IP_PKTINFO, bytes(12)) is None


@pytest.mark.parametrize(
    ("family", "source", "destination"),
    [(socket.AF_INET, "127.0.0.5", "127.0.0.1"), (socket.AF_INET6, "::1", "::1")],
)
def test_send_from_makes_the_kernel_send_from_that_address(family, source, destination):
    receiver = socket.socket(family, socket.SOCK_DGRAM)
    sender = socket.socket(family, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind((destination, 0))
        sender.sendmsg([b"x"], [send_from(ipaddress.ip_address(source))], 0, receiver.getsockname())
        _, peer = receiver.recvfrom(16)
    assert peer[0] == source


def test_arrival_time_is_the_kernels_and_lies_between_send_and_receive():
    import time

    assert sockopts.SO_TIMESTAMPNS is not None
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.setsockopt(socket.SOL_SOCKET, sockopts.SO_TIMESTAMPNS, 1)
        receiver.bind(("127.0.0.1", 0))
        before = time.time_ns()
        sender.sendto(b"x", receiver.getsockname())
        time.sleep(0.05)  # time under test: the stamp is the arrival's, 50 ms before the read
        _, ancillary, _, _ = receiver.recvmsg(16, 256)
        after = time.time_ns()
    (arrived,) = [a for a in (sockopts.arrival_ns(*m) for m in ancillary) if a is not None]
    assert before <= arrived <= after - 40_000_000  # stamped on arrival, not when read
