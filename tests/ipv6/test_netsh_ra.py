"""Router advertisements as the seeds describe them, built and parsed without a network."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipv6._ra import (
    INFINITE,
    Advertisement,
    DnsServers,
    Pref64,
    PrefixInfo,
    Published,
    RouteInfo,
    decode_advertisement,
    encode_advertisement,
    plan_advertisement,
)
from ipv6.netsh import parse_command, plan, split
from ipv6.netsh._grammar import NetshSyntaxError
from ipv6.netsh._ops import Remember, StartAdvertiser, StopAdvertiser

MAC = "02:00:5e:10:00:01"


def net(text: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(text)


def ad_for(*published: Published) -> Advertisement:
    return plan_advertisement(list(published), mtu=1400, lladdr=MAC, hop_limit=64)


def test_always_the_link_layer_address_and_the_mtu_and_no_lifetime_without_a_default() -> None:
    ad = ad_for(Published(net("2001:db8:1::/64"), True, 3600, 1800))
    decoded = decode_advertisement(encode_advertisement(ad))
    assert decoded.lladdr == MAC and decoded.mtu == 1400
    assert decoded.router_lifetime == 0  # no published default route
    assert decoded.prefixes == [PrefixInfo(net("2001:db8:1::/64"), True, True, 3600, 1800)]


def test_a_published_default_route_makes_a_router_lifetime() -> None:
    assert ad_for(Published(net("::/0"), False, INFINITE, INFINITE)).router_lifetime == 1800
    assert ad_for(Published(net("::/0"), False, 600, 600)).router_lifetime == 600
    assert ad_for(Published(net("::/0"), False, 86400, 86400)).router_lifetime == 9000


def test_only_a_64_bit_on_link_prefix_is_autonomous_and_next_hops_are_route_options() -> None:
    ad = ad_for(
        Published(net("2001:db8:1::/64"), True, 3600, 1800),
        Published(net("2001:db8:2::/48"), True, 3600, 1800, site_prefix_length=48),
        Published(net("2001:db8:3::/48"), False, 7200, 7200),
    )
    wire = decode_advertisement(encode_advertisement(ad))
    by_prefix = {p.prefix: p for p in wire.prefixes}
    assert by_prefix[net("2001:db8:1::/64")].autonomous
    assert not by_prefix[net("2001:db8:2::/48")].autonomous
    assert by_prefix[net("2001:db8:2::/48")].site_prefix_length == 48
    assert wire.routes == [RouteInfo(net("2001:db8:3::/48"), 7200)]
    raw = encode_advertisement(ad)
    assert raw[0] == 134 and raw[4] == 64  # the type; the hop limit after the checksum


prefixes = st.builds(
    lambda n, bits: ipaddress.IPv6Network((n, bits), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(1, 128),
)
lifetimes = st.integers(0, INFINITE)


@given(
    published=st.lists(
        st.builds(Published, prefixes, st.booleans(), lifetimes, lifetimes), max_size=6
    ),
    mtu=st.integers(1280, 65535),
)
def test_what_is_built_is_what_a_host_reads(published: list[Published], mtu: int) -> None:
    ad = plan_advertisement(published, mtu=mtu, lladdr=MAC, hop_limit=255)
    again = decode_advertisement(encode_advertisement(ad))
    assert again.prefixes == ad.prefixes and again.mtu == mtu and again.lladdr == MAC
    assert [(r.prefix, r.lifetime) for r in again.routes] == [
        (r.prefix, r.lifetime) for r in ad.routes
    ]
    assert all(p.preferred <= p.valid for p in again.prefixes)


def test_netsh_plans_starting_and_stopping_the_advertiser() -> None:
    interfaces = {"lo": 1, "eth0": 2}
    on = plan(parse_command(split("int ipv6 set interface eth0 advertise=enabled")), interfaces)
    assert on == [Remember("advertise/eth0", True), StartAdvertiser("eth0")]
    off = plan(parse_command(split("int ipv6 set int eth0 adv=disabled")), interfaces)
    assert off == [StopAdvertiser("eth0"), Remember("advertise/eth0", None)]


# --- RDNSS (RFC 8106) and PREF64 (RFC 8781) ----------------------------------------------------


def test_pref64_bytes_as_rfc_8781_lays_them_out() -> None:
    """Type 38, length 2, 13 bits of 8-second units and the 3-bit length code, 96 bits."""
    ad = plan_advertisement(
        [], mtu=1280, lladdr="", hop_limit=64, pref64=Pref64(net("2001:db8::/32"), 1800)
    )
    wire = encode_advertisement(ad)
    option = wire[wire.index(bytes([38, 2])) :][:16]
    assert option[:4] == bytes([38, 2]) + (225 << 3 | 5).to_bytes(2, "big")
    assert option[4:] == ipaddress.IPv6Address("2001:db8::").packed[:12]
    assert decode_advertisement(HAND_MADE_PREF64_AD).pref64 == Pref64(net("2001:db8::/32"), 224)


HAND_MADE_PREF64_AD = (
    bytes([134, 0, 0, 0, 64, 0, 0, 0])
    + bytes(8)
    + bytes.fromhex("2602" + f"{(28 << 3) | 5:04x}" + "20010db8" + "0" * 16)
)


@given(
    length=st.sampled_from([32, 40, 48, 56, 64, 96]),
    high=st.integers(0, 2**96 - 1),
    lifetime=st.integers(0, 8191 * 8),
)
def test_pref64_round_trip(length: int, high: int, lifetime: int) -> None:
    prefix = ipaddress.IPv6Network((high << 32 >> (128 - length) << (128 - length), length))
    ad = plan_advertisement([], mtu=1280, lladdr=MAC, hop_limit=64, pref64=Pref64(prefix, lifetime))
    got = decode_advertisement(encode_advertisement(ad)).pref64
    assert got is not None and got.prefix == prefix
    assert got.lifetime == -(-lifetime // 8) * 8  # rounded up to the 8-second unit


@given(st.lists(st.integers(0, 2**128 - 1), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_rdnss_round_trip(addresses: list[int], lifetime: int) -> None:
    servers = DnsServers(tuple(map(ipaddress.IPv6Address, addresses)), lifetime)
    ad = plan_advertisement([], mtu=1280, lladdr=MAC, hop_limit=64, dns=servers)
    wire = encode_advertisement(ad)
    assert wire[16] == 25 and wire[17] == 1 + 2 * len(addresses)  # right after the header
    assert decode_advertisement(wire).dns == servers


def test_netsh_keeps_dns_servers_and_the_nat64_prefix_for_the_advertiser() -> None:
    interfaces = {"lo": 1, "eth0": 2}
    ops = plan(
        parse_command(
            split(
                "int ipv6 set interface eth0 dnsservers=2001:db8::53,2001:db8::54 "
                "dnslifetime=600 nat64prefix=64:ff9b:1::/96"
            )
        ),
        interfaces,
    )
    assert ops == [
        Remember("rdnss/eth0", {"addresses": ["2001:db8::53", "2001:db8::54"], "lifetime": 600}),
        Remember("pref64/eth0", {"prefix": "64:ff9b:1::/96", "lifetime": 1800}),
    ]
    off = plan(
        parse_command(split("int ipv6 set int eth0 dnsservers=none nat64prefix=none")), interfaces
    )
    assert off == [Remember("rdnss/eth0", None), Remember("pref64/eth0", None)]


@pytest.mark.parametrize(
    ("words", "why"),
    [
        ("nat64prefix=2001:db8:0:0:100::/96", "bits 64 to 71"),
        ("nat64prefix=2001:db8::/33", "RFC 6052 allows"),
        ("nat64prefix=64:ff9b::/96 nat64lifetime=70000", "0 to 65528"),
        ("dnsservers=192.0.2.53", "not an IPv6 address"),
        ("dnslifetime=60", "give it with dnsservers"),
    ],
)
def test_netsh_refuses_what_the_options_cannot_carry(words: str, why: str) -> None:
    with pytest.raises(NetshSyntaxError, match=why):
        plan(parse_command(split(f"int ipv6 set interface eth0 {words}")), {"eth0": 2})
