"""IP/ICMP translation (RFC 7915), checked against scapy as an independent
encoder and decoder: the translator's packets are read back by scapy, their
checksums recomputed by scapy, and the fields compared with the RFC's tables."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror, fragment
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPerror6,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrRouting,
    defragment6,
)

from ipv6._derive import nat64_embed, nat64_extract
from ipv6._errors import BadInput
from ipv6.translate._mapping import Prefix64, StatelessMapper
from ipv6.translate._siit import Translator

PREFIX = Prefix64.parse("64:ff9b:1::/96")
OWN4 = int(ipaddress.IPv4Address("192.0.2.1"))
HOST6 = "64:ff9b:1::a00:5"  # the IPv6 host's IPv4-translatable address (10.0.0.5)
SERVER4 = "198.51.100.7"
SERVER6 = "64:ff9b:1::c633:6407"


def translator(**kw: object) -> Translator:
    return Translator(StatelessMapper(PREFIX), OWN4, PREFIX.embed(OWN4) or 0, **kw)  # type: ignore[arg-type]


def good_checksums(packet: IP | IPv6) -> bool:
    """scapy recomputes every checksum of the packet; they must equal the translator's."""
    fresh = packet.copy()
    layer: Any
    for layer in (IP, TCP, UDP, ICMP):
        if fresh.haslayer(layer) and hasattr(fresh[layer], "chksum"):
            del fresh[layer].chksum
    for layer in (ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6DestUnreach, ICMPv6PacketTooBig,
                  ICMPv6TimeExceeded, ICMPv6ParamProblem):  # fmt: skip
        if fresh.haslayer(layer):
            del fresh[layer].cksum
    return raw(type(packet)(raw(fresh))) == raw(packet)


# --- RFC 6052 -----------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    length=st.sampled_from([32, 40, 48, 56, 64, 96]),
    high=st.integers(0, 2**32 - 1),
    v4=st.integers(0, 2**32 - 1),
)
def test_prefix_embeds_as_rfc_6052_says(length: int, high: int, v4: int) -> None:
    network = ipaddress.IPv6Network(
        ((0x2001 << 112 | high << 80) >> (128 - length) << (128 - length), length)
    )
    prefix = Prefix64.parse(str(network))
    address = ipaddress.IPv4Address(v4)
    expected = nat64_embed(address, network)  # ipaddress and octet positions, written apart
    assert prefix.embed(v4) == int(expected)
    assert prefix.extract(int(expected)) == v4
    assert nat64_extract(expected, network) == address


