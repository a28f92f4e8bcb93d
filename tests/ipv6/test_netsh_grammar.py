"""The netsh language: abbreviations, positional values, checked values."""

from __future__ import annotations

import ipaddress

import pytest

from ipv6._kernelops import INFINITE, AddAddress, AddRoute, WriteSysctl
from ipv6.netsh._grammar import (
    NetshSyntaxError,
    lifetime_text,
    parse_command,
    parse_lifetime,
    split,
)
from ipv6.netsh._ops import Remember, plan


def cmd(text: str):
    return parse_command(split(text))


def test_keywords_and_positions_and_abbreviations() -> None:
    a = cmd(
        "interface ipv6 add address interface=eth0 address=2001:db8::1/64"
        " validlifetime=1d preferredlifetime=2h"
    )
    b = cmd("int ipv6 add addr eth0 2001:db8::1/64 valid=1d pref=2h")
    assert a.values == b.values
    assert a.values["address"] == ipaddress.ip_interface("2001:db8::1/64")
    assert a.values["validlifetime"] == 86400 and a.values["preferredlifetime"] == 7200
    route = cmd("INTERFACE IPV6 ADD ROUTE 2001:db8:99::/48 eth0 fe80::1 metric=5 publish=yes")
    assert (
        route.values["nexthop"] == ipaddress.ip_address("fe80::1")
        and route.values["publish"] == "yes"
    )
    assert (
        cmd("int ipv6 sh addr eth0").noun == "addresses"
        and cmd("int ip show route").family == "ipv4"
    )
    assert (
        cmd("interface ipv6 add address eth0 2001:db8::7").values["address"].network.prefixlen
        == 128
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "interface ipv6 add address eth0 2001:db8::1/129",
            "address: prefix length 129 is longer than 128",
        ),
        ("interface ipv6 add address eth0 10.0.0.1", "not an IPv6 address"),
        ("interface ipv6 set interface eth0 mtu=1000", "mtu: 1000 is below 1280"),
        (
            "interface ipv6 add address eth0 2001:db8::1 validlifetime=10m preferredlifetime=1h",
            "preferredlifetime (3600s) is longer than validlifetime (600s)",
        ),
        (
            "interface ipv6 add address eth0 2001:db8::1 color=red",
            "'color' is not a keyword of add address",
        ),
        ("interface ipv6 add address eth0", "address is required"),
        ("interface ipv6 add route 2001:db8::/32 eth0 fe80::1 extra", "no value is missing"),
        ("interface ipv6 s address eth0 2001:db8::1", "ambiguous"),
        ("interface ipv6 add address eth0 2001:db8::1 validlifetime=soon", "not a lifetime"),
        ("interface ipv6 add neighbors eth0 fe80::1 00-11-22", "not a link-layer address"),
        ("interface ipv4 add address eth0 10.0.0.1 255.0.255.0", "not a netmask"),
        (
            "interface ipv6 add address interface=eth0 interface=eth1 address=2001:db8::1",
            "given twice",
        ),
        ("route add", "commands start with"),
    ],
)
def test_bad_input_names_the_keyword(text: str, words: str) -> None:
    with pytest.raises(NetshSyntaxError) as caught:
        cmd(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_lifetimes() -> None:
    assert parse_lifetime("infinite", "x") == INFINITE and parse_lifetime("90", "x") == 90
    assert parse_lifetime("1d2h3m4s", "x") == 93784 and lifetime_text(93784) == "1d2h3m4s"
    assert lifetime_text(INFINITE) == "infinite"


def test_plans_use_linux_words() -> None:
    interfaces = {"lo": 1, "eth0": 2}
    ops = plan(cmd("int ipv6 add addr eth0 2001:db8::1/64 valid=1h pref=30m"), interfaces)
    assert ops[0] == AddAddress(2, ipaddress.ip_interface("2001:db8::1/64"), 3600, 1800)
    assert isinstance(ops[1], Remember)
    ops = plan(cmd("int ipv6 set interface 2 forwarding=enabled mtu=1400"), interfaces)
    assert ops == [
        WriteSysctl("net/ipv6/conf/eth0/forwarding", "1"),
        WriteSysctl("net/ipv6/conf/eth0/mtu", "1400"),
    ]
    ops = plan(cmd("int ipv6 add route 2001:db8::/32 eth0 validlifetime=10m"), interfaces)
    assert isinstance(ops[0], AddRoute) and ops[0].expires == 600
    hop = plan(cmd("int ipv6 set global defaultcurhoplimit=32"), interfaces)
    assert hop == [
        WriteSysctl("net/ipv6/conf/all/hop_limit", "32"),
        WriteSysctl("net/ipv6/conf/default/hop_limit", "32"),
    ]
    with pytest.raises(NetshSyntaxError, match="no interface 'eth9'"):
        plan(cmd("int ipv6 add addr eth9 2001:db8::1"), interfaces)
    with pytest.raises(NetshSyntaxError, match="Linux has no interface metric"):
        plan(cmd("int ipv6 set interface eth0 metric=5"), interfaces)


def test_an_undo_says_what_it_could_not_undo() -> None:
    from ipv6._transact import Undone

    assert str(Undone(3)) == "3 changes undone, nothing is left half-applied"
    left = Undone(1, ["DeleteAddress(interface=7, address=2001:db8::1/64) (No such device)"])
    assert str(left) == (
        "1 change undone; could not undo 1, left as they are: "
        "DeleteAddress(interface=7, address=2001:db8::1/64) (No such device)"
    )


def test_a_script_is_planned_once_naming_the_interfaces_it_makes() -> None:
    from ipv6.netsh._script import parse_script
    from ipv6.netsh._transaction import plan_lines

    lines = parse_script(
        [
            "interface ipv6 add v6v4tunnel tun6 192.0.2.1 198.51.100.1",
            "interface ipv6 add address tun6 2001:db8::1/64",
            "interface ipv6 add address eth0 2001:db8:1::1/64",
            "interface ipv6 delete interface tun6",
        ]
    )
    planned = plan_lines(lines, {"eth0": 2})
    assert planned[1].ops[0] == AddAddress("tun6", ipaddress.ip_interface("2001:db8::1/64"))
    assert planned[2].ops[0] == AddAddress(2, ipaddress.ip_interface("2001:db8:1::1/64"))
    after = parse_script(["interface ipv6 add address tun6 2001:db8::2/64"])
    with pytest.raises(NetshSyntaxError, match=r"line 1: .*no interface 'tun6'"):
        plan_lines(lines + after, {"eth0": 2})  # deleted by line 4, so unknown after it


def test_install_and_uninstall_turn_the_namespaces_ipv6_on_and_off() -> None:
    off = plan(parse_command(["interface", "ipv6", "uninstall"]), {})
    assert off == [
        WriteSysctl("net/ipv6/conf/default/disable_ipv6", "1"),
        WriteSysctl("net/ipv6/conf/all/disable_ipv6", "1"),
    ]
    on = plan(parse_command(["int", "ipv6", "inst"]), {})
    assert [op.value for op in on if isinstance(op, WriteSysctl)] == ["0", "0"]
    with pytest.raises(NetshSyntaxError, match="ipv6 context"):
        parse_command(["interface", "ip", "install"])
    with pytest.raises(NetshSyntaxError, match="takes no parameters"):
        parse_command(["interface", "ipv6", "install", "eth0"])
