"""The address toolkit: vectors from the RFCs and the seeds, and properties."""

from __future__ import annotations

import ipaddress
import socket
from ipaddress import IPv4Address as V4
from ipaddress import IPv6Address as V6
from ipaddress import IPv6Network as N6

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipv6 import BadInput
from ipv6._address import canonical, explain, needs_zone, parse_address, split_zone
from ipv6._derive import (
    NAT64_LENGTHS,
    decode_teredo,
    embedded_rp,
    eui64_address,
    is_ssm,
    isatap_interface_id,
    isatap_ipv4,
    nat64_embed,
    nat64_extract,
    parse_mac,
    sixto4_address,
    sixto4_ipv4,
    sixto4_prefix,
    solicited_node,
)


def test_the_seeds_eui64_example() -> None:
    # Configuration 1: 00-60-08-52-f9-d8 -> 02-60-08-ff-fe-52-f9-d8 -> fe80::260:8ff:fe52:f9d8
    assert eui64_address(parse_mac("00-60-08-52-f9-d8")) == V6("fe80::260:8ff:fe52:f9d8")
    assert eui64_address(parse_mac("00:10:5a:aa:20:a2")) == V6("fe80::210:5aff:feaa:20a2")
    assert eui64_address(parse_mac("0060.0852.f9d8"), N6("2001:db8:1::/64")) == V6(
        "2001:db8:1:0:260:8ff:fe52:f9d8"
    )


def test_the_seeds_6to4_example() -> None:
    # Configuration 2: 172.31.42.239 -> 2002:ac1f:2aef::/48, host 2002:ac1f:2aef::ac1f:2aef
    assert sixto4_prefix(V4("172.31.42.239")) == N6("2002:ac1f:2aef::/48")
    assert sixto4_address(V4("172.31.42.239")) == V6("2002:ac1f:2aef::ac1f:2aef")
    assert sixto4_address(V4("172.31.42.239"), subnet=1, host=1) == V6("2002:ac1f:2aef:1::1")
    assert sixto4_ipv4(V6("2002:836b:9820::836b:9820")) == V4("131.107.152.32")


def test_rfc_6052_table_of_nat64_addresses() -> None:
    v4 = V4("192.0.2.33")
    table = {
        "2001:db8::/32": "2001:db8:c000:221::",
        "2001:db8:100::/40": "2001:db8:1c0:2:21::",
        "2001:db8:122::/48": "2001:db8:122:c000:2:2100::",
        "2001:db8:122:300::/56": "2001:db8:122:3c0:0:221::",
        "2001:db8:122:344::/64": "2001:db8:122:344:c0:2:2100:0",
        "2001:db8:122:344::/96": "2001:db8:122:344::c000:221",
        "64:ff9b::/96": "64:ff9b::c000:221",
    }
    for prefix, expected in table.items():
        assert nat64_embed(v4, N6(prefix)) == V6(expected), prefix
        assert nat64_extract(V6(expected), N6(prefix)) == v4
    assert canonical(V6("64:ff9b::c000:221")) == "64:ff9b::192.0.2.33"


def test_rfc_4380_teredo_example() -> None:
    info = decode_teredo(V6("2001:0:4136:e378:8000:63bf:3fff:fdd2")).to_json()
    assert info == {
        "server": "65.54.227.120",
        "flags": 0x8000,
        "cone": True,
        "port": 40000,
        "client": "192.0.2.45",
    }


def test_rfc_3956_embedded_rp() -> None:
    assert embedded_rp(V6("ff7e:140:2001:db8:beef:feed::1234")) == V6("2001:db8:beef:feed::1")
    info = explain(V6("ff7e:140:2001:db8:beef:feed::1234"))
    assert info.details["embedded_rp"] == "2001:db8:beef:feed::1" and info.scope == "global"


def test_rfc_5952_text() -> None:
    assert canonical(V6("2001:db8:0:0:1:0:0:1")) == "2001:db8::1:0:0:1"
    assert canonical(V6("2001:0db8::0001")) == "2001:db8::1"
    assert canonical(V6("2001:db8:0:1:1:1:1:1")) == "2001:db8:0:1:1:1:1:1"
    assert canonical(V6("2001:DB8::AAAA")) == "2001:db8::aaaa"
    assert canonical(V6("::ffff:c000:201")) == "::ffff:192.0.2.1"


