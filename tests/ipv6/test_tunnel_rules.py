"""RFC 3964 and RFC 4213 checks: for every rule, a packet it drops and a
packet it passes that differs only in the field the rule looks at."""

from __future__ import annotations

from ipaddress import IPv4Address as A4
from ipaddress import IPv6Address as A6

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipv6._checksum import checksum
from ipv6.tunnel._packets import ICMPV6, ipv4_header, ipv6_packet, parse_ipv4
from ipv6.tunnel._rules import (
    Deliver,
    Drop,
    Flows,
    Policy,
    Send,
    SixRd,
    decapsulate,
    encapsulate,
    lab_block,
)

GW1 = int(A4("172.31.42.239"))
GW2 = int(A4("172.30.7.10"))
RELAY = int(A4("172.30.9.2"))
SITE1 = "2002:ac1f:2aef:1::10"
SITE2 = "2002:ac1e:70a:1::10"
NATIVE = "2001:db8:99::10"


def v6(text: str) -> int:
    return int(A6(text))


def v4(text: str) -> int:
    return int(A4(text))


def packet(src: str, dst: str, size: int = 0, nh: int = 59, first: int = 0) -> bytes:
    payload = (
        bytes([first]) + bytes(max(size - 41, 0)) if nh == ICMPV6 else bytes(max(size - 40, 0))
    )
    return ipv6_packet(v6(src), v6(dst), nh, payload)


def gateway(**changes: object) -> Policy:
    block = lab_block(A4("172.31.42.239"))
    assert block is not None
    values: dict[object, object] = dict(
        mode="6to4",
        local=GW1,
        router=v6("2002:ac1f:2aef::ac1f:2aef"),
        own=frozenset({GW1, v4("192.168.1.1")}),
        broadcasts=frozenset({v4("172.31.42.255")}),
        relays=(RELAY,),
        lab=(block,),
    )
    values.update(changes)
    return Policy(**values)  # type: ignore[arg-type]


