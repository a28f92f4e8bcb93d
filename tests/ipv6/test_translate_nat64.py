"""Stateful NAT64 (RFC 6146) through the translator: bindings, sessions and
their timers, TCP's states, filtering, hairpinning, ICMP errors about
translated flows, fragments and the bounds; packets read back with scapy."""

from __future__ import annotations

import ipaddress

from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP, TCPerror, UDPerror, fragment
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    IPerror6,
    IPv6,
    IPv6ExtHdrFragment,
    fragment6,
)
from scapy.packet import Packet

from ipv6.translate._mapping import Prefix64
from ipv6.translate._nat64 import BOTH_FIN, ESTABLISHED, TRANS, Nat64Mapper, Timeouts
from ipv6.translate._siit import Translator

PREFIX = Prefix64.parse("64:ff9b:1::/96")
POOL = ipaddress.IPv4Network("203.0.113.0/30")
HOST = "2001:db8:6::10"
OTHER = "2001:db8:6::11"
SERVER4 = "198.51.100.7"
SERVER6 = "64:ff9b:1::c633:6407"
TIMEOUTS = Timeouts(udp=30, tcp_established=100, tcp_transitory=10, tcp_incoming_syn=6, icmp=5)


def nat(**kw: object) -> tuple[Translator, Nat64Mapper]:
    mapper = Nat64Mapper(PREFIX, POOL, timeouts=TIMEOUTS, **kw)  # type: ignore[arg-type]
    own4 = int(ipaddress.IPv4Address("192.0.2.1"))
    return Translator(mapper, own4, PREFIX.embed(own4) or 0), mapper


def out4(t: Translator, packet: Packet, now: float = 0) -> IP:
    result = t.from_v6(raw(packet), now)
    assert result.drop is None, result.drop
    (only,) = result.packets
    return IP(only)


def in6(t: Translator, packet: Packet, now: float = 0) -> IPv6:
    result = t.from_v4(raw(packet), now)
    assert result.drop is None, result.drop
    (only,) = result.packets
    return IPv6(only)


def test_udp_gets_a_pool_address_and_keeps_its_port() -> None:
    t, mapper = nat()
    got = out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=5000, dport=53) / b"q")
    assert ipaddress.IPv4Address(got.src) in POOL
    assert (got.dst, got[UDP].sport, got[UDP].dport) == (SERVER4, 5000, 53)
    answer = IP(src=SERVER4, dst=got.src) / UDP(sport=53, dport=5000) / b"a"
    back = in6(t, answer)
    assert (back.src, back.dst, back[UDP].dport) == (SERVER6, HOST, 5000)
    assert mapper.sessions == 1


def test_a_taken_port_is_replaced_and_mapped_back() -> None:
    t, _ = nat(ports=(1024, 65535))
    first = out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=5000, dport=53))
    pool_addr = first.src
    # Another host that lands on the same pool address with the same port:
    other = None
    for n in range(0x20, 0x200):
        candidate = f"2001:db8:6::{n:x}"
        got = out4(t, IPv6(src=candidate, dst=SERVER6) / UDP(sport=5000, dport=53))
        if got.src == pool_addr:
            other = (candidate, got[UDP].sport)
            break
    assert other is not None
    assert other[1] != 5000
    back = in6(t, IP(src=SERVER4, dst=pool_addr) / UDP(sport=53, dport=other[1]))
    assert (back.dst, back[UDP].dport) == (other[0], 5000)


def test_one_host_keeps_one_pool_address() -> None:
    t, _ = nat()
    sources = {
        out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=port, dport=53)).src
        for port in range(6000, 6040)
    }
    assert len(sources) == 1  # paired pooling (RFC 4787 REQ-2)


def test_ipv4_without_binding_is_dropped_with_host_unreachable() -> None:
    t, _ = nat()
    sent = IP(src=SERVER4, dst="203.0.113.1") / UDP(sport=53, dport=5000)
    result = t.from_v4(raw(sent), 0)
    assert result.drop == "no_binding"
    (reply,) = result.packets  # RFC 6146 3.5.1: no binding, the source is told
    error = IP(reply)
    assert (error.src, error.dst, error[ICMP].type, error[ICMP].code) == (
        "192.0.2.1", SERVER4, 3, 1)  # fmt: skip
    assert bytes(error[ICMP].payload) == raw(sent)


