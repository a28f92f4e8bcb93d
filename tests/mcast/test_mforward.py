"""The userspace multicast forwarding plane's decisions (mcast/routing/_mforward.py).

The oracle for the bytes is scapy: a datagram it builds goes through the
forwarder, and what comes out must be what scapy builds with the TTL (hop
limit) one less and every checksum computed afresh. The rules are ipmr's and
ip6mr's (net/ipv4/ipmr.c ip_mr_forward: an entry counts a datagram before its
RPF check, a copy goes out where the TTL is above the threshold, never back
where it came in for (*,G)). The kernel filter is run by the kernel itself,
on a socket pair.
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop

from mcast.routing._mforward import (
    BAD_CHECKSUM,
    BAD_SOURCE,
    BELOW_THRESHOLD,
    MALFORMED,
    NO_ROUTE,
    NOT_ROUTABLE,
    TOO_BIG,
    TTL_EXPIRED,
    WRONG_INTERFACE,
    Forwarder,
    Port,
    _group_list,
    _routable_test,
    encode_filter,
    finish_checksum,
    multicast_mac,
)
from mcast.routing._mroutes import Route, plan

INDEXES = {"eth0": 2, "eth1": 3, "eth2": 4, "eth3": 5}
S4, G4, S6, G6 = "10.0.1.2", "239.1.1.1", "2001:db8:1::2", "ff1e::1"


def forwarder(*routes: Route, family: int = 4, mtu: int = 1500) -> Forwarder:
    f = Forwarder(family)
    f.load(plan(list(routes), INDEXES), {i: Port(i, mtu) for i in INDEXES.values()})
    return f


def v4(ttl: int = 5, src: str = S4, dst: str = G4, payload: bytes = b"x" * 20) -> bytes:
    return bytes(IP(src=src, dst=dst, ttl=ttl) / UDP(sport=1000, dport=7000) / payload)


def v6(hlim: int = 5, src: str = S6, dst: str = G6, payload: bytes = b"x" * 20) -> bytes:
    return bytes(IPv6(src=src, dst=dst, hlim=hlim) / UDP(sport=1000, dport=7000) / payload)


def expected_v4(data: bytes) -> bytes:
    """What a router sends: scapy's own packet with the TTL one less, checksum afresh."""
    packet = IP(data)
    packet.ttl -= 1
    del packet.chksum
    return bytes(packet)


SG4 = Route(G4, S4, "eth0", (("eth1", 1), ("eth2", 1)))
STAR4 = Route(G4, None, "eth0", (("eth1", 1), ("eth2", 1)))


def test_an_sg_route_forwards_what_arrives_on_its_inbound_interface() -> None:
    f = forwarder(SG4)
    data = v4()
    verdict = f.forward(data, INDEXES["eth0"])
    assert sorted(verdict.out) == [INDEXES["eth1"], INDEXES["eth2"]]
    assert bytes(verdict.packet) == expected_v4(data)
    counters = f.counters()[G4, S4]
    assert (counters.packets, counters.bytes, counters.wrong_interface) == (1, len(data), 0)


def test_the_rpf_check_counts_as_ipmr_does() -> None:
    """From elsewhere: dropped and counted as a wrong interface, and (as ip_mr_forward
    counts) in the entry's packets too."""
    f = forwarder(SG4)
    verdict = f.forward(v4(), INDEXES["eth1"])
    assert verdict.out == [] and verdict.reason == WRONG_INTERFACE
    counters = f.counters()[G4, S4]
    assert (counters.packets, counters.wrong_interface) == (1, 1)
    # Another source has no (S,G) entry: a miss (the kernel's upcall), with its (S,G).
    verdict = f.forward(v4(src="10.0.1.9"), INDEXES["eth0"])
    assert verdict.reason == NO_ROUTE and verdict.miss is not None
    assert [str(a) for a in verdict.miss] == ["10.0.1.9", G4]


def test_a_star_g_route_is_found_only_on_its_interfaces_and_forwards_from_its_inbound() -> None:
    f = forwarder(STAR4)
    assert sorted(f.forward(v4(src="10.9.9.9"), INDEXES["eth0"]).out) == [3, 4]
    assert f.forward(v4(), INDEXES["eth1"]).reason == WRONG_INTERFACE  # on its set
    assert f.forward(v4(), INDEXES["eth3"]).reason == NO_ROUTE  # not on its set
    # An (S,G) entry takes precedence over the (*,G) one.
    both = forwarder(STAR4, Route(G4, S4, "eth3", (("eth1", 1),)))
    assert both.forward(v4(), INDEXES["eth3"]).out == [INDEXES["eth1"]]


