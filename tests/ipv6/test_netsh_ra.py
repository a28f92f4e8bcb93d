"""Router advertisements as the seeds describe them, built and parsed without a network."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from ipv6.netsh import parse_command, plan, split
from ipv6.netsh._ops import Remember, StartAdvertiser, StopAdvertiser
from ipv6.netsh._ra import (
    INFINITE,
    Advertisement,
    PrefixInfo,
    Published,
    RouteInfo,
    decode_advertisement,
    encode_advertisement,
    plan_advertisement,
)

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
