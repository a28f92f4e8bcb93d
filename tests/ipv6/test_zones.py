"""Choosing the zone of a scoped destination (RFC 4007)."""

from __future__ import annotations

import ipaddress

import pytest

from ipv6 import BadInput, InterfaceRef
from ipv6._zones import AmbiguousScope, choose_zone

ETH0, ETH1 = InterfaceRef(2, "eth0"), InterfaceRef(3, "eth1")
LL = ipaddress.IPv6Address("fe80::260:97ff:fe02:6ea5")


def test_a_zone_names_a_link_by_name_or_number() -> None:
    assert choose_zone(LL, "eth1", [ETH0, ETH1]).interface == ETH1
    assert choose_zone(LL, "2", [ETH0, ETH1]).interface == ETH0
    destination = choose_zone(LL, "eth0", [ETH0, ETH1])
    assert destination.sockaddr(7) == ("fe80::260:97ff:fe02:6ea5", 7, 0, 2)
    assert str(destination) == "fe80::260:97ff:fe02:6ea5%eth0"


def test_no_zone_with_one_link_uses_it_and_says_so() -> None:
    destination = choose_zone(LL, None, [ETH0])
    assert destination.interface == ETH0 and "using eth0, the only link" in destination.note


def test_no_zone_with_several_links_is_refused_listing_them() -> None:
    with pytest.raises(AmbiguousScope) as caught:
        choose_zone(LL, None, [ETH0, ETH1])
    message = str(caught.value)
    assert "eth0, eth1" in message and "fe80::260:97ff:fe02:6ea5%eth0" in message
    multicast = ipaddress.IPv6Address("ff02::1")
    with pytest.raises(AmbiguousScope):
        choose_zone(multicast, None, [ETH0, ETH1])


def test_unknown_zones_and_unscoped_addresses() -> None:
    with pytest.raises(BadInput, match="unknown zone 'eth9'"):
        choose_zone(LL, "eth9", [ETH0])
    with pytest.raises(BadInput, match="no link up"):
        choose_zone(LL, None, [])
    glob = ipaddress.IPv6Address("2001:db8::1")
    assert choose_zone(glob, None, [ETH0, ETH1]).interface is None
    assert choose_zone(glob, None, []).sockaddr() == ("2001:db8::1", 0, 0, 0)
    with pytest.raises(BadInput, match="takes no zone"):
        choose_zone(glob, "eth0", [ETH0])
