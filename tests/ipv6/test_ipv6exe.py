"""The seeds' Ipv6.exe subcommands translated to netsh's commands, worked by hand
(pure: the host is given as data)."""

from __future__ import annotations

import pytest

from ipv6.netsh._grammar import NetshSyntaxError
from ipv6.netsh._ipv6exe import Change, Display, Host, NotHere, translate

HOST = Host(
    {"lo": 1, "eth0": 2, "eth1": 3, "t0": 4},
    addresses={(2, "2002:ac1f:2aef::ac1f:2aef"): 128, (2, "2001:db8:1::1"): 64},
    routes=frozenset({("2002::/16", 4, None)}),
)


def lines(verb: str, *words: str) -> list[str]:
    result = translate(verb, list(words), HOST)
    assert isinstance(result, Change), result
    return list(result.lines)


@pytest.mark.parametrize(
    ("verb", "words", "expected"),
    [
        # The seeds' Configuration 2, interface numbers as the lab's.
        ("rtu", ["2002::/16", "4"], "interface ipv6 set route prefix=2002::/16 interface=t0"),
        ("rtu", ["2002::/16", "eth1"], "interface ipv6 add route prefix=2002::/16 interface=eth1"),
        ("adu", ["2/2002:ac1f:2aef::ac1f:2aef"],
         "interface ipv6 set address interface=eth0 address=2002:ac1f:2aef::ac1f:2aef/128"),
        # an update keeps the prefix length the address has
        ("adu", ["2/2001:db8:1::1", "life", "600"],
         "interface ipv6 set address interface=eth0 address=2001:db8:1::1/64 validlifetime=600 "
         "preferredlifetime=600"),
        ("adu", ["3/2002:ac1f:2aef:1::1"],
         "interface ipv6 add address interface=eth1 address=2002:ac1f:2aef:1::1"),
        ("rtu", ["::/0", "4::131.107.152.32", "pub", "life", "1800"],
         "interface ipv6 add route prefix=::/0 interface=t0 nexthop=::836b:9820 publish=yes "
         "validlifetime=1800"),
        ("rtu", ["2002:ac1f:2aef:1::/64", "3", "pub", "life", "1800"],
         "interface ipv6 add route prefix=2002:ac1f:2aef:1::/64 interface=eth1 publish=yes "
         "validlifetime=1800"),
        ("rtu", ["2002:836b:9820:2::/64", "eth1", "pub", "age", "life", "1800", "spl", "48"],
         "interface ipv6 add route prefix=2002:836b:9820:2::/64 interface=eth1 publish=age "
         "siteprefixlength=48 validlifetime=1800"),
        ("rtu", ["2001:db8::/48", "eth0/fe80::1", "pref", "5"],
         "interface ipv6 add route prefix=2001:db8::/48 interface=eth0 nexthop=fe80::1 metric=5"),
        ("rtu", ["2002::/16", "4", "life", "0"],
         "interface ipv6 delete route prefix=2002::/16 interface=t0"),
        ("ifc", ["3", "forw", "adv", "mtu", "1400"],
         "interface ipv6 set interface interface=eth1 forwarding=enabled advertise=enabled "
         "mtu=1400"),
        ("ifc", ["eth1", "-forwards", "-advertisers"],
         "interface ipv6 set interface interface=eth1 forwarding=disabled advertise=disabled"),
        ("ifd", ["4"], "interface ipv6 delete interface interface=t0"),
        ("adu", ["eth0/2001:db8::9", "lifetime", "3600/1800"],
         "interface ipv6 add address interface=eth0 address=2001:db8::9 validlifetime=3600 "
         "preferredlifetime=1800"),
        ("adu", ["eth0/2001:db8::7", "anycast"],
         "interface ipv6 add address interface=eth0 address=2001:db8::7 type=anycast"),
        ("adu", ["2/2002:ac1f:2aef::ac1f:2aef", "life", "0"],
         "interface ipv6 delete address interface=eth0 address=2002:ac1f:2aef::ac1f:2aef"),
        ("ncf", [], "interface ipv6 delete neighbors"),
        ("ncf", ["2", "fe80::1"], "interface ipv6 delete neighbors interface=eth0 address=fe80::1"),
        ("rcf", ["3"], "interface ipv6 delete destinationcache interface=eth1"),
    ],
)  # fmt: skip
def test_a_change_is_the_netsh_command_that_makes_it(verb, words, expected) -> None:
    made = lines(verb, *words)
    if verb == "ifc" and "forw" in words:  # (the namespace's forwarding first: see below)
        assert made[0] == "interface ipv6 set global forwarding=enabled"
        made = made[1:]
    assert made == [expected]


def test_forwarding_an_interface_turns_the_namespaces_forwarding_on_first() -> None:
    # Linux forwards per namespace: the global switch goes first (it is copied to
    # every interface), then the interface's own.
    assert lines("ifc", "2", "forw") == [
        "interface ipv6 set global forwarding=enabled",
        "interface ipv6 set interface interface=eth0 forwarding=enabled",
    ]
    on = Host(HOST.interfaces, forwarding=True)
    assert translate("ifc", ["2", "forw"], on) == Change(
        ("interface ipv6 set interface interface=eth0 forwarding=enabled",)
    )


def test_displays_name_what_to_show_and_the_filter() -> None:
    assert translate("if", [], HOST) == Display("interfaces")
    assert translate("if", ["3"], HOST) == Display("interfaces", 3)
    assert translate("nc", ["eth0", "fe80::1"], HOST) == Display("neighbors", 2, "fe80::1")
    assert translate("rc", ["2", "2001:db8::1"], HOST) == Display("destinationcache", 2,
                                                                  "2001:db8::1")  # fmt: skip
    assert translate("rt", [], HOST) == Display("route")
    assert translate("spt", [], HOST) == Display("siteprefixes")
    assert isinstance(translate("bc", [], HOST), NotHere)


@pytest.mark.parametrize(
    ("verb", "words", "words_in_error"),
    [
        ("if", ["9"], "no interface '9'"),
        ("adu", ["9/2001:db8::1"], "no interface '9'"),
        ("adu", ["2/2001:db8::1", "life", "10/20"], "preferred lifetime is longer"),
        ("adu", ["2/2001:db8::1", "anycast", "life", "600"], "0 (remove it) or infinite"),
        ("adu", ["2/2001:db8::1/64"], "not an IPv6 address"),
        ("adu", ["2"], "IF/ADDRESS"),
        ("rtu", ["2001:db8::/129", "2"], "not an IPv6 prefix"),
        ("rtu", ["2001:db8::1/64", "2"], "not an IPv6 prefix"),
        ("rtu", ["2001:db8::/64", "2", "spl", "200"], "0 to 128"),
        ("rtu", ["2001:db8::/64", "2", "colour", "red"], "not an option"),
        ("rtu", ["2001:db8::/64", "2", "life"], "needs a value"),
        ("ifc", ["2", "site", "1"], "no site identifiers"),
        ("ifc", ["2"], "say what to change"),
        ("ifc", ["2", "mtu", "big"], "mtu takes a number"),
        ("spu", ["fec0::/48", "2"], "no site prefix table"),
        ("rc", ["2"], "rc [IF ADDR]"),
        ("rt", ["2"], "too many words"),
        ("route", [], "not an ipv6 subcommand"),
    ],
)
def test_bad_input_is_one_line(verb: str, words: list[str], words_in_error: str) -> None:
    with pytest.raises(NetshSyntaxError) as caught:
        translate(verb, words, HOST)
    assert words_in_error in str(caught.value) and "\n" not in str(caught.value)