def test_prefix_examples_of_rfc_6052_section_2_4() -> None:
    examples = {
        "2001:db8::/32": "2001:db8:c000:221::",
        "2001:db8:100::/40": "2001:db8:1c0:2:21::",
        "2001:db8:122::/48": "2001:db8:122:c000:2:2100::",
        "2001:db8:122:300::/56": "2001:db8:122:3c0:0:221::",
        "2001:db8:122:344::/64": "2001:db8:122:344:c0:2:2100:0",
        "2001:db8:122:344::/96": "2001:db8:122:344::192.0.2.33",
    }
    v4 = int(ipaddress.IPv4Address("192.0.2.33"))
    for prefix, address in examples.items():
        assert Prefix64.parse(prefix).embed(v4) == int(ipaddress.IPv6Address(address))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2001:db8:0:0:100::/96", "bits 64 to 71"),
        ("2001:db8::/33", "/32, /40"),
        ("2001:db8::1/96", "host bits"),
        ("nonsense", "NAT64 prefix"),
    ],
)
def test_prefix_refuses_what_rfc_6052_forbids(text: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        Prefix64.parse(text)


def test_well_known_prefix_carries_only_global_ipv4() -> None:
    wkp = Prefix64.parse("64:ff9b::/96")
    assert wkp.embed(int(ipaddress.IPv4Address("10.1.2.3"))) is None
    assert wkp.extract(int(ipaddress.IPv6Address("64:ff9b::10.1.2.3"))) is None
    assert wkp.embed(int(ipaddress.IPv4Address("8.8.8.8"))) == int(
        ipaddress.IPv6Address("64:ff9b::8.8.8.8")
    )
    local = Prefix64.parse("64:ff9b:1::/96")  # RFC 8215's local-use prefix may carry them
    assert local.embed(int(ipaddress.IPv4Address("10.1.2.3"))) is not None


# --- headers, transport and echo ----------------------------------------------------------------


def test_tcp_from_ipv6_to_ipv4_field_by_field() -> None:
    sent = IPv6(src=HOST6, dst=SERVER6, hlim=64, tc=0xB8, fl=12345) / TCP(
        sport=40000, dport=80, flags="S", seq=7
    ) / (b"x" * 100)  # fmt: skip
    out = translator().from_v6(raw(sent), 0)
    assert out.drop is None
    (packet,) = out.packets
    got = IP(packet)
    assert (got.src, got.dst) == ("10.0.0.5", SERVER4)
    assert (got.tos, got.ttl, got.proto, got.len) == (0xB8, 63, 6, 20 + 20 + 100)
    assert got.flags == 0  # at most 1260 bytes: DF clear (RFC 7915 5.1)
    assert (got[TCP].sport, got[TCP].dport, got[TCP].seq) == (40000, 80, 7)
    assert bytes(got[TCP].payload) == b"x" * 100
    assert good_checksums(got)


def test_big_ipv6_packet_leaves_with_df_set() -> None:
    sent = IPv6(src=HOST6, dst=SERVER6) / UDP(sport=1, dport=2) / (b"y" * 1300)
    (packet,) = translator().from_v6(raw(sent), 0).packets
    assert IP(packet).flags == "DF"
    assert good_checksums(IP(packet))


def test_udp_from_ipv4_to_ipv6_field_by_field() -> None:
    sent = IP(src=SERVER4, dst="10.0.0.5", ttl=30, tos=0x10, flags="DF") / UDP(
        sport=53, dport=5353
    ) / b"answer"  # fmt: skip
    (packet,) = translator().from_v4(raw(sent), 0).packets
    got = IPv6(packet)
    assert (got.src, got.dst) == (SERVER6, HOST6)
    assert (got.tc, got.fl, got.hlim, got.nh, got.plen) == (0x10, 0, 29, 17, 14)
    assert not got.haslayer(IPv6ExtHdrFragment)
    assert good_checksums(got)


def test_udp_without_checksum_gets_one_in_ipv6() -> None:
    sent = IP(src=SERVER4, dst="10.0.0.5") / UDP(sport=53, dport=5353, chksum=0) / b"abc"
    (packet,) = translator().from_v4(raw(sent), 0).packets
    got = IPv6(packet)
    assert got[UDP].chksum != 0
    assert good_checksums(got)


def test_fragment_of_zero_checksum_udp_is_dropped() -> None:
    whole = IP(src=SERVER4, dst="10.0.0.5", id=9) / UDP(sport=53, dport=1, chksum=0) / (b"z" * 64)
    first = fragment(whole, fragsize=32)[0]
    assert translator().from_v4(raw(first), 0).drop == "udp_zero_checksum_fragment"


@pytest.mark.parametrize(("v4_type", "v6_layer"), [(8, ICMPv6EchoRequest), (0, ICMPv6EchoReply)])
def test_echo_from_ipv4(v4_type: int, v6_layer: type) -> None:
    sent = IP(src=SERVER4, dst="10.0.0.5") / ICMP(type=v4_type, id=77, seq=3) / b"ping"
    (packet,) = translator().from_v4(raw(sent), 0).packets
    got = IPv6(packet)
    assert got.haslayer(v6_layer)
    assert (got[v6_layer].id, got[v6_layer].seq, bytes(got[v6_layer].data)) == (77, 3, b"ping")
    assert good_checksums(got)


@pytest.mark.parametrize(("v6_layer", "v4_type"), [(ICMPv6EchoRequest, 8), (ICMPv6EchoReply, 0)])
def test_echo_from_ipv6(v6_layer: type, v4_type: int) -> None:
    sent = IPv6(src=HOST6, dst=SERVER6) / v6_layer(id=5, seq=9, data=b"pong")
    (packet,) = translator().from_v6(raw(sent), 0).packets
    got = IP(packet)
    assert (got[ICMP].type, got[ICMP].id, got[ICMP].seq) == (v4_type, 5, 9)
    assert good_checksums(got)


def test_neighbour_discovery_is_not_translated() -> None:
    sent = IPv6(src=HOST6, dst=SERVER6) / ICMPv6ND_NS(tgt=SERVER6)
    out = translator().from_v6(raw(sent), 0)
    assert (out.packets, out.drop) == ((), "icmp_untranslatable")


# --- the translator's own errors ----------------------------------------------------------------


def test_hop_limit_one_gets_time_exceeded_from_the_translator() -> None:
    sent = IPv6(src=HOST6, dst=SERVER6, hlim=1) / UDP(sport=1, dport=2)
    out = translator().from_v6(raw(sent), 0)
    assert out.drop == "hop_limit_exceeded"
    got = IPv6(out.packets[0])
    assert got.src == str(ipaddress.IPv6Address(PREFIX.embed(OWN4)))
    assert got.dst == HOST6
    assert (got[ICMPv6TimeExceeded].type, got[ICMPv6TimeExceeded].code) == (3, 0)
    assert good_checksums(got)


def test_ttl_one_gets_time_exceeded_from_the_translator() -> None:
    sent = IP(src=SERVER4, dst="10.0.0.5", ttl=1) / UDP(sport=1, dport=2)
    out = translator().from_v4(raw(sent), 0)
    got = IP(out.packets[0])
    assert (got.src, got.dst, got[ICMP].type, got[ICMP].code) == ("192.0.2.1", SERVER4, 11, 0)
    assert good_checksums(got)


def test_routing_header_with_segments_left_gets_parameter_problem() -> None:
    sent = (
        IPv6(src=HOST6, dst=SERVER6)
        / IPv6ExtHdrRouting(addresses=["2001:db8::1"], segleft=1)
        / UDP()
    )
    out = translator().from_v6(raw(sent), 0)
    assert out.drop == "routing_header"
    problem = IPv6(out.packets[0])[ICMPv6ParamProblem]
    assert (problem.code, problem.ptr) == (0, 43)


def test_unexpired_source_route_gets_source_route_failed() -> None:
    sent = IP(src=SERVER4, dst="10.0.0.5", options=b"\x83\x07\x04\x01\x02\x03\x04\x00") / UDP()
    out = translator().from_v4(raw(sent), 0)
    assert out.drop == "source_route"
    assert (IP(out.packets[0])[ICMP].type, IP(out.packets[0])[ICMP].code) == (3, 5)


def test_no_error_about_an_error() -> None:
    error = IPv6(src=HOST6, dst=SERVER6, hlim=1) / ICMPv6DestUnreach() / IPerror6(
        src=SERVER6, dst=HOST6
    ) / UDPerror()  # fmt: skip
    out = translator().from_v6(raw(error), 0)
    assert (out.packets, out.drop) == ((), "hop_limit_exceeded")


# --- ICMP errors, with the packet inside (RFC 7915 4.2 and 5.2) ---------------------------------


def _v4_error(kind: int, code: int, **fields: Any) -> bytes:
    """An IPv4 router's error about a UDP packet the IPv6 host sent (as translated)."""
    inner = IP(src="10.0.0.5", dst=SERVER4, ttl=5) / UDP(sport=4000, dport=53) / b"question"
    return raw(IP(src="203.0.113.9", dst="10.0.0.5") / ICMP(type=kind, code=code, **fields) / inner)


@pytest.mark.parametrize(
    ("kind", "code", "v6_type", "v6_code"),
    [
        (3, 0, 1, 0),
        (3, 1, 1, 0),
        (3, 3, 1, 4),
        (3, 9, 1, 1),
        (3, 13, 1, 1),
        (11, 0, 3, 0),
        (11, 1, 3, 1),
    ],
)
def test_icmp_errors_from_ipv4_follow_rfc_7915_table(
    kind: int, code: int, v6_type: int, v6_code: int
) -> None:
    (packet,) = translator().from_v4(_v4_error(kind, code), 0).packets
    got = IPv6(packet)
    assert (got.payload.type, got.payload.code) == (v6_type, v6_code)
    assert got.src == str(
        ipaddress.IPv6Address(PREFIX.embed(int(ipaddress.IPv4Address("203.0.113.9"))))
    )
    assert got.dst == HOST6
    inner = got[IPerror6]
    assert (inner.src, inner.dst, inner[UDPerror].sport, inner[UDPerror].dport) == (
        HOST6, SERVER6, 4000, 53,
    )  # fmt: skip
    assert good_checksums(got)


def test_fragmentation_needed_becomes_packet_too_big_with_20_more() -> None:
    (packet,) = translator().from_v4(_v4_error(3, 4, nexthopmtu=1400), 0).packets
    assert IPv6(packet)[ICMPv6PacketTooBig].mtu == 1420


def test_fragmentation_needed_without_mtu_uses_the_plateaus() -> None:
    inner = IP(src="10.0.0.5", dst=SERVER4, len=4000) / UDP(sport=1, dport=2)
    error = IP(src="203.0.113.9", dst="10.0.0.5") / ICMP(type=3, code=4) / inner
    # RFC 7915 4.2: the greatest of RFC 1191's plateaus below the total length (4000)
    # that is at least 1280, as the Packet Too Big's MTU (the next hops allowing it).
    (packet,) = translator(mtu=9000).from_v4(raw(error), 0).packets
    assert IPv6(packet)[ICMPv6PacketTooBig].mtu == 2002
    small = IP(src="10.0.0.5", dst=SERVER4, len=1400) / UDP(sport=1, dport=2)
    error = IP(src="203.0.113.9", dst="10.0.0.5") / ICMP(type=3, code=4) / small
    (packet,) = translator(mtu=9000).from_v4(raw(error), 0).packets
    assert IPv6(packet)[ICMPv6PacketTooBig].mtu == 1280  # 1006 is below IPv6's minimum


def test_protocol_unreachable_becomes_parameter_problem_at_next_header() -> None:
    (packet,) = translator().from_v4(_v4_error(3, 2), 0).packets
    problem = IPv6(packet)[ICMPv6ParamProblem]
    assert (problem.code, problem.ptr) == (1, 6)


@pytest.mark.parametrize(
    ("pointer", "v6_pointer"), [(0, 0), (1, 1), (2, 4), (8, 7), (9, 6), (12, 8), (16, 24)]
)
def test_parameter_problem_pointers_from_ipv4(pointer: int, v6_pointer: int) -> None:
    (packet,) = translator().from_v4(_v4_error(12, 0, ptr=pointer), 0).packets
    assert IPv6(packet)[ICMPv6ParamProblem].ptr == v6_pointer


def test_parameter_problem_without_ipv6_counterpart_is_dropped() -> None:
    assert translator().from_v4(_v4_error(12, 0, ptr=5), 0).drop == "icmp_untranslatable"


def _v6_error(layer: object) -> bytes:
    inner = IPv6(src=SERVER6, dst=HOST6, hlim=3) / TCP(sport=80, dport=40000, flags="SA")
    return raw(IPv6(src=HOST6, dst=SERVER6) / layer / inner)


@pytest.mark.parametrize(
    ("layer", "v4_type", "v4_code"),
    [
        (ICMPv6DestUnreach(code=0), 3, 1),
        (ICMPv6DestUnreach(code=1), 3, 10),
        (ICMPv6DestUnreach(code=3), 3, 1),
        (ICMPv6DestUnreach(code=4), 3, 3),
        (ICMPv6TimeExceeded(code=1), 11, 1),
        (ICMPv6ParamProblem(code=1), 3, 2),
    ],
)
def test_icmpv6_errors_follow_rfc_7915_table(layer: object, v4_type: int, v4_code: int) -> None:
    (packet,) = translator().from_v6(_v6_error(layer), 0).packets
    got = IP(packet)
    assert (got[ICMP].type, got[ICMP].code) == (v4_type, v4_code)
    assert (got.src, got.dst) == ("10.0.0.5", SERVER4)  # the host itself sent the error
    inner = got[IPerror]
    assert (inner.src, inner.dst, inner[TCPerror].sport, inner[TCPerror].dport) == (
        SERVER4, "10.0.0.5", 80, 40000,
    )  # fmt: skip
    assert good_checksums(got)


def test_packet_too_big_becomes_fragmentation_needed_with_20_less() -> None:
    (packet,) = translator().from_v6(_v6_error(ICMPv6PacketTooBig(mtu=1400)), 0).packets
    got = IP(packet)[ICMP]
    assert (got.type, got.code, got.nexthopmtu) == (3, 4, 1380)


def test_error_from_a_router_without_ipv4_address_comes_from_the_translator() -> None:
    inner = IPv6(src=SERVER6, dst=HOST6) / UDP(sport=53, dport=4000)
    error = IPv6(src="2001:db8:ffff::1", dst=SERVER6) / ICMPv6TimeExceeded() / inner
    (packet,) = translator().from_v6(raw(error), 0).packets
    assert IP(packet).src == "192.0.2.1"


# --- fragments and the lowest IPv6 MTU ----------------------------------------------------------


def test_ipv4_without_df_is_fragmented_to_fit_1280() -> None:
    data = bytes(range(256)) * 12
    sent = IP(src=SERVER4, dst="10.0.0.5", id=4242, flags=0) / UDP(sport=1, dport=2) / data
    packets = translator().from_v4(raw(sent), 0).packets
    assert len(packets) == 3
    assert all(len(p) <= 1280 for p in packets)
    fragments = [IPv6(p) for p in packets]
    assert {f[IPv6ExtHdrFragment].id for f in fragments} == {4242}
    whole = defragment6(fragments)
    assert bytes(whole[UDP].payload) == data
    assert good_checksums(IPv6(raw(whole)))


def test_ipv4_with_df_is_not_fragmented() -> None:
    sent = IP(src=SERVER4, dst="10.0.0.5", flags="DF") / UDP(sport=1, dport=2) / (b"d" * 2000)
    (packet,) = translator(mtu=9000).from_v4(raw(sent), 0).packets  # a next hop it fits
    assert len(packet) == 40 + 8 + 2000


def test_ipv4_fragments_become_ipv6_fragments_and_back() -> None:
    whole = IP(src=SERVER4, dst="10.0.0.5", id=77) / UDP(sport=5, dport=6) / (b"q" * 900)
    pieces = fragment(whole, fragsize=400)
    t = translator()
    v6 = [IPv6(p) for piece in pieces for p in t.from_v4(raw(piece), 0).packets]
    assert [f[IPv6ExtHdrFragment].m for f in v6] == [1, 1, 0]
    assert bytes(defragment6(v6)[UDP].payload) == b"q" * 900
    back = [IP(t.from_v6(raw(f), 0).packets[0]) for f in v6]
    assert [(b.frag, b.flags.MF, b.id) for b in back] == [(p.frag, p.flags.MF, 77) for p in pieces]


# --- round trips ---------------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    proto=st.sampled_from(["tcp", "udp"]),
    sport=st.integers(1, 65535),
    dport=st.integers(1, 65535),
    data=st.binary(max_size=1200),
    tc=st.integers(0, 255),
    hlim=st.integers(3, 255),
)
def test_there_and_back_again(
    proto: str, sport: int, dport: int, data: bytes, tc: int, hlim: int
) -> None:
    transport = (
        TCP(sport=sport, dport=dport, flags="A")
        if proto == "tcp"
        else UDP(sport=sport, dport=dport)
    )
    sent = IPv6(src=HOST6, dst=SERVER6, tc=tc, hlim=hlim) / transport / data
    t = translator()
    (v4,) = t.from_v6(raw(sent), 0).packets
    assert good_checksums(IP(v4))
    # What the server would answer: the same bytes, back along the path.
    reply = IP(v4)
    reply.src, reply.dst = reply.dst, reply.src
    layer = TCP if proto == "tcp" else UDP
    reply[layer].sport, reply[layer].dport = reply[layer].dport, reply[layer].sport
    del reply.chksum
    del reply[layer].chksum
    (v6,) = t.from_v4(raw(reply), 0).packets
    back = IPv6(v6)
    assert (back.src, back.dst, back.tc, back.hlim) == (SERVER6, HOST6, tc, hlim - 2)
    assert (back[layer].sport, back[layer].dport) == (dport, sport)
    assert bytes(back[layer].payload) == data
    assert good_checksums(back)