# (rule, vector it drops) for decapsulation at gw1: (outer src, outer dst, inner src, inner dst)
DECAP = [
    ("outer_dst_broadcast", ("172.30.7.10", "172.31.42.255", SITE2, SITE1)),
    ("outer_dst_multicast", ("172.30.7.10", "224.0.0.1", SITE2, SITE1)),
    ("outer_dst_not_own", ("172.30.7.10", "172.31.42.238", SITE2, SITE1)),
    ("outer_src_this_network", ("0.1.2.3", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_private", ("10.1.2.3", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_private", ("192.168.9.9", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_shared", ("100.64.0.1", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_loopback", ("127.0.0.1", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_link_local", ("169.254.1.1", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_multicast", ("239.1.1.1", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_reserved", ("240.0.0.1", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_broadcast", ("255.255.255.255", "172.31.42.239", SITE2, SITE1)),
    ("outer_src_own", ("172.31.42.239", "172.31.42.239", SITE2, SITE1)),
    ("inner_src_compatible_or_mapped", ("172.30.7.10", "172.31.42.239", "::ffff:1.2.3.4", SITE1)),
    ("inner_src_link_local", ("172.30.7.10", "172.31.42.239", "fe80::1", SITE1)),
    ("inner_src_site_local", ("172.30.7.10", "172.31.42.239", "fec0::1", SITE1)),
    ("inner_src_multicast", ("172.30.7.10", "172.31.42.239", "ff0e::1", SITE1)),
    ("inner_src_6to4_of_loopback", ("172.30.7.10", "172.31.42.239", "2002:7f00:1::1", SITE1)),
    ("inner_src_6to4_of_private", ("172.30.7.10", "172.31.42.239", "2002:c0a8:101::1", SITE1)),
    ("inner_dst_multicast", ("172.30.7.10", "172.31.42.239", SITE2, "ff02::1")),
    ("inner_dst_compatible_or_mapped", ("172.30.7.10", "172.31.42.239", SITE2, "::1")),
    ("inner_dst_not_6to4", ("172.30.7.10", "172.31.42.239", SITE2, NATIVE)),
    ("inner_dst_6to4_mismatch", ("172.30.7.10", "172.31.42.239", SITE2, "2002:ac1f:2aee::1")),
    ("inner_src_6to4_mismatch", ("172.30.7.11", "172.31.42.239", SITE2, SITE1)),
    ("inner_src_native_not_from_relay", ("172.30.7.10", "172.31.42.239", NATIVE, SITE1)),
]


@pytest.mark.parametrize(("reason", "vector"), DECAP, ids=[r for r, _ in DECAP])
def test_decapsulation_drops_each_rule(reason: str, vector: tuple[str, ...]) -> None:
    src4, dst4, src6, dst6 = vector
    verdict = decapsulate(gateway(), v4(src4), v4(dst4), packet(src6, dst6, 100))
    assert verdict == Drop(reason)


PASSES = [
    ("from a 6to4 site", ("172.30.7.10", "172.31.42.239", SITE2, SITE1)),
    ("from the relay, native source", ("172.30.9.2", "172.31.42.239", NATIVE, SITE1)),
    (
        "to the gateway's own 6to4 address",
        ("172.30.7.10", "172.31.42.239", SITE2, "2002:ac1f:2aef::ac1f:2aef"),
    ),
]


@pytest.mark.parametrize(("what", "vector"), PASSES, ids=[w for w, _ in PASSES])
def test_decapsulation_passes_the_nearest_good_packets(what: str, vector: tuple[str, ...]) -> None:
    src4, dst4, src6, dst6 = vector
    inner = packet(src6, dst6, 100)
    assert decapsulate(gateway(), v4(src4), v4(dst4), inner) == Deliver(inner)


def test_lab_allows_only_the_block_of_its_own_address() -> None:
    inner = packet(SITE2, SITE1, 80)
    assert decapsulate(gateway(lab=()), GW2, GW1, inner) == Drop("outer_dst_private")
    assert isinstance(decapsulate(gateway(), GW2, GW1, inner), Deliver)
    assert decapsulate(gateway(), v4("10.0.0.1"), GW1, inner) == Drop("outer_src_private")


def test_malformed_inner_packets_are_dropped() -> None:
    good = packet(SITE2, SITE1, 100)
    assert decapsulate(gateway(), GW2, GW1, good[:-1]) == Drop("inner_malformed")
    assert decapsulate(gateway(), GW2, GW1, b"\x45" + good[1:]) == Drop("inner_malformed")
    assert encapsulate(gateway(), good + b"x") == Drop("inner_malformed")


# For each decapsulation rule, its drop vector with the one field the rule looks at
# made good: it must be delivered. Where no closer good value exists, the field takes
# the value of the good packet (172.30.7.10 -> 172.31.42.239, SITE2 -> SITE1).
GOOD = ("172.30.7.10", "172.31.42.239", SITE2, SITE1)
DECAP_FIELD = {
    "outer_dst": 1, "outer_src": 0, "inner_src": 2, "inner_dst": 3,
}  # fmt: skip
NEAREST_GOOD = {
    "outer_src_private": "172.30.7.10",  # private too, but in the block --lab allows
    "inner_src_6to4_of_private": "2002:ac1e:70a:9::1",  # 6to4 of the outer source
    "inner_dst_6to4_mismatch": "2002:ac1f:2aef:77::1",  # another subnet of this site
    "inner_src_6to4_mismatch": "172.30.7.10",  # the outer source the inner one embeds
    "inner_src_native_not_from_relay": "172.30.9.2",  # the same packet, from the relay
    "inner_dst_not_6to4": "2002:ac1f:2aef:1::99",
}


def _nearest_good(reason: str, vector: tuple[str, ...]) -> tuple[str, ...]:
    field = next(i for prefix, i in DECAP_FIELD.items() if reason.startswith(prefix))
    if reason in ("inner_src_6to4_mismatch", "inner_src_native_not_from_relay"):
        field = 0  # these look at the pair: make the outer source the one that matches
    good = list(vector)
    good[field] = NEAREST_GOOD.get(reason, GOOD[field])
    return tuple(good)


@pytest.mark.parametrize(("reason", "vector"), DECAP, ids=[r for r, _ in DECAP])
def test_decapsulation_passes_each_rules_nearest_good_packet(
    reason: str, vector: tuple[str, ...]
) -> None:
    src4, dst4, src6, dst6 = _nearest_good(reason, vector)
    inner = packet(src6, dst6, 100)
    assert decapsulate(gateway(), v4(src4), v4(dst4), inner) == Deliver(inner)


ENCAP = [
    ("inner_src_link_local", ("fe80::1", SITE2)),
    ("inner_src_multicast", ("ff02::1", SITE2)),
    ("inner_src_compatible_or_mapped", ("::", SITE2)),
    ("inner_dst_multicast", (SITE1, "ff02::1")),
    ("inner_dst_site_local", (SITE1, "fec0::1")),
    ("inner_dst_6to4_of_private", (SITE1, "2002:0a00:1::1")),
    ("inner_dst_6to4_of_broadcast", (SITE1, "2002:ffff:ffff::1")),
    ("inner_dst_6to4_of_multicast", (SITE1, "2002:e000:1::1")),
    ("inner_src_not_6to4", (NATIVE, SITE2)),
    ("inner_src_not_own_6to4", ("2002:ac1f:2aee:1::1", SITE2)),
    ("inner_dst_own_ipv4", (SITE1, "2002:c0a8:101::1")),
]


@pytest.mark.parametrize(("reason", "vector"), ENCAP, ids=[r for r, _ in ENCAP])
def test_encapsulation_drops_each_rule(reason: str, vector: tuple[str, str]) -> None:
    policy = gateway()
    if reason == "inner_dst_own_ipv4":  # own address inside the lab's allowed block
        policy = gateway(own=frozenset({GW1, v4("172.16.0.5")}))
        vector = (SITE1, "2002:ac10:5::1")
    assert encapsulate(policy, packet(*vector, 100)) == Drop(reason)


ENCAP_NEAREST_GOOD = {
    "inner_dst_6to4_of_private": (SITE1, "2002:ac10:909::1"),  # 172.16.9.9: the lab's block
    "inner_dst_own_ipv4": (SITE1, "2002:ac10:6::1"),  # 172.16.0.6, not this host's
    "inner_src_not_own_6to4": ("2002:ac1f:2aef:2::1", SITE2),  # another subnet of this site
    "inner_src_not_6to4": (SITE1, SITE2),
}


@pytest.mark.parametrize(("reason", "vector"), ENCAP, ids=[r for r, _ in ENCAP])
def test_encapsulation_sends_each_rules_nearest_good_packet(
    reason: str, vector: tuple[str, str]
) -> None:
    policy = gateway(own=frozenset({GW1, v4("172.16.0.5")}))
    good = ENCAP_NEAREST_GOOD.get(reason)
    if good is None:  # the field the rule looks at takes the good packet's value
        good = (SITE1, vector[1]) if reason.startswith("inner_src") else (vector[0], SITE2)
    assert isinstance(encapsulate(policy, packet(*good, 100)), Send)


def test_encapsulation_sends_6to4_to_the_embedded_address_and_native_to_the_relay() -> None:
    assert encapsulate(gateway(), packet(SITE1, SITE2, 100)) == Send(GW2)
    assert encapsulate(gateway(), packet(SITE1, NATIVE, 100)) == Send(RELAY)


def test_without_a_relay_native_destinations_get_no_route() -> None:
    bad = packet(SITE1, NATIVE, 100)
    verdict = encapsulate(gateway(relays=()), bad)
    assert isinstance(verdict, Drop) and verdict.reason == "no_relay"
    assert verdict.reply is not None
    reply = verdict.reply
    assert reply[6] == ICMPV6 and reply[40] == 1 and reply[41] == 0
    assert reply[24:40] == bad[8:24]  # back to the sender
    assert reply[8:24] == gateway().router.to_bytes(16, "big")


def _icmp_ok(reply: bytes) -> bool:
    pseudo = reply[8:40] + len(reply[40:]).to_bytes(4, "big") + bytes(3) + bytes([ICMPV6])
    return checksum(pseudo + reply[40:]) == 0


def test_oversized_packets_get_packet_too_big_with_the_tunnel_mtu() -> None:
    assert isinstance(encapsulate(gateway(), packet(SITE1, SITE2, 1280)), Send)
    big = packet(SITE1, SITE2, 1281)
    verdict = encapsulate(gateway(), big)
    assert isinstance(verdict, Drop) and verdict.reason == "too_big"
    assert verdict.reply is not None
    reply = verdict.reply
    assert reply[40] == 2 and int.from_bytes(reply[44:48], "big") == 1280
    assert len(reply) == 1280 and _icmp_ok(reply)
    assert reply[48:88] == big[:40]


def test_no_icmp_error_about_an_icmp_error() -> None:
    error = packet(SITE1, SITE2, 1400, nh=ICMPV6, first=1)
    verdict = encapsulate(gateway(), error)
    assert verdict == Drop("too_big")
    echo = packet(SITE1, SITE2, 1400, nh=ICMPV6, first=128)
    dropped = encapsulate(gateway(), echo)
    assert isinstance(dropped, Drop) and dropped.reply is not None


def sixin4(**changes: object) -> Policy:
    values: dict[object, object] = dict(
        mode="6in4", local=GW1, router=v6(SITE1), own=frozenset({GW1}), remote=RELAY,
        lab=(lab_block(A4("172.31.42.239")),),
    )  # fmt: skip
    values.update(changes)
    return Policy(**values)  # type: ignore[arg-type]


def test_configured_6in4_accepts_only_its_remote() -> None:
    inner = packet(NATIVE, SITE1, 100)
    assert decapsulate(sixin4(), RELAY, GW1, inner) == Deliver(inner)
    assert decapsulate(sixin4(), GW2, GW1, inner) == Drop("outer_src_not_remote")
    assert decapsulate(sixin4(), RELAY, GW2, inner) == Drop("outer_dst_not_own")
    assert decapsulate(sixin4(), RELAY, GW1, packet("ff0e::1", SITE1, 100)) == Drop(
        "inner_src_multicast"
    )
    assert decapsulate(sixin4(), RELAY, GW1, packet("::1", SITE1, 100)) == Drop(
        "inner_src_compatible_or_mapped"
    )
    # link-local works over a configured tunnel (RFC 4213 3.7)
    ll = packet("fe80::1", "fe80::2", 100)
    assert decapsulate(sixin4(), RELAY, GW1, ll) == Deliver(ll)


def test_configured_6in4_sends_everything_to_its_remote() -> None:
    assert encapsulate(sixin4(), packet(SITE1, NATIVE, 100)) == Send(RELAY)
    assert encapsulate(sixin4(), packet("::", "ff02::16", 100)) == Drop("inner_dst_multicast")
    assert encapsulate(sixin4(), packet("::1", NATIVE, 100)) == Drop(
        "inner_src_compatible_or_mapped"
    )
    assert encapsulate(sixin4(), packet(SITE1, "::ffff:1.2.3.4", 100)) == Drop(
        "inner_dst_compatible_or_mapped"
    )
    assert encapsulate(sixin4(), packet(SITE1, NATIVE, 1300)).reason == "too_big"  # type: ignore[union-attr]


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=300))
def test_ipv4_header_round_trip(src: int, dst: int, payload: bytes) -> None:
    header = ipv4_header(src, dst, len(payload))
    assert checksum(header) == 0
    assert header[6] & 0x40 == 0  # DF clear (RFC 3056 5.2)
    outer = parse_ipv4(header + payload)
    assert (outer.src, outer.dst, outer.payload) == (src, dst, payload)


@given(st.binary(max_size=80))
def test_garbage_never_raises(data: bytes) -> None:
    assert isinstance(encapsulate(gateway(), data), Drop)
    assert isinstance(decapsulate(gateway(), GW2, GW1, data), Drop)


ADDRESSES = [SITE1, SITE2, NATIVE, "fe80::1", "ff02::1", "2002:ac1f:2aee::1", "2002:c0a8:101::1"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(ADDRESSES),
            st.sampled_from(ADDRESSES),
            st.sampled_from([40, 100, 1280, 1281, 1400]),
            st.sampled_from([GW2, RELAY, v4("10.0.0.1"), v4("172.30.7.11")]),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_the_flow_memory_never_changes_a_verdict(
    packets: list[tuple[str, str, int, int, bool]],
) -> None:
    flows = Flows(gateway())
    for src, dst, size, src4, truncate in packets:
        data = packet(src, dst, size)
        if truncate:
            data = data[:-1]
        view = memoryview(bytearray(data))  # as the plane hands them: views of its buffer
        assert flows.encapsulate(view) == encapsulate(gateway(), data)
        assert flows.decapsulate(src4, GW1, view) == decapsulate(gateway(), src4, GW1, data)


# --- 6rd (RFC 5969) ------------------------------------------------------------------------------

EDGE1, EDGE2, BORDER = v4("10.64.1.1"), v4("10.64.2.1"), v4("10.64.0.1")
DOMAIN = SixRd(v6("2001:db8::"), 32, 8, v4("10.0.0.0"))
E1, E2 = "2001:db8:4001:100::1", "2001:db8:4002:100::1"
REMOTE_NATIVE = "3fff:0:99::10"


def edge(**changes: object) -> Policy:
    values: dict[object, object] = dict(
        mode="6rd",
        local=EDGE1,
        router=v6(E1),
        own=frozenset({EDGE1}),
        relays=(BORDER,),
        lab=(lab_block(A4("10.64.1.1")),),
        sixrd=DOMAIN,
    )
    values.update(changes)
    return Policy(**values)  # type: ignore[arg-type]


def border() -> Policy:
    return edge(local=BORDER, own=frozenset({BORDER}), relays=(), border_relay=True, router=0)


def test_6rd_delegated_prefix_and_embedded_address() -> None:
    """RFC 5969 7.1.1: the 6rd prefix, then the IPv4 bits after the common mask."""
    assert DOMAIN.delegated_length == 56
    assert DOMAIN.delegated(EDGE1) == v6("2001:db8:4001:100::")
    assert DOMAIN.ipv4_of(v6("2001:db8:4002:1ff::99")) == EDGE2
    whole = SixRd(v6("2001:db8::"), 32, 0, 0)  # no common bits: all 32 in the prefix
    assert whole.delegated(v4("192.0.2.1")) == v6("2001:db8:c000:201::")


@pytest.mark.parametrize(
    ("reason", "policy", "vector", "passing"),
    [
        # decapsulation at an edge: (outer src, outer dst, inner src, inner dst)
        ("inner_src_6rd_mismatch", edge, ("10.64.1.66", "10.64.1.1", E2, E1),
         ("10.64.2.1", "10.64.1.1", E2, E1)),
        ("inner_src_native_not_from_relay", edge, ("10.64.1.66", "10.64.1.1", REMOTE_NATIVE, E1),
         ("10.64.0.1", "10.64.1.1", REMOTE_NATIVE, E1)),
        ("inner_dst_not_own_6rd", edge, ("10.64.2.1", "10.64.1.1", E2, "2001:db8:4002:100::5"),
         ("10.64.2.1", "10.64.1.1", E2, "2001:db8:4001:1ff::5")),
        ("inner_src_link_local", edge, ("10.64.2.1", "10.64.1.1", "fe80::1", E1),
         ("10.64.2.1", "10.64.1.1", E2, E1)),
        # at the border relay
        ("inner_src_not_6rd", border, ("10.64.1.66", "10.64.0.1", REMOTE_NATIVE, E1),
         ("10.64.1.1", "10.64.0.1", E1, REMOTE_NATIVE)),
        ("inner_src_6rd_mismatch", border, ("10.64.1.66", "10.64.0.1", E2, REMOTE_NATIVE),
         ("10.64.2.1", "10.64.0.1", E2, REMOTE_NATIVE)),
    ],
)  # fmt: skip
def test_6rd_decapsulation_rules(
    reason: str, policy: object, vector: tuple[str, ...], passing: tuple[str, ...]
) -> None:
    assert callable(policy)
    src4, dst4, src6, dst6 = vector
    verdict = decapsulate(policy(), v4(src4), v4(dst4), packet(src6, dst6))
    assert verdict == Drop(reason)
    src4, dst4, src6, dst6 = passing
    assert isinstance(decapsulate(policy(), v4(src4), v4(dst4), packet(src6, dst6)), Deliver)


def test_6rd_encapsulation_goes_straight_to_an_edge_else_to_the_relay() -> None:
    assert encapsulate(edge(), packet(E1, E2)) == Send(EDGE2)
    assert encapsulate(edge(), packet(E1, REMOTE_NATIVE)) == Send(BORDER)
    assert encapsulate(edge(), packet(E2, REMOTE_NATIVE)) == Drop("inner_src_not_own_6rd")
    assert encapsulate(edge(), packet(E1, "2001:db8:4001:100::9")).reason == "inner_dst_own_ipv4"  # type: ignore[union-attr]
    assert encapsulate(border(), packet(REMOTE_NATIVE, E2)) == Send(EDGE2)
    assert encapsulate(border(), packet(REMOTE_NATIVE, "3fff::1")) == Drop("inner_dst_not_6rd")


def test_the_kernel_plane_gets_the_6rd_domain() -> None:
    """The sit attributes that `ip tunnel 6rd ... 6rd-prefix 2001:db8::/32
    6rd-relay_prefix 10.0.0.0/8` sets, for the same domain; this kernel has no sit,
    so the kernel's acceptance of them is not tested here."""
    from ipv6.tunnel._control import _sit_6rd, default_router
    from ipv6.tunnel._registry import TunnelSpec

    spec = TunnelSpec(
        name="6rd", mode="6rd", local="10.64.1.1", relays=["10.64.0.1"], lab=True,
        sixrd_prefix="2001:db8::/32", ipv4_mask_length=8,
    )  # fmt: skip
    # (6rd-prefix, its length, 6rd-relay_prefix, its length), as AddSitLink takes them
    assert _sit_6rd(spec) == ("2001:db8::", 32, "10.0.0.0", 8)
    assert default_router(spec) == "2001:db8:4001:100::1"
    assert _sit_6rd(TunnelSpec(name="t", mode="6to4", local="192.0.2.1")) is None
