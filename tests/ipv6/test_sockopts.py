"""Option numbers and struct layouts per platform, byte for byte.

Two independent checks: hand-written encodings read off each platform's
header (field order, padding, family numbers), and ctypes, which lays out C
structs by the compiler's rules, for sizes and offsets.
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipv6.sockopts import (
    FREEBSD,
    LINUX,
    MACOS,
    MROUTE_STRUCT_NAMES,
    PLATFORMS,
    STRUCT_NAMES,
    WINDOWS,
    EncodeError,
    decode,
    encode,
    filter_mode_name,
    filter_mode_value,
)

G4 = ipaddress.IPv4Address("232.1.1.1")
IF4 = ipaddress.IPv4Address("10.0.0.1")
S4 = ipaddress.IPv4Address("10.0.0.2")
G6 = ipaddress.IPv6Address("ff3e::1234")
S6 = ipaddress.IPv6Address("2001:db8::2")


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- hand-written encodings from the headers ---------------------------------


def test_ip_mreq_source_field_order_differs() -> None:
    values = {"imr_multiaddr": G4, "imr_interface": IF4, "imr_sourceaddr": S4}
    assert encode(LINUX, "ip_mreq_source", values) == h("e8010101 0a000001 0a000002")
    for bsd_like in (WINDOWS, MACOS, FREEBSD):
        assert encode(bsd_like, "ip_mreq_source", values) == h("e8010101 0a000002 0a000001")


def test_group_req_ipv6_linux() -> None:
    data = encode(LINUX, "group_req", {"gr_interface": 2, "gr_group": G6})
    assert len(data) == 136
    assert data[:8] == h("02000000 00000000")  # interface, then padding to 8
    # sockaddr_in6: family 10, port 0, flowinfo 0, address, scope 0
    assert data[8:36] == h("0a00 0000 00000000 ff3e0000000000000000000000001234 00000000")
    assert data[36:] == bytes(100)


def test_group_req_macos_is_packed_to_four_bytes() -> None:
    data = encode(MACOS, "group_req", {"gr_interface": 2, "gr_group": G6})
    assert len(data) == 132
    # no padding after the interface; sin6_len 28, AF_INET6 30
    assert data[:4] == h("02000000")
    assert data[4:12] == h("1c1e 0000 00000000")
    assert data[12:28] == G6.packed
    source_req = encode(
        MACOS, "group_source_req", {"gsr_interface": 2, "gsr_group": G4, "gsr_source": S4}
    )
    assert len(source_req) == 260
    assert source_req[4:12] == h("1002 0000 e8010101")  # sin_len 16, AF_INET 2
    assert source_req[132:140] == h("1002 0000 0a000002")


def test_group_source_req_sizes_and_families() -> None:
    for platform, family in ((LINUX, "0200"), (WINDOWS, "0200"), (FREEBSD, "1002")):
        data = encode(
            platform, "group_source_req", {"gsr_interface": 7, "gsr_group": G4, "gsr_source": S4}
        )
        assert len(data) == 264, platform.name
        assert data[8:16] == h(family + "0000 e8010101"), platform.name
        assert data[136:144] == h(family + "0000 0a000002"), platform.name
    # IPv6 family numbers: Linux 10, Windows 23, macOS 30, FreeBSD 28
    for platform, head in ((LINUX, "0a00"), (WINDOWS, "1700"), (FREEBSD, "1c1c")):
        data = encode(platform, "group_req", {"gr_interface": 1, "gr_group": G6})
        assert data[8:10] == h(head), platform.name


def test_group_filter_linux_and_windows_modes_differ() -> None:
    for platform, mode in ((LINUX, "00000000"), (WINDOWS, "01000000")):
        data = encode(
            platform,
            "group_filter",
            {
                "gf_interface": 3,
                "gf_group": G4,
                "gf_fmode": filter_mode_value(platform, "exclude"),
                "gf_numsrc": 2,
                "gf_slist": [S4, IF4],
            },
        )
        assert len(data) == 144 + 2 * 128  # GROUP_FILTER_SIZE(2)
        assert data[136:144] == h(mode + "02000000")
        assert data[144:152] == h("0200 0000 0a000002")
        assert data[272:280] == h("0200 0000 0a000001")
    assert filter_mode_value(LINUX, "include") == 1 and filter_mode_value(WINDOWS, "include") == 0
    assert filter_mode_value(MACOS, "exclude") == 2 == filter_mode_value(FREEBSD, "exclude")


def test_ip_msfilter_linux() -> None:
    data = encode(
        LINUX,
        "ip_msfilter",
        {
            "imsf_multiaddr": G4,
            "imsf_interface": IF4,
            "imsf_fmode": 1,
            "imsf_numsrc": 2,
            "imsf_slist": [S4, IF4],
        },
    )
    assert data == h("e8010101 0a000001 01000000 02000000 0a000002 0a000001")


def test_pktinfo_layouts() -> None:
    linux = encode(LINUX, "in_pktinfo", {"ipi_ifindex": 5, "ipi_spec_dst": IF4, "ipi_addr": G4})
    assert linux == h("05000000 0a000001 e8010101")
    assert encode(MACOS, "in_pktinfo", {"ipi_ifindex": 5, "ipi_addr": G4}) == h(
        "05000000 00000000 e8010101"
    )
    assert encode(WINDOWS, "in_pktinfo", {"ipi_addr": G4, "ipi_ifindex": 5}) == h(
        "e8010101 05000000"
    )
    assert FREEBSD.layout("in_pktinfo") is None
    for platform in PLATFORMS.values():
        data = encode(platform, "in6_pktinfo", {"ipi6_addr": G6, "ipi6_ifindex": 9})
        assert data == G6.packed + h("09000000")


def test_ipv6_mreq_and_ip_mreqn() -> None:
    assert encode(LINUX, "ipv6_mreq", {"ipv6mr_multiaddr": G6, "ipv6mr_interface": 4}) == (
        G6.packed + h("04000000")
    )
    assert encode(LINUX, "ip_mreqn", {"imr_multiaddr": G4, "imr_ifindex": 4}) == h(
        "e8010101 00000000 04000000"
    )
    assert WINDOWS.layout("ip_mreqn") is None


def test_option_numbers_from_the_headers() -> None:
    assert [
        LINUX.option(n) for n in ("MCAST_JOIN_GROUP", "MCAST_MSFILTER", "IP_MULTICAST_ALL")
    ] == [
        42,
        48,
        49,
    ]
    assert LINUX.option("IPV6_MULTICAST_ALL") == 29 and LINUX.option("IPV6_RECVPKTINFO") == 49
    assert WINDOWS.option("MCAST_JOIN_SOURCE_GROUP") == 45 and WINDOWS.option("IP_PKTINFO") == 19
    assert WINDOWS.option("IP_ADD_SOURCE_MEMBERSHIP") == 15
    assert MACOS.option("MCAST_JOIN_GROUP") == 80 and MACOS.option("IP_PKTINFO") == 26
    assert MACOS.option("IPV6_RECVPKTINFO") == 61 and FREEBSD.option("IPV6_RECVPKTINFO") == 36
    assert FREEBSD.option("IP_PKTINFO") is None and FREEBSD.option("IP_BLOCK_SOURCE") == 72
    with pytest.raises(KeyError):
        LINUX.option("IP_NO_SUCH_THING")


@pytest.mark.skipif(sys.platform != "linux", reason="compares with this Python's own Linux values")
def test_linux_numbers_agree_with_pythons_socket_module() -> None:
    for name in (
        "IP_MULTICAST_IF",
        "IP_MULTICAST_TTL",
        "IP_ADD_MEMBERSHIP",
        "IP_PKTINFO",
        "IPV6_JOIN_GROUP",
        "IPV6_V6ONLY",
        "IPV6_RECVPKTINFO",
        "IPV6_PKTINFO",
        "IPV6_MULTICAST_HOPS",
        "IPV6_RECVTCLASS",
        "IP_RECVTOS",
        "IP_TOS",
        "IP_TTL",
    ):
        if hasattr(socket, name):
            assert LINUX.option(name) == getattr(socket, name), name  # fmt: skip


# --- the C compiler and the headers as oracles -----------------------------------

LINUX_HEADERS = (
    "#define _GNU_SOURCE\n#include <stddef.h>\n#include <stdio.h>\n#include <netinet/in.h>\n"
)


@pytest.mark.parametrize(
    ("names", "headers"),
    [
        (STRUCT_NAMES, LINUX_HEADERS),
        (
            MROUTE_STRUCT_NAMES,
            LINUX_HEADERS + "#include <linux/mroute.h>\n#include <linux/mroute6.h>\n",
        ),
    ],
    ids=["socket-options", "multicast-routing"],
)
def test_linux_layouts_agree_with_gcc_and_the_system_headers(tmp_path, names, headers) -> None:
    """sizeof and offsetof of every Linux struct, as gcc compiles them from
    <netinet/in.h> (and <linux/mroute.h>, <linux/mroute6.h>): a field the
    layout names wrongly does not compile, one in the wrong place or of the
    wrong size moves an offset."""
    import shutil
    import subprocess

    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (scripts/check installs it)"
    lines = []
    for name in names:
        layout = LINUX.layout(name)
        assert layout is not None, name
        lines.append(f'printf("{name} size %zu\\n", sizeof(struct {name}));')
        lines += [
            f'printf("{name} {field} %zu\\n", offsetof(struct {name}, {field}));'
            for field, _ in layout.fields
        ]
    source = tmp_path / "layouts.c"
    source.write_text(headers + "int main(void) {\n" + "\n".join(lines) + "\nreturn 0; }\n")
    subprocess.run([gcc, "-o", str(tmp_path / "layouts"), str(source)], check=True)
    out = subprocess.run([str(tmp_path / "layouts")], check=True, capture_output=True, text=True)
    compiled = {(s, f): int(n) for s, f, n in (line.split() for line in out.stdout.splitlines())}
    for name in names:
        layout = LINUX.layout(name)
        assert layout is not None
        # A trailing array: sizeof counts its one declared element, as size(1) does.
        size = layout.size(1) if layout.array else layout.size()
        assert compiled[(name, "size")] == size, name
        for field, offset in layout.offsets().items():
            assert compiled[(name, field)] == offset, (name, field)


def test_multicast_routing_structs_encode_and_decode() -> None:
    """An (S,G) route out of slots 1 and 3 with thresholds 1 and 5, and an IPv6
    one whose if_set holds slots 0 and 33: bytes written here by hand."""
    from ipv6.sockopts import decode, encode

    route = encode(LINUX, "mfcctl", {
        "mfcc_origin": ipaddress.IPv4Address("10.0.1.2"),
        "mfcc_mcastgrp": ipaddress.IPv4Address("232.1.1.1"),
        "mfcc_parent": 2,
        "mfcc_ttls": [0, 1, 0, 5],
    })  # fmt: skip
    assert route[:10] == bytes([10, 0, 1, 2, 232, 1, 1, 1, 2, 0])
    assert route[10:14] == bytes([0, 1, 0, 5]) and route[14:42] == bytes(28)
    assert decode(LINUX, "mfcctl", route)["mfcc_ttls"] == [0, 1, 0, 5] + [0] * 28
    route6 = encode(LINUX, "mf6cctl", {
        "mf6cc_mcastgrp": ipaddress.IPv6Address("ff3e::1"),
        "mf6cc_parent": 1,
        "mf6cc_ifset": [0, 33],
    })  # fmt: skip
    assert route6[28:30] == (10).to_bytes(2, "little")  # AF_INET6
    assert route6[60:68] == bytes([1, 0, 0, 0, 2, 0, 0, 0])  # bit 0 of word 0, bit 1 of word 1
    decoded = decode(LINUX, "mf6cctl", route6)
    assert decoded["mf6cc_ifset"] == [0, 33]
    assert decoded["mf6cc_mcastgrp"] == ipaddress.IPv6Address("ff3e::1")
    with pytest.raises(EncodeError, match="at most 32 thresholds"):
        encode(LINUX, "mfcctl", {"mfcc_ttls": [1] * 33})
    with pytest.raises(EncodeError, match="does not fit in 16 bits"):
        encode(LINUX, "mif6ctl", {"mif6c_pifi": 70000})


class SockaddrStorage(ctypes.Structure):
    _fields_ = (("ss_family", ctypes.c_uint16), ("pad", ctypes.c_char * 6),
                ("align", ctypes.c_int64), ("pad2", ctypes.c_char * 112))  # fmt: skip


U32, I32, IN_ADDR, IN6_ADDR = ctypes.c_uint32, ctypes.c_int32, ctypes.c_uint32, ctypes.c_uint32 * 4
SS = SockaddrStorage


def declared(pack: int | None, *fields: tuple[str, object]) -> type[ctypes.Structure]:
    attrs: dict[str, object] = {"_fields_": fields}
    if pack:
        attrs["_pack_"] = pack
    return type("S", (ctypes.Structure,), attrs)


# Copied by hand from each platform's headers (not from ipv6.sockopts):
# ws2ipdef.h (Windows), netinet/in.h (macOS, with #pragma pack(4) around
# group_req and group_source_req; FreeBSD).
HEADERS: dict[tuple[str, str], type[ctypes.Structure]] = {
    ("windows", "group_req"): declared(None, ("gr_interface", U32), ("gr_group", SS)),
    ("windows", "group_source_req"): declared(
        None, ("gsr_interface", U32), ("gsr_group", SS), ("gsr_source", SS)
    ),
    ("windows", "group_filter"): declared(
        None,
        ("gf_interface", U32),
        ("gf_group", SS),
        ("gf_fmode", I32),
        ("gf_numsrc", U32),
        ("gf_slist", SS * 1),
    ),
    ("windows", "ip_mreq"): declared(None, ("imr_multiaddr", IN_ADDR), ("imr_interface", IN_ADDR)),
    ("windows", "ip_mreq_source"): declared(
        None, ("imr_multiaddr", IN_ADDR), ("imr_sourceaddr", IN_ADDR), ("imr_interface", IN_ADDR)
    ),
    ("windows", "ip_msfilter"): declared(
        None,
        ("imsf_multiaddr", IN_ADDR),
        ("imsf_interface", IN_ADDR),
        ("imsf_fmode", I32),
        ("imsf_numsrc", U32),
        ("imsf_slist", IN_ADDR * 1),
    ),
    ("windows", "in_pktinfo"): declared(None, ("ipi_addr", IN_ADDR), ("ipi_ifindex", U32)),
    ("windows", "in6_pktinfo"): declared(None, ("ipi6_addr", IN6_ADDR), ("ipi6_ifindex", U32)),
    ("windows", "ipv6_mreq"): declared(
        None, ("ipv6mr_multiaddr", IN6_ADDR), ("ipv6mr_interface", U32)
    ),
    ("macos", "group_req"): declared(4, ("gr_interface", U32), ("gr_group", SS)),
    ("macos", "group_source_req"): declared(
        4, ("gsr_interface", U32), ("gsr_group", SS), ("gsr_source", SS)
    ),
    ("macos", "ip_mreq"): declared(None, ("imr_multiaddr", IN_ADDR), ("imr_interface", IN_ADDR)),
    ("macos", "ip_mreqn"): declared(
        None, ("imr_multiaddr", IN_ADDR), ("imr_address", IN_ADDR), ("imr_ifindex", I32)
    ),
    ("macos", "ip_mreq_source"): declared(
        None, ("imr_multiaddr", IN_ADDR), ("imr_sourceaddr", IN_ADDR), ("imr_interface", IN_ADDR)
    ),
    ("macos", "in_pktinfo"): declared(
        None, ("ipi_ifindex", U32), ("ipi_spec_dst", IN_ADDR), ("ipi_addr", IN_ADDR)
    ),
    ("macos", "in6_pktinfo"): declared(None, ("ipi6_addr", IN6_ADDR), ("ipi6_ifindex", U32)),
    ("macos", "ipv6_mreq"): declared(
        None, ("ipv6mr_multiaddr", IN6_ADDR), ("ipv6mr_interface", U32)
    ),
    ("freebsd", "group_req"): declared(None, ("gr_interface", U32), ("gr_group", SS)),
    ("freebsd", "group_source_req"): declared(
        None, ("gsr_interface", U32), ("gsr_group", SS), ("gsr_source", SS)
    ),
    ("freebsd", "ip_mreq"): declared(None, ("imr_multiaddr", IN_ADDR), ("imr_interface", IN_ADDR)),
    ("freebsd", "ip_mreqn"): declared(
        None, ("imr_multiaddr", IN_ADDR), ("imr_address", IN_ADDR), ("imr_ifindex", I32)
    ),
    ("freebsd", "ip_mreq_source"): declared(
        None, ("imr_multiaddr", IN_ADDR), ("imr_sourceaddr", IN_ADDR), ("imr_interface", IN_ADDR)
    ),
    ("freebsd", "in6_pktinfo"): declared(None, ("ipi6_addr", IN6_ADDR), ("ipi6_ifindex", U32)),
    ("freebsd", "ipv6_mreq"): declared(
        None, ("ipv6mr_multiaddr", IN6_ADDR), ("ipv6mr_interface", U32)
    ),
}
ABSENT = {
    ("windows", "ip_mreqn"),
    ("macos", "group_filter"),
    ("macos", "ip_msfilter"),
    ("freebsd", "group_filter"),
    ("freebsd", "ip_msfilter"),
    ("freebsd", "in_pktinfo"),
}


def test_every_platform_struct_is_declared_or_known_absent() -> None:
    for platform in PLATFORMS.values():
        for name in STRUCT_NAMES:
            present = platform.layout(name) is not None
            if platform is LINUX:
                assert present, name  # checked against gcc above
            else:
                assert present == ((platform.name, name) in HEADERS), (platform.name, name)
                assert present != ((platform.name, name) in ABSENT), (platform.name, name)


@pytest.mark.parametrize(("platform_name", "name"), sorted(HEADERS), ids="/".join)
def test_other_platforms_agree_with_their_headers(platform_name: str, name: str) -> None:
    layout = PLATFORMS[platform_name].layout(name)
    assert layout is not None
    c_type = HEADERS[(platform_name, name)]
    assert [f for f, _ in layout.fields] == [f[0] for f in c_type._fields_]  # order
    size = layout.size(1) if layout.array else layout.size()
    assert ctypes.sizeof(c_type) == size
    for field_name, offset in layout.offsets().items():
        assert getattr(c_type, field_name).offset == offset, field_name


# --- round trips ---------------------------------------------------------------

v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
v6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@given(st.sampled_from(list(PLATFORMS.values())), st.integers(0, 2**32 - 1), v6, v6)
def test_group_source_req_round_trips(platform, index: int, group, source) -> None:
    values = {"gsr_interface": index, "gsr_group": group, "gsr_source": source}
    assert (
        decode(platform, "group_source_req", encode(platform, "group_source_req", values)) == values
    )


@given(
    st.sampled_from([LINUX, WINDOWS]),
    v4,
    st.lists(v4, max_size=20),
    st.sampled_from(["include", "exclude"]),
)
def test_group_filter_round_trips(platform, group, sources, mode: str) -> None:
    values = {
        "gf_interface": 3,
        "gf_group": group,
        "gf_fmode": filter_mode_value(platform, mode),
        "gf_numsrc": len(sources),
        "gf_slist": sources,
    }
    decoded = decode(platform, "group_filter", encode(platform, "group_filter", values))
    assert decoded == values
    assert filter_mode_name(platform, decoded["gf_fmode"]) == mode  # type: ignore[arg-type]


def test_wrong_values_are_one_clear_error() -> None:
    with pytest.raises(EncodeError, match="takes an IPv4 address"):
        encode(LINUX, "ip_mreq", {"imr_multiaddr": G6})
    with pytest.raises(EncodeError, match="no struct ip_mreqn"):
        encode(WINDOWS, "ip_mreqn", {})
    with pytest.raises(EncodeError, match="no field"):
        encode(LINUX, "ip_mreq", {"nope": 1})
    with pytest.raises(EncodeError, match="32 bits"):
        encode(LINUX, "group_req", {"gr_interface": 2**33, "gr_group": G4})