@pytest.mark.parametrize(
    ("ttl", "threshold", "reason"),
    [(1, 1, TTL_EXPIRED), (0, 1, TTL_EXPIRED), (5, 10, BELOW_THRESHOLD), (10, 10, BELOW_THRESHOLD)],
)
def test_a_copy_needs_a_ttl_above_the_threshold(ttl: int, threshold: int, reason: str) -> None:
    f = forwarder(Route(G4, S4, "eth0", (("eth1", threshold),)))
    verdict = f.forward(v4(ttl=ttl), INDEXES["eth0"])
    assert verdict.out == [] and verdict.reason == reason
    assert f.dropped[reason] == 1


def test_thresholds_choose_the_interfaces() -> None:
    f = forwarder(Route(G4, S4, "eth0", (("eth1", 1), ("eth2", 10))))
    assert f.forward(v4(ttl=5), INDEXES["eth0"]).out == [INDEXES["eth1"]]
    assert sorted(f.forward(v4(ttl=11), INDEXES["eth0"]).out) == [3, 4]


def test_ipv6_hop_limit_and_extension_headers() -> None:
    f = forwarder(Route(G6, S6, "eth0", (("eth1", 1),)), family=6)
    data = bytes(
        IPv6(src=S6, dst=G6, hlim=9) / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2) / b"abc"
    )
    verdict = f.forward(data, INDEXES["eth0"])
    packet = IPv6(data)
    packet.hlim -= 1
    assert verdict.out == [INDEXES["eth1"]] and bytes(verdict.packet) == bytes(packet)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (v4()[:19], MALFORMED),
        (v4()[:30], MALFORMED),  # shorter than its total length
        (b"\x60" + v4()[1:], MALFORMED),  # not IPv4
        (v4()[:10] + b"\0\0" + v4()[12:], BAD_CHECKSUM),
        (v4(src="224.1.1.1"), BAD_SOURCE),
        (v4(src="127.0.0.1"), BAD_SOURCE),
        (v4(src="0.1.2.3"), BAD_SOURCE),
        (v4(src="255.255.255.255"), BAD_SOURCE),
        (v4(dst="224.0.0.5"), NOT_ROUTABLE),
        (v4(dst="10.0.0.1"), NOT_ROUTABLE),
    ],
)
def test_what_no_router_forwards_is_counted_by_reason(data: bytes, reason: str) -> None:
    f = forwarder(SG4, STAR4)
    verdict = f.forward(data, INDEXES["eth0"])
    assert verdict.out == [] and verdict.reason == reason and f.dropped[reason] == 1


@pytest.mark.parametrize(
    ("source", "group", "reason"),
    [("ff02::1", G6, BAD_SOURCE), ("::1", G6, BAD_SOURCE), ("::", G6, BAD_SOURCE),
     (S6, "ff02::5", NOT_ROUTABLE), (S6, "ff01::5", NOT_ROUTABLE)],
)  # fmt: skip
def test_ipv6_sources_and_scopes(source: str, group: str, reason: str) -> None:
    f = forwarder(Route(G6, None, "eth0", (("eth1", 1),)), family=6)
    assert f.forward(v6(src=source, dst=group), INDEXES["eth0"]).reason == reason


def test_link_padding_is_cut_and_too_big_copies_are_dropped() -> None:
    f = forwarder(SG4, mtu=1500)
    data = v4()
    verdict = f.forward(data + bytes(20), INDEXES["eth0"])  # an Ethernet frame's padding
    assert bytes(verdict.packet) == expected_v4(data)
    small = forwarder(SG4, mtu=40)
    verdict = small.forward(data, INDEXES["eth0"])
    assert verdict.out == [] and verdict.reason == TOO_BIG and small.dropped[TOO_BIG] == 2


def _fold(total: int) -> int:
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _left_to_finish(data: bytes) -> bytearray:
    """A UDP datagram as a stack with checksum offload hands it over: the checksum
    field holds the pseudo-header's sum only (RFC 768's pseudo-header, by hand)."""
    packet = bytearray(data)
    src, dst = packet[12:16], packet[16:20]
    udp_length = len(packet) - 20
    words = [int.from_bytes(w[i : i + 2], "big") for w in (src, dst) for i in (0, 2)]
    packet[26:28] = _fold(sum(words) + 17 + udp_length).to_bytes(2, "big")
    return packet