def test_an_unsolicited_ipv4_syn_is_held_then_answered_with_port_unreachable() -> None:
    """RFC 6146 3.5.2.2: a SYN no session takes waits TCP_INCOMING_SYN (6 s here)
    for a simultaneous open; unanswered, it gets a port unreachable with it inside."""
    t, _ = nat()
    syn = IP(src=SERVER4, dst="203.0.113.1", ttl=50) / TCP(sport=4444, dport=8080, flags="S")
    result = t.from_v4(raw(syn), 100.0)
    assert (result.packets, result.drop) == ((), "tcp_syn_held")
    assert t.from_v4(raw(syn), 101.0).drop == "tcp_syn_repeated"  # the first keeps its time
    assert t.memory.held_syns == 1
    assert t.expire(105.9) == []
    (reply,) = t.expire(106.0)
    icmp = IP(reply)
    assert (icmp.src, icmp.dst) == ("192.0.2.1", SERVER4)
    assert (icmp[ICMP].type, icmp[ICMP].code) == (3, 3)
    inner = icmp[ICMP].payload
    assert (inner.src, inner.dst, inner[TCPerror].sport, inner[TCPerror].dport) == (
        SERVER4, "203.0.113.1", 4444, 8080,
    )  # fmt: skip
    assert (t.memory.held_syns, t.memory.syns_unanswered, t.memory.syns_simultaneous) == (0, 1, 0)
    assert t.expire(200.0) == []
    # A SYN with data: what is held, and quoted, is no more than an ICMP error carries.
    big = (
        IP(src=SERVER4, dst="203.0.113.1") / TCP(sport=4445, dport=8080, flags="S") / (b"x" * 3000)
    )
    assert t.from_v4(raw(big), 300.0).drop == "tcp_syn_held"
    (reply,) = t.expire(306.0)
    assert len(reply) == 576 and IP(reply)[ICMP].type == 3


def test_a_held_syn_is_dropped_when_the_ipv6_side_opens_the_same_session() -> None:
    t, _ = nat(filtering="address-dependent")
    got = out4(t, IPv6(src=HOST, dst=SERVER6) / TCP(sport=5000, dport=80, flags="S"))
    stranger = "198.51.100.99"
    syn = IP(src=stranger, dst=got.src) / TCP(sport=7000, dport=5000, flags="S")
    assert t.from_v4(raw(syn), 1.0).drop == "tcp_syn_held"  # filtered: no session with it yet
    # The host opens the same session from its side (a simultaneous open):
    stranger6 = str(ipaddress.IPv6Address(PREFIX.embed(int(ipaddress.IPv4Address(stranger)))))
    opened = out4(t, IPv6(src=HOST, dst=stranger6) / TCP(sport=5000, dport=7000, flags="S"), 2.0)
    assert (opened.src, opened[TCP].sport) == (got.src, 5000)
    assert (t.memory.held_syns, t.memory.syns_simultaneous) == (0, 1)
    assert t.expire(10.0) == []  # nothing to answer any more
    # And the session is open both ways now: the stranger's SYN-ACK is translated.
    back = in6(t, IP(src=stranger, dst=got.src) / TCP(sport=7000, dport=5000, flags="SA"), 3.0)
    assert (back.dst, back[TCP].dport) == (HOST, 5000)


def test_only_a_bare_syn_is_held_and_the_held_are_bounded(monkeypatch) -> None:
    t, _ = nat()
    for flags in ("A", "SA", "R", "F"):
        other = IP(src=SERVER4, dst="203.0.113.1") / TCP(sport=1, dport=2, flags=flags)
        assert t.from_v4(raw(other), 0).drop == "no_binding", flags
    monkeypatch.setattr("ipv6.translate._memory.HELD_SYNS", 3)
    for port in range(3):
        syn = IP(src=SERVER4, dst="203.0.113.1") / TCP(sport=port + 10, dport=80, flags="S")
        assert t.from_v4(raw(syn), 0).drop == "tcp_syn_held"
    syn = IP(src=SERVER4, dst="203.0.113.1") / TCP(sport=99, dport=80, flags="S")
    assert t.from_v4(raw(syn), 0).drop == "no_binding"
    assert len(t.expire(6.0)) == 3


def test_address_dependent_filtering_takes_only_remotes_the_host_sent_to() -> None:
    for filtering, expected in (("endpoint-independent", None), ("address-dependent", "filtered")):
        t, _ = nat(filtering=filtering)
        got = out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=5000, dport=53))
        stranger = IP(src="198.51.100.99", dst=got.src) / UDP(sport=53, dport=5000)
        assert t.from_v4(raw(stranger), 0).drop == expected
        same_host_other_port = IP(src=SERVER4, dst=got.src) / UDP(sport=54, dport=5000)
        assert t.from_v4(raw(same_host_other_port), 0).drop is None