def test_zones_and_the_uri_form() -> None:
    assert split_zone("fe80::1%eth0") == (V6("fe80::1"), "eth0")
    assert split_zone("fe80::1%4") == (V6("fe80::1"), "4")
    assert split_zone("[fe80::1%25eth0]") == (V6("fe80::1"), "eth0")  # RFC 6874, read only
    assert split_zone("2001:db8::1") == (V6("2001:db8::1"), None)
    assert split_zone("ff02::1%eth1") == (V6("ff02::1"), "eth1")
    for bad, words in (
        ("fe80::1%", "empty zone"),
        ("2001:db8::1%eth0", "not scoped"),
        ("10.0.0.1%eth0", "no zones"),
        ("fe80::zz%eth0", "not an IPv4 or IPv6"),
    ):
        with pytest.raises(BadInput, match=words):
            split_zone(bad)
    assert needs_zone(V6("fe80::1")) and needs_zone(V6("ff02::1")) and needs_zone(V6("ff01::1"))
    assert not needs_zone(V6("ff05::1")) and not needs_zone(V6("2001:db8::1"))


def test_classification() -> None:
    def scope(text: str) -> str:
        return explain(parse_address(text)).scope

    assert scope("fe80::1") == "link-local"
    assert scope("fec0::1") == "site-local" and "deprecated" in explain(V6("fec0::1")).facts[0]
    assert scope("fd12:3456:789a:1::1") == "unique-local"
    assert scope("ff02::1") == "link-local" and scope("ff05::2") == "site-local"
    assert scope("ff08::1") == "organization-local" and scope("ff0e::1") == "global"
    assert scope("ff01::1") == "interface-local" and scope("ff03::1") == "realm-local"
    assert scope("ff04::1") == "admin-local"
    assert explain(V6("::")).kind == "unspecified" and explain(V6("::1")).kind == "loopback"
    assert any("documentation" in f for f in explain(V6("2001:db8::1")).facts)
    assert any("documentation" in f for f in explain(V6("3fff::1")).facts)
    mapped = explain(V6("::ffff:192.0.2.1"))
    assert mapped.embedded_ipv4 == "192.0.2.1" and "IPv4-mapped" in mapped.facts[-1]
    assert "deprecated" in explain(V6("::10.0.0.1")).facts[-1]
    six = explain(V6("2002:c0a8:101::1"))  # 192.168.1.1 inside: not usable
    assert six.details["6to4"]["usable"] is False and six.embedded_ipv4 == "192.168.1.1"
    assert explain(V6("2002:836b:9820::1")).details["6to4"]["usable"] is True
    assert "Teredo" in explain(V6("2001:0:4136:e378:8000:63bf:3fff:fdd2")).facts[-1]
    assert explain(V6("fe80::5efe:a00:1")).embedded_ipv4 == "10.0.0.1"
    assert "solicited-node" in explain(V6("ff02::1:ff28:9c5a")).facts[-1]
    assert "SSM" in explain(V6("ff3e::1234")).facts[-1]
    assert explain(V6("ff3e:30:2001:db8::1")).details["unicast_prefix"] == "2001:db8::/48"
    flags = explain(V6("ff12::1")).details["flags"]
    assert flags == {"R": False, "P": False, "T": True}
    assert explain(V6("64:ff9b:1::a00:1")).embedded_ipv4 == "10.0.0.1"
    assert explain(V4("232.1.1.1")).facts == [
        "source-specific multicast (SSM, RFC 4607): join with a source"
    ]
    assert (
        explain(V4("10.0.0.1")).scope == "private" and explain(V4("100.64.0.1")).scope == "shared"
    )