@given(st.binary(max_size=300), st.integers(min_value=2, max_value=255))
def test_a_checksum_left_to_finish_is_finished_as_scapy_computes_it(
    payload: bytes, ttl: int
) -> None:
    f = forwarder(SG4)
    data = v4(ttl=ttl, payload=payload)
    verdict = f.forward(bytes(_left_to_finish(data)), INDEXES["eth0"], partial=True)
    assert bytes(verdict.packet) == expected_v4(data)


@given(st.binary(max_size=300), st.integers(min_value=2, max_value=255), st.booleans())
def test_any_datagram_leaves_as_scapy_builds_it(payload: bytes, ttl: int, ipv6: bool) -> None:
    if ipv6:
        f = forwarder(Route(G6, S6, "eth0", (("eth1", 1),)), family=6)
        data = v6(hlim=ttl, payload=payload)
        packet = IPv6(data)
        packet.hlim -= 1
        expected = bytes(packet)
    else:
        f = forwarder(SG4)
        data = v4(ttl=ttl, payload=payload)
        expected = expected_v4(data)
    assert bytes(f.forward(data, INDEXES["eth0"]).packet) == expected


def test_finish_checksum_refuses_a_transport_it_cannot_find() -> None:
    packet = bytearray(bytes(IP(src=S4, dst=G4, proto=200) / (b"x" * 8)))
    assert not finish_checksum(4, packet)


def test_multicast_macs() -> None:
    """RFC 1112 6.4 (the low 23 bits), RFC 2464 7 (33:33 and the last 32 bits)."""
    assert multicast_mac(socket.inet_aton("239.129.2.3")).hex(":") == "01:00:5e:01:02:03"
    assert multicast_mac(socket.inet_pton(socket.AF_INET6, "ff1e::1:2:3")).hex(":") == (
        "33:33:00:02:00:03"
    )


def _kernel_passes(program: bytes, datagram: bytes) -> bool:
    """Whether the kernel's classic BPF interpreter lets ``datagram`` through: the
    program on the receiving end of a datagram socket pair (its data at offset 0)."""
    import ctypes
    import struct

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
        b.setblocking(False)
        a.send(datagram)
        try:
            b.recv(65536)
        except BlockingIOError:
            return False
        return True


@pytest.mark.parametrize(
    ("groups", "family", "passes", "stops"),
    [
        (None, 4, ["239.1.1.1", "224.0.1.1", "232.1.1.1"], ["224.0.0.22", "10.0.0.1"]),
        (None, 6, ["ff1e::1", "ff05::2", "ff3e::1:2"], ["ff02::16", "ff01::1", "2001:db8::1"]),
        ({"239.1.1.1", "239.2.2.2"}, 4, ["239.1.1.1", "239.2.2.2"], ["239.3.3.3", "224.0.0.1"]),
        ({"ff1e::1", "ff1e::2:1"}, 6, ["ff1e::1", "ff1e::2:1"], ["ff1e::2", "ff1e::1:1"]),
        ({f"239.0.0.{n}" for n in range(24)}, 4, ["239.0.0.0", "239.0.0.23"], ["239.0.0.24"]),
        ({f"ff1e::{n:x}" for n in range(24)}, 6, ["ff1e::0", "ff1e::17"], ["ff1e::18"]),
    ],
)
def test_the_kernel_runs_the_group_filter_as_meant(groups, family, passes, stops) -> None:
    """The filter's group part, run by the kernel on each destination (the part that
    tests the arrival interface runs in the live tests: it needs a real device)."""
    if groups is None:
        program = encode_filter(_routable_test(family))
    else:
        kind = socket.AF_INET if family == 4 else socket.AF_INET6
        program = encode_filter(_group_list(family, sorted(socket.inet_pton(kind, g)
                                                           for g in groups)))  # fmt: skip
    build = v4 if family == 4 else v6
    source = S4 if family == 4 else S6
    for group in passes:
        assert _kernel_passes(program, build(src=source, dst=group)), group
    for group in stops:
        assert not _kernel_passes(program, build(src=source, dst=group)), group
