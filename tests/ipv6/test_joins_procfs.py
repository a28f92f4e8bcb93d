"""Parsing /proc/net/igmp, mcfilter, igmp6 and mcfilter6 (captured from a kernel)."""

from __future__ import annotations

import ipaddress

from ipv6._joins import merge, parse_igmp, parse_igmp6, parse_mcfilter, parse_mcfilter6

IGMP = (
    "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n"
    "1\tlo        :     1      V3\n"
    "\t\t\t\t010000E0     1 0:00000000\t\t0\n"
    "2\teth0      :     2      V2\n"
    "\t\t\t\t030201EF     2 0:00000000\t\t0\n"
    "\t\t\t\t010000E0     1 0:00000000\t\t0\n"
)
MCFILTER = (
    "Idx Device        MCA        SRC    INC    EXC\n"
    "  2   eth0 0xef010203 0x0a000009      0      1\n"
)
IGMP6 = (
    "1    lo              ff020000000000000000000000000001     1 0000000C 0\n"
    "2    eth0            ff3e0000000000000000000000001234     1 00000004 0\n"
    "2    eth0            ff3e0000000000000000000000000099     1 00000004 0\n"
)
MCFILTER6 = (
    "Idx Device                Multicast Address                   Source Address    INC    EXC\n"
    "  2   eth0 ff3e0000000000000000000000000099 20010db8000000010000000000000007      0      1\n"
    "  2   eth0 ff3e0000000000000000000000001234 20010db8000000010000000000000002      1      0\n"
)


def test_igmp_groups_per_interface() -> None:
    joins = parse_igmp(IGMP, byteorder="little")
    assert [(j.interface, str(j.group), j.users, j.compat) for j in joins] == [
        ("lo", "224.0.0.1", 1, "V3"),
        ("eth0", "239.1.2.3", 2, "V2"),
        ("eth0", "224.0.0.1", 1, "V2"),
    ]


def test_exclude_filter_rows_make_an_exclude_join() -> None:
    joins = merge(parse_igmp(IGMP, byteorder="little"), parse_mcfilter(MCFILTER))
    (blocked,) = [j for j in joins if str(j.group) == "239.1.2.3"]
    assert blocked.mode == "exclude"
    assert blocked.filter_sources == [ipaddress.ip_address("10.0.0.9")]
    plain = next(j for j in joins if str(j.group) == "224.0.0.1" and j.interface == "eth0")
    assert plain.mode == "exclude" and plain.filter_sources == []


def test_ipv6_include_and_exclude() -> None:
    joins = {str(j.group): j for j in merge(parse_igmp6(IGMP6), parse_mcfilter6(MCFILTER6))}
    assert joins["ff3e::1234"].mode == "include"
    assert [str(s) for s in joins["ff3e::1234"].filter_sources] == ["2001:db8:0:1::2"]
    assert joins["ff3e::99"].mode == "exclude"
    assert joins["ff3e::99"].to_json()["sources"] == ["2001:db8:0:1::7"]
    assert joins["ff02::1"].to_json()["family"] == "ipv6"
