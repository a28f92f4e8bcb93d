"""A translator's configuration checked before anything starts (pure), and the
command line's one-line refusals with exit 2 and nothing started."""

from __future__ import annotations

import ipaddress
import os
import socket
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from ipv6._errors import BadInput
from ipv6.translate._spec import TranslatorSpec, check, device_setup, make_translator, routes
from tests.conftest import run_cli

HOST = {"eth0": [IPv4Network("192.0.2.0/24")], "lo": [IPv4Network("127.0.0.0/8")]}


def checked(**fields: object) -> TranslatorSpec:
    spec = TranslatorSpec(name="nat64", **fields)  # type: ignore[arg-type]
    check(spec, subnets=HOST, names={"lo", "eth0"})
    return spec


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"prefix": "2001:db8:0:0:100::/96", "pool": "203.0.113.0/28"}, "bits 64 to 71"),
        ({"prefix": "2001:db8::/36", "pool": "203.0.113.0/28"}, "RFC 6052 allows"),
        ({"pool": "192.0.2.16/28"}, "overlaps 192.0.2.0/24, a subnet of eth0"),
        ({"pool": "203.0.113.1/28"}, "host bits"),
        ({}, "needs an IPv4 pool"),
        ({"pool": "203.0.113.7/32"}, "has one address"),
        ({"pool": "203.0.113.0/28", "pairs": {"192.0.2.9": "2001:db8::9"}}, "stateless"),
        ({"pool": "203.0.113.0/28", "mtu": 1200}, "at least 1280"),
        ({"pool": "203.0.113.0/28", "udp_timeout": 0}, "--udp-timeout"),
        ({"pool": "203.0.113.0/28", "filtering": "open"}, "filtering"),
        ({"mode": "siit", "prefix": "2001:db8:46::/96"}, "a stateless translator needs"),
        ({"mode": "siit", "prefix": "2001:db8:46::/96", "pairs": {"192.0.2.9": "2001:db8:46::9"},
          "ipv4_address": "192.0.2.1"}, "inside the prefix"),
        # Space no router forwards (RFC 1812 5.3.7, RFC 3927 7) is never translated.
        ({"pool": "169.254.0.0/28"}, "no router forwards"),
        ({"mode": "siit", "prefix": "2001:db8:46::/96", "pairs": {"127.0.0.5": "2001:db8::5"},
          "ipv4_address": "198.51.100.1"}, "no router forwards"),
        ({"pool": "203.0.113.0/28", "ipv4_address": "0.1.2.3"}, "no router forwards"),
        ({"pool": "203.0.113.0/28", "icmp_pool": "240.0.0.0/29"}, "no router forwards"),
        # The well-known prefix carries only global IPv4 (RFC 6052 3.1): a SIIT pool
        # of private addresses behind it could translate nothing.
        ({"mode": "siit", "pool": "10.1.0.0/24"}, "not global IPv4"),
        ({"mode": "siit", "prefix": "2001:db8:46::/96", "pairs": {"198.51.100.9": "2001:db8::9"},
          "ipv4_address": "198.51.100.9"}, "the translator's own IPv4 address"),
        ({"pool": "203.0.113.0/28", "icmp_error_rate": -1}, "--icmp-errors"),
    ],
)  # fmt: skip
def test_what_cannot_work_is_refused(fields: dict[str, object], why: str) -> None:
    with pytest.raises(BadInput, match=why):
        checked(**fields)


def test_each_pair_is_routed_into_the_device_on_one_side_only() -> None:
    """An IPv6 host behind the translator is reached as its pair's IPv4 address (that
    is routed in); an IPv4 host on a link here as its pair's IPv6 address. Both
    routed in, a translated packet would go back into the device and circle."""
    spec = checked(
        mode="siit", prefix="2001:db8:46::/96", ipv4_address="198.51.100.1",
        pairs={"198.51.100.9": "2001:db8:a::9", "192.0.2.7": "2001:db8:46:1::7"},
    )  # fmt: skip
    assert spec.ipv4_side == ["192.0.2.7"]  # in eth0's 192.0.2.0/24
    assert [str(r) for r in routes(spec)] == [
        "2001:db8:46::/96", "2001:db8:46:1::7/128", "198.51.100.9/32"]  # fmt: skip
    mapper = make_translator(spec).mapper
    assert mapper.hairpin(int(ipaddress.IPv4Address("198.51.100.9")))
    assert not mapper.hairpin(int(ipaddress.IPv4Address("192.0.2.7")))


def test_name_taken_is_refused() -> None:
    with pytest.raises(BadInput, match="already exists"):
        check(TranslatorSpec(name="eth0", pool="203.0.113.0/28"), subnets=HOST, names={"eth0"})


def test_defaults_filled_in() -> None:
    spec = checked(prefix="64:ff9b:1::/96", pool="203.0.113.0/28")
    assert (spec.ipv4_address, spec.ipv6_address) == ("203.0.113.0", "64:ff9b:1::cb00:7100")
    assert [str(r) for r in routes(spec)] == ["64:ff9b:1::/96", "203.0.113.0/28"]
    translator = make_translator(spec)
    assert translator.mapper.stateful
    assert translator.mapper.hairpin(0xCB007105)  # 203.0.113.5 is the pool's


def test_the_well_known_prefix_still_names_the_translators_own_address() -> None:
    spec = checked(prefix="64:ff9b::/96", pool="10.9.0.0/28")
    assert spec.ipv6_address == "64:ff9b::a09:0"


def test_a_short_udp_timeout_is_noted_not_refused() -> None:
    spec = TranslatorSpec(name="nat64", pool="203.0.113.0/28", udp_timeout=5)
    (note,) = check(spec, subnets=HOST, names=set())
    assert "RFC 6146's minimum of 120 s" in note


def test_a_clat_device_holds_the_hosts_ipv4() -> None:
    spec = TranslatorSpec(
        name="clat", mode="siit", prefix="64:ff9b:1::/96", pairs={"192.0.0.1": "2001:db8::c1a7"},
        ipv4_address="192.0.0.2", clat=True,
    )  # fmt: skip
    check(spec, subnets=HOST, names=set())
    ops = [repr(op) for op in device_setup(spec)]
    assert "192.0.0.1/29" in ops[0]
    assert any("2001:db8::c1a7/128" in op for op in ops)
    assert any("0.0.0.0/0" in op and "192.0.0.1" in op for op in ops)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["nat64", "add", "x", "--prefix", "2001:db8:0:0:100::/96", "--pool", "203.0.113.0/28"],
         "bits 64 to 71 must be zero"),
        (["nat64", "add", "x", "--prefix", "64:ff9b:1::/96", "--pool", "127.0.0.0/30"],
         "the pool 127.0.0.0/30 is space no router forwards"),
        (["tunnel", "add", "x", "--mode", "6rd", "--local", "127.0.0.1", "--6rd-prefix",
          "2001:db8::/40", "--relay", "10.0.0.1", "--lab"], "longer than 64"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_started(
    args: list[str], why: str, tmp_path: Path
) -> None:
    result = run_cli("ipv6", *args, env={"NETSH_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert why in result.stderr and result.stderr.count("\n") == 1
    assert "x" not in {name for _, name in socket.if_nameindex()}
    assert not any(p.name.startswith("tunnels") for p in tmp_path.rglob("*")), os.listdir(tmp_path)