def test_udp_session_times_out_and_frees_its_binding() -> None:
    t, mapper = nat()
    got = out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=5000, dport=53), now=0)
    reply = IP(src=SERVER4, dst=got.src) / UDP(sport=53, dport=5000)
    in6(t, reply, now=20)  # refreshes the session: 20 + 30
    t.expire(45)
    assert mapper.sessions == 1
    t.expire(51)
    assert mapper.sessions == 0
    assert mapper.events["udp_sessions_expired"] == 1
    assert t.from_v4(raw(reply), 52).drop == "no_binding"


def test_tcp_session_states_of_rfc_6146() -> None:
    t, mapper = nat()
    syn = IPv6(src=HOST, dst=SERVER6) / TCP(sport=40000, dport=80, flags="S")
    pool = out4(t, syn).src
    (row,) = mapper.rows(0)
    assert (row.state, row.expires_in) == ("V6_INIT", 10)
    in6(t, IP(src=SERVER4, dst=pool) / TCP(sport=80, dport=40000, flags="SA"), now=1)
    (row,) = mapper.rows(1)
    assert (row.state, row.expires_in) == (ESTABLISHED, 100)
    out4(t, IPv6(src=HOST, dst=SERVER6) / TCP(sport=40000, dport=80, flags="FA"), now=2)
    assert mapper.rows(2)[0].state == "V6_FIN_RCV"
    in6(t, IP(src=SERVER4, dst=pool) / TCP(sport=80, dport=40000, flags="FA"), now=3)
    (row,) = mapper.rows(3)
    assert (row.state, row.expires_in) == (BOTH_FIN, 10)
    t.expire(14)
    assert mapper.sessions == 0


def test_tcp_reset_makes_the_session_transitory() -> None:
    t, mapper = nat()
    pool = out4(t, IPv6(src=HOST, dst=SERVER6) / TCP(sport=40000, dport=80, flags="S")).src
    in6(t, IP(src=SERVER4, dst=pool) / TCP(sport=80, dport=40000, flags="SA"))
    in6(t, IP(src=SERVER4, dst=pool) / TCP(sport=80, dport=40000, flags="R"), now=5)
    (row,) = mapper.rows(5)
    assert (row.state, row.expires_in) == (TRANS, 10)


def test_tcp_without_syn_opens_nothing() -> None:
    t, mapper = nat()
    result = t.from_v6(raw(IPv6(src=HOST, dst=SERVER6) / TCP(sport=1, dport=80, flags="A")), 0)
    assert result.drop == "tcp_not_syn"
    assert mapper.sessions == 0


def test_echo_identifier_is_mapped_both_ways() -> None:
    t, _ = nat()
    got = out4(t, IPv6(src=HOST, dst=SERVER6) / ICMPv6EchoRequest(id=9, seq=1))
    assert got[ICMP].type == 8
    reply = IP(src=SERVER4, dst=got.src) / ICMP(type=0, id=got[ICMP].id, seq=1)
    back = in6(t, reply)
    assert (back.dst, back[ICMPv6EchoReply].id) == (HOST, 9)


def test_port_unreachable_about_a_translated_flow_reaches_the_host() -> None:
    t, _ = nat()
    first = out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=5000, dport=9) / b"x")
    inner = first.copy()
    error = IP(src=SERVER4, dst=first.src) / ICMP(type=3, code=3) / inner
    back = in6(t, error)
    assert (back.dst, back[ICMPv6DestUnreach].code) == (HOST, 4)
    assert (back[IPerror6].src, back[IPerror6].dst) == (HOST, SERVER6)
    assert (back[UDPerror].sport, back[UDPerror].dport) == (5000, 9)


def test_host_error_about_an_inbound_packet_leaves_from_its_pool_address() -> None:
    t, _ = nat()
    pool = out4(t, IPv6(src=HOST, dst=SERVER6) / TCP(sport=40000, dport=80, flags="S")).src
    arrived = in6(t, IP(src=SERVER4, dst=pool) / TCP(sport=80, dport=40000, flags="SA"))
    error = IPv6(src=HOST, dst=SERVER6) / ICMPv6DestUnreach(code=4) / arrived
    got = out4(t, error)
    assert (got.src, got.dst, got[ICMP].type, got[ICMP].code) == (pool, SERVER4, 3, 3)
    assert got[TCPerror].dport == 40000