def test_derivations() -> None:
    assert solicited_node(V6("fe80::2aa:ff:fe28:9c5a")) == V6("ff02::1:ff28:9c5a")
    assert isatap_interface_id(V4("10.0.0.1")) == bytes.fromhex("00005efe0a000001")
    assert isatap_interface_id(V4("131.107.152.32")) == bytes.fromhex("02005efe836b9820")
    assert isatap_ipv4(V6("fe80::200:5efe:836b:9820")) == V4("131.107.152.32")
    assert is_ssm(V4("232.0.0.1")) and is_ssm(V6("ff3e::1")) and not is_ssm(V6("ff0e::1"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("00-60-08-52-f9", "5 bytes"),
        ("00-60-08-52-f9-d8-00", "7 bytes"),
        ("zz-60-08-52-f9-d8", "not hexadecimal"),
    ],
)
def test_bad_macs(text: str, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        parse_mac(text)


def test_bad_derivations() -> None:
    with pytest.raises(BadInput, match="/32, /40"):
        nat64_embed(V4("10.0.0.1"), N6("2001:db8::/44"))
    with pytest.raises(BadInput, match="bits 64 to 71"):
        nat64_embed(V4("10.0.0.1"), N6("2001:db8:0:0:100::/96"))
    with pytest.raises(BadInput, match="subnet"):
        sixto4_address(V4("192.0.2.1"), subnet=70000)
    with pytest.raises(BadInput, match="not an IPv4 or IPv6"):
        parse_address("not-an-address")


v4s = st.integers(0, 2**32 - 1).map(V4)
v6s = st.integers(0, 2**128 - 1).map(V6)


WELL_KNOWN_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Addresses of every shape: random, short runs of zeros anywhere, mapped, compatible, NAT64.
shaped_v6s = st.one_of(
    v6s,
    st.tuples(st.integers(0, 0xFFFF), st.integers(0, 7)).map(lambda t: V6(t[0] << (16 * t[1]))),
    st.integers(0, 2**32 - 1).map(lambda n: V6((0xFFFF << 32) | n)),
    st.integers(0, 2**32 - 1).map(V6),
    st.integers(0, 2**32 - 1).map(lambda n: V6(int(WELL_KNOWN_NAT64.network_address) | n)),
)


@given(shaped_v6s)
def test_canonical_text_is_the_c_librarys_rfc_5952_text(address: V6) -> None:
    """The oracle is libc's inet_ntop (RFC 5952 text, IPv4-mapped dotted). Two
    differences are chosen: the well-known NAT64 prefix (RFC 6052 2.4) and the
    IPv4-compatible ::/96 show their last 32 bits dotted always, where glibc
    dots ::/96 only when the IPv4 part has a non-zero upper half."""
    text = canonical(address)
    assert ipaddress.ip_address(text) == address
    low = V4(int(address) & 0xFFFFFFFF)
    if address in WELL_KNOWN_NAT64:
        assert text == f"64:ff9b::{low}"
    elif int(address) >> 32 == 0 and int(address) > 1:
        assert text == f"::{low}"
    else:
        assert text == socket.inet_ntop(socket.AF_INET6, address.packed)


@given(v4s, st.sampled_from(NAT64_LENGTHS), st.integers(0, 2**32 - 1))
def test_nat64_embedding_and_extraction_are_inverse(address: V4, length: int, bits: int) -> None:
    raw = bytearray((0x2001_0DB8 << 96 | bits << 64).to_bytes(16, "big"))
    raw[8] = 0
    prefix = N6((int.from_bytes(raw, "big"), length), strict=False)
    assert nat64_extract(nat64_embed(address, prefix), prefix) == address


@given(v4s, st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1))
def test_6to4_address_and_back(address: V4, subnet: int, host: int) -> None:
    built = sixto4_address(address, subnet, host)
    assert sixto4_ipv4(built) == address and built in sixto4_prefix(address)


@given(st.binary(min_size=6, max_size=6))
def test_eui64_puts_fffe_in_the_middle_and_flips_the_ul_bit(mac: bytes) -> None:
    iid = eui64_address(mac).packed[8:]
    assert iid[3:5] == b"\xff\xfe" and iid[0] == mac[0] ^ 2 and iid[5:] == mac[3:]


@given(v6s)
def test_every_address_explains_without_error(address: V6) -> None:
    info = explain(address)
    assert ipaddress.ip_address(info.address) == address and info.facts


def test_network_specific_nat64_prefixes_are_recognised_when_named() -> None:
    address = V6("2001:db8:122:c000:2:2100::")
    assert explain(address).embedded_ipv4 is None
    info = explain(address, (N6("2001:db8:122::/48"),))
    assert (
        info.embedded_ipv4 == "192.0.2.33" and info.details["nat64_prefix"] == "2001:db8:122::/48"
    )
