"""netsh words for the toolkit's translators and 6rd tunnels (pure planning)."""

from __future__ import annotations

import pytest

from ipv6.netsh import parse_command, plan, split
from ipv6.netsh._grammar import NetshSyntaxError
from ipv6.netsh._ops import AddTranslator, AddTunnel, DeleteTunnel


def planned(text: str) -> list[object]:
    return list(plan(parse_command(split(text)), {"lo": 1, "eth0": 2, "nat64": 3}))


def test_add_nat64_plans_a_translator() -> None:
    (op,) = planned(
        "int ipv6 add nat64 nat64 64:ff9b:1::/96 203.0.113.0/28 udptimeout=60 maxsessions=500"
    )
    assert isinstance(op, AddTranslator)
    assert dict(op.spec) == {
        "name": "nat64", "mode": "nat64", "prefix": "64:ff9b:1::/96", "pool": "203.0.113.0/28",
        "udp_timeout": 60, "max_sessions": 500,
    }  # fmt: skip


def test_add_nat64_stateless_with_pairs() -> None:
    (op,) = planned(
        "int ipv6 add nat64 interface=siit prefix=2001:db8:46::/96 mode=stateless "
        "map=192.0.2.9=2001:db8:1::9,192.0.2.10=2001:db8:1::10 ipv4address=192.0.2.1"
    )
    assert isinstance(op, AddTranslator)
    spec = dict(op.spec)
    assert spec["mode"] == "siit" and spec["ipv4_address"] == "192.0.2.1"
    assert spec["pairs"] == {"192.0.2.9": "2001:db8:1::9", "192.0.2.10": "2001:db8:1::10"}


def test_a_map_without_its_equals_sign_is_refused() -> None:
    with pytest.raises(NetshSyntaxError, match="write IPV4=IPV6"):
        planned("int ipv6 add nat64 siit 2001:db8:46::/96 mode=stateless map=192.0.2.9")


def test_delete_interface_removes_a_translator_as_a_tunnel() -> None:
    assert planned("int ipv6 delete interface nat64") == [DeleteTunnel("nat64")]


def test_add_v6v4tunnel_mode_6rd() -> None:
    (op,) = planned(
        "int ipv6 add v6v4tunnel 6rd 10.64.0.1 mode=6rd sixrdprefix=2001:db8::/32 "
        "ipv4masklength=8 borderrelay=yes lab=yes"
    )
    assert isinstance(op, AddTunnel)
    spec = dict(op.spec)
    assert (spec["mode"], spec["sixrd_prefix"], spec["ipv4_mask_length"], spec["border_relay"]) == (
        "6rd", "2001:db8::/32", 8, True,
    )  # fmt: skip
    with pytest.raises(NetshSyntaxError, match="for mode=6rd"):
        planned("int ipv6 add v6v4tunnel t 10.0.0.1 mode=6to4 sixrdprefix=2001:db8::/32")