def test_hairpinning_between_two_ipv6_hosts() -> None:
    t, _ = nat()
    b_out = out4(t, IPv6(src=OTHER, dst=SERVER6) / UDP(sport=7000, dport=53))
    b_pool6 = str(ipaddress.IPv6Address(PREFIX.embed(int(ipaddress.IPv4Address(b_out.src))) or 0))
    result = t.from_v6(raw(IPv6(src=HOST, dst=b_pool6) / UDP(sport=5000, dport=7000) / b"hi"), 0)
    (packet,) = result.packets
    got = IPv6(packet)
    assert got.dst == OTHER
    assert got[UDP].dport == 7000
    assert ipaddress.IPv6Address(got.src) in ipaddress.IPv6Network("64:ff9b:1::/96")
    assert bytes(got[UDP].payload) == b"hi"


def test_pool_exhaustion_and_session_limit_are_counted_drops() -> None:
    t, _ = nat(ports=(2000, 2001), max_sessions=100)
    drops = []
    for i in range(12):  # 4 addresses x 2 ports = 8 bindings
        result = t.from_v6(raw(IPv6(src=HOST, dst=SERVER6) / UDP(sport=3000 + i, dport=53)), 0)
        drops.append(result.drop)
    assert drops.count(None) == 8
    assert drops.count("pool_exhausted") == 4
    t2, _ = nat(max_sessions=3)
    got = [
        t2.from_v6(raw(IPv6(src=HOST, dst=SERVER6) / UDP(sport=3000 + i, dport=53)), 0).drop
        for i in range(5)
    ]
    assert got == [None, None, None, "session_limit", "session_limit"]


def test_fragments_follow_their_first_even_when_they_come_before_it() -> None:
    t, _ = nat()
    transport = UDP(sport=5000, dport=53) / (b"f" * 2000)
    whole = IPv6(src=HOST, dst=SERVER6) / IPv6ExtHdrFragment(id=0x1234) / transport
    pieces = fragment6(whole, 1000)
    assert len(pieces) == 3
    # The last fragment first: held until the first arrives.
    assert t.from_v6(raw(pieces[2]), 0).drop == "fragment_held"
    first = t.from_v6(raw(pieces[0]), 0).packets
    middle = t.from_v6(raw(pieces[1]), 0).packets
    v4 = [IP(p) for p in (*first, *middle)]
    assert len(v4) == 3
    assert {p.src for p in v4} == {v4[0].src}
    assert ipaddress.IPv4Address(v4[0].src) in POOL
    assert sorted(p.frag for p in v4) == sorted(f[IPv6ExtHdrFragment].offset for f in pieces)
    assert sorted(p.frag for p in v4)[1] > 0


def test_held_fragments_expire_and_are_counted() -> None:
    t, _ = nat()
    whole = IP(src=SERVER4, dst="203.0.113.1", id=5) / UDP(sport=53, dport=5000) / (b"g" * 600)
    late = fragment(whole, fragsize=256)[-1]
    assert t.from_v4(raw(late), 0).drop == "fragment_held"
    t.expire(3)
    assert t.memory.expired_fragments == 1


def test_protocols_without_ports_are_not_translated_by_nat64() -> None:
    t, _ = nat()
    result = t.from_v6(raw(IPv6(src=HOST, dst=SERVER6, nh=47) / b"gre?"), 0)
    assert result.drop == "protocol_unsupported"


def test_a_udp_flow_never_takes_a_tcp_flows_remembered_mapping() -> None:
    """The fast path's flows are keyed by protocol too: a UDP packet with the
    addresses and ports of an established TCP flow makes its own UDP session
    (it once took the TCP flow's remembered mapping, and its session)."""
    t, mapper = nat()
    syn = out4(t, IPv6(src=HOST, dst=SERVER6) / TCP(sport=5000, dport=80, flags="S"))
    in6(t, IP(src=SERVER4, dst=syn.src) / TCP(sport=80, dport=syn[TCP].sport, flags="SA"))
    out4(t, IPv6(src=HOST, dst=SERVER6) / TCP(sport=5000, dport=80, flags="A"), 0.1)
    assert (
        t.fast_from_v6(raw(IPv6(src=HOST, dst=SERVER6) / TCP(sport=5000, dport=80, flags="A")), 0.2)
        is not None
    )
    got = out4(t, IPv6(src=HOST, dst=SERVER6) / UDP(sport=5000, dport=80) / b"u", 0.3)
    assert got.haslayer(UDP)
    assert mapper.events["udp_sessions_made"] == 1
    assert mapper.sessions == 2