@settings(max_examples=200)
@given(st.binary(max_size=120))
def test_garbage_is_dropped_not_raised(data: bytes) -> None:
    t = translator()
    for packet in (b"\x45" + data, b"\x60" + data, data):
        for out in (t.from_v4(packet, 0), t.from_v6(packet, 0)):
            assert out.drop is not None or out.packets


def test_the_checksum_oracle_sees_a_wrong_checksum() -> None:
    (packet,) = translator().from_v6(raw(IPv6(src=HOST6, dst=SERVER6) / UDP() / b"abcd"), 0).packets
    broken = bytearray(packet)
    broken[-1] ^= 1
    assert good_checksums(IP(packet))
    assert not good_checksums(IP(bytes(broken)))


# --- the fast path of remembered flows ----------------------------------------------------------


@settings(max_examples=150)
@given(
    proto=st.sampled_from(["tcp", "udp"]),
    sport=st.integers(1, 65535),
    dport=st.integers(1, 65535),
    data=st.binary(max_size=1400),
    tc=st.integers(0, 255),
    hlim=st.integers(3, 255),
)
def test_the_fast_path_makes_what_the_full_path_makes(
    proto: str, sport: int, dport: int, data: bytes, tc: int, hlim: int
) -> None:
    """A flow's second packet takes the fast path; it must come out as the first did
    (but for the IPv4 identification, a counter)."""
    transport = TCP(sport=sport, dport=dport, flags="PA") if proto == "tcp" else UDP(
        sport=sport, dport=dport
    )  # fmt: skip
    sent6 = raw(IPv6(src=HOST6, dst=SERVER6, tc=tc, hlim=hlim) / transport / data)
    t = translator()
    (full,) = t.from_v6(sent6, 0).packets
    assert t.flows.items(to4=True)  # remembered
    (fast,) = t.from_v6(sent6, 0).packets
    assert isinstance(fast, bytearray)
    unidentified = [IP(bytes(p)) for p in (full, fast)]
    for p in unidentified:
        p.id = 0
        del p.chksum
    assert raw(unidentified[0]) == raw(unidentified[1])
    assert good_checksums(IP(bytes(fast)))
    back = IP(bytes(full))
    back.src, back.dst = back.dst, back.src
    layer = TCP if proto == "tcp" else UDP
    back[layer].sport, back[layer].dport = dport, sport
    del back.chksum
    del back[layer].chksum
    sent4 = raw(back)
    (full6,) = t.from_v4(sent4, 0).packets
    (fast6,) = t.from_v4(sent4, 0).packets
    assert isinstance(fast6, bytearray) and bytes(fast6) == bytes(full6)


def test_the_fast_path_leaves_syn_fin_rst_and_closed_sessions_to_the_full_path() -> None:
    from ipv6.translate._nat64 import Nat64Mapper

    mapper = Nat64Mapper(PREFIX, ipaddress.IPv4Network("203.0.113.0/30"))
    t = Translator(mapper, OWN4, PREFIX.embed(OWN4) or 0)
    syn = IPv6(src="2001:db8::10", dst=SERVER6) / TCP(sport=5, dport=80, flags="S")
    pool = IP(bytes(t.from_v6(raw(syn), 0).packets[0])).src
    t.from_v4(raw(IP(src=SERVER4, dst=pool) / TCP(sport=80, dport=5, flags="SA")), 0)
    ack = raw(IPv6(src="2001:db8::10", dst=SERVER6) / TCP(sport=5, dport=80, flags="A"))
    assert isinstance(t.from_v6(ack, 1).packets[0], bytes)  # full path, now remembered
    assert isinstance(t.from_v6(ack, 2).packets[0], bytearray)  # fast
    (row,) = mapper.rows(2)
    assert row.expires_in == 7440 and row.packets_out == 3  # refreshed and counted
    fin = raw(IPv6(src="2001:db8::10", dst=SERVER6) / TCP(sport=5, dport=80, flags="FA"))
    assert isinstance(t.from_v6(fin, 3).packets[0], bytes)
    assert mapper.rows(3)[0].state == "V6_FIN_RCV"
    t.expire(10_000)  # the session times out and closes
    assert t.from_v6(ack, 10_001).drop == "tcp_not_syn"  # not carried by a stale memory
