"""Multicast socket options of Linux, Windows, macOS and FreeBSD, as data.

Rules of this module:
- Pure: numbers and layouts are tables; one generic encoder/decoder walks a
  layout, so no call site packs bytes by hand (pyroute2's field maps are the
  model). Python 3.11's socket module lacks most of these, so they live here.
- Every number and layout was taken from the platform's own header:
  Linux include/uapi/linux/in.h and in6.h, Windows ws2ipdef.h/ws2tcpip.h,
  macOS (xnu) bsd/netinet/in.h and netinet6/in6.h, FreeBSD sys/netinet/in.h
  and netinet6/in6.h. ``None`` means the platform has no such option or
  structure (the note on the platform says what it uses instead).
- C layout rules: each field is aligned to its own alignment, the struct's
  size is rounded up to its largest alignment, and ``pack`` (macOS's
  ``#pragma pack(4)``) caps every alignment. sockaddr_storage is 128 bytes
  aligned to 8, so on macOS group_req is 4 + 128 = 132 bytes and
  group_source_req 260, where the others have 136 and 264.
- Integers are in the platform's byte order (little-endian on every machine
  these run on; pass ``byteorder`` for another); addresses and ports are in
  network order, as in the kernel.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._errors import McastBadInput

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
IPAddress = IPv4 | IPv6

SOCKADDR_STORAGE_SIZE = 128

# --- field kinds: (size, alignment) ------------------------------------------

FieldKind = Literal["in_addr", "in6_addr", "u32", "i32", "sockaddr_storage"]
_KIND_SIZE: dict[str, tuple[int, int]] = {
    "in_addr": (4, 4),
    "in6_addr": (16, 4),
    "u32": (4, 4),
    "i32": (4, 4),
    "sockaddr_storage": (SOCKADDR_STORAGE_SIZE, 8),
}


@dataclass(frozen=True)
class Layout:
    """A C struct: named fields in order; the last may be a variable array."""

    name: str
    fields: tuple[tuple[str, FieldKind], ...]
    pack: int | None = None  # the #pragma pack value, if any
    array: str | None = None  # name of the trailing ``x[1]`` array field, if any

    def _align(self, kind: str) -> int:
        alignment = _KIND_SIZE[kind][1]
        return min(alignment, self.pack) if self.pack else alignment

    def offsets(self) -> dict[str, int]:
        """Each field's offset from the start of the struct."""
        return _offsets(self)

    def size(self, count: int | None = None) -> int:
        """sizeof(struct), or with ``count`` elements in the trailing array.

        With ``count`` this is what the headers' GROUP_FILTER_SIZE(n) and
        IP_MSFILTER_SIZE(n) macros give: the offset of the array plus n elements.
        """
        return _size(self, count)


@functools.cache
def _offsets(layout: Layout) -> dict[str, int]:
    offset, out = 0, {}
    for name, kind in layout.fields:
        align = layout._align(kind)
        offset = (offset + align - 1) // align * align
        out[name] = offset
        offset += _KIND_SIZE[kind][0]
    return out


@functools.cache
def _size(layout: Layout, count: int | None) -> int:
    if count is not None and layout.array is not None:
        kind = dict(layout.fields)[layout.array]
        return layout.offsets()[layout.array] + count * _KIND_SIZE[kind][0]
    last_name, last_kind = layout.fields[-1]
    end = layout.offsets()[last_name] + _KIND_SIZE[last_kind][0]
    largest = max(layout._align(kind) for _, kind in layout.fields)
    return (end + largest - 1) // largest * largest


# --- the structures ----------------------------------------------------------

IP_MREQ = Layout("ip_mreq", (("imr_multiaddr", "in_addr"), ("imr_interface", "in_addr")))
IP_MREQN = Layout(
    "ip_mreqn",
    (("imr_multiaddr", "in_addr"), ("imr_address", "in_addr"), ("imr_ifindex", "i32")),
)
# Linux puts the interface before the source; Windows and the BSDs after it.
IP_MREQ_SOURCE_LINUX = Layout(
    "ip_mreq_source",
    (("imr_multiaddr", "in_addr"), ("imr_interface", "in_addr"), ("imr_sourceaddr", "in_addr")),
)
IP_MREQ_SOURCE_RFC = Layout(
    "ip_mreq_source",
    (("imr_multiaddr", "in_addr"), ("imr_sourceaddr", "in_addr"), ("imr_interface", "in_addr")),
)
IPV6_MREQ = Layout("ipv6_mreq", (("ipv6mr_multiaddr", "in6_addr"), ("ipv6mr_interface", "u32")))


def _group_req(pack: int | None) -> Layout:
    return Layout("group_req", (("gr_interface", "u32"), ("gr_group", "sockaddr_storage")), pack)


def _group_source_req(pack: int | None) -> Layout:
    return Layout(
        "group_source_req",
        (
            ("gsr_interface", "u32"),
            ("gsr_group", "sockaddr_storage"),
            ("gsr_source", "sockaddr_storage"),
        ),
        pack,
    )


GROUP_FILTER = Layout(
    "group_filter",
    (
        ("gf_interface", "u32"),
        ("gf_group", "sockaddr_storage"),
        ("gf_fmode", "u32"),
        ("gf_numsrc", "u32"),
        ("gf_slist", "sockaddr_storage"),
    ),
    array="gf_slist",
)
IP_MSFILTER = Layout(
    "ip_msfilter",
    (
        ("imsf_multiaddr", "in_addr"),
        ("imsf_interface", "in_addr"),
        ("imsf_fmode", "u32"),
        ("imsf_numsrc", "u32"),
        ("imsf_slist", "in_addr"),
    ),
    array="imsf_slist",
)
IN_PKTINFO_UNIX = Layout(
    "in_pktinfo",
    (("ipi_ifindex", "i32"), ("ipi_spec_dst", "in_addr"), ("ipi_addr", "in_addr")),
)
IN_PKTINFO_WINDOWS = Layout("in_pktinfo", (("ipi_addr", "in_addr"), ("ipi_ifindex", "u32")))
IN6_PKTINFO = Layout("in6_pktinfo", (("ipi6_addr", "in6_addr"), ("ipi6_ifindex", "u32")))

STRUCT_NAMES = (
    "ip_mreq",
    "ip_mreqn",
    "ip_mreq_source",
    "ipv6_mreq",
    "group_req",
    "group_source_req",
    "group_filter",
    "ip_msfilter",
    "in_pktinfo",
    "in6_pktinfo",
)

# --- the option numbers ------------------------------------------------------

IP_OPTION_NAMES = (
    "IP_TOS",
    "IP_TTL",
    "IP_PKTINFO",
    "IP_RECVTTL",
    "IP_RECVTOS",
    "IP_MULTICAST_IF",
    "IP_MULTICAST_TTL",
    "IP_MULTICAST_LOOP",
    "IP_ADD_MEMBERSHIP",
    "IP_DROP_MEMBERSHIP",
    "IP_UNBLOCK_SOURCE",
    "IP_BLOCK_SOURCE",
    "IP_ADD_SOURCE_MEMBERSHIP",
    "IP_DROP_SOURCE_MEMBERSHIP",
    "IP_MSFILTER",
    "IP_MULTICAST_ALL",
)
IPV6_OPTION_NAMES = (
    "IPV6_MULTICAST_IF",
    "IPV6_MULTICAST_HOPS",
    "IPV6_MULTICAST_LOOP",
    "IPV6_JOIN_GROUP",
    "IPV6_LEAVE_GROUP",
    "IPV6_V6ONLY",
    "IPV6_RECVPKTINFO",
    "IPV6_PKTINFO",
    "IPV6_RECVHOPLIMIT",
    "IPV6_HOPLIMIT",
    "IPV6_RECVTCLASS",
    "IPV6_TCLASS",
    "IPV6_MULTICAST_ALL",
)
# The protocol-independent options take the same number at both levels.
MCAST_OPTION_NAMES = (
    "MCAST_JOIN_GROUP",
    "MCAST_LEAVE_GROUP",
    "MCAST_JOIN_SOURCE_GROUP",
    "MCAST_LEAVE_SOURCE_GROUP",
    "MCAST_BLOCK_SOURCE",
    "MCAST_UNBLOCK_SOURCE",
    "MCAST_MSFILTER",
)

SockaddrStyle = Literal["linux", "windows", "bsd"]


@dataclass(frozen=True)
class Platform:
    name: str
    af_inet: int
    af_inet6: int
    sockaddr_style: SockaddrStyle  # "bsd": a length byte before a one-byte family
    mcast_include: int
    mcast_exclude: int
    ip: Mapping[str, int | None]
    ipv6: Mapping[str, int | None]
    mcast: Mapping[str, int | None]
    structs: Mapping[str, Layout | None]
    sol_socket: Mapping[str, int | None] = field(default_factory=dict)
    final_state: str = ""  # how a whole filter is set on this platform
    notes: str = ""

    def option(self, name: str) -> int | None:
        """The number of an option by name, whatever its level."""
        for table in (self.ip, self.ipv6, self.mcast, self.sol_socket):
            if name in table:
                return table[name]
        raise KeyError(f"{name} is not an option this table knows")

    def layout(self, name: str) -> Layout | None:
        return self.structs[name]


def _names(names: Sequence[str], numbers: Sequence[int | None]) -> dict[str, int | None]:
    assert len(names) == len(numbers)
    return dict(zip(names, numbers, strict=True))


LINUX = Platform(
    name="linux",
    af_inet=2,
    af_inet6=10,
    sockaddr_style="linux",
    mcast_include=1,
    mcast_exclude=0,
    ip=_names(IP_OPTION_NAMES, (1, 2, 8, 12, 13, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 49)),
    ipv6=_names(IPV6_OPTION_NAMES, (17, 18, 19, 20, 21, 26, 49, 50, 51, 52, 66, 67, 29)),
    mcast=_names(MCAST_OPTION_NAMES, (42, 45, 46, 47, 43, 44, 48)),
    sol_socket={"SO_RXQ_OVFL": 40, "SO_REUSEADDR": 2, "SO_REUSEPORT": 15},
    structs={
        "ip_mreq": IP_MREQ,
        "ip_mreqn": IP_MREQN,
        "ip_mreq_source": IP_MREQ_SOURCE_LINUX,
        "ipv6_mreq": IPV6_MREQ,
        "group_req": _group_req(None),
        "group_source_req": _group_source_req(None),
        "group_filter": GROUP_FILTER,
        "ip_msfilter": IP_MSFILTER,
        "in_pktinfo": IN_PKTINFO_UNIX,
        "in6_pktinfo": IN6_PKTINFO,
    },
    final_state="setsockopt/getsockopt MCAST_MSFILTER with group_filter (IP_MSFILTER for IPv4)",
    notes="IP_MULTICAST_ALL and IPV6_MULTICAST_ALL default to 1: a wildcard-bound socket "
    "receives every group any socket joined, until they are set to 0.",
)

WINDOWS = Platform(
    name="windows",
    af_inet=2,
    af_inet6=23,
    sockaddr_style="windows",
    mcast_include=0,
    mcast_exclude=1,
    ip=_names(IP_OPTION_NAMES, (3, 4, 19, 21, 40, 9, 10, 11, 12, 13, 18, 17, 15, 16, None, None)),
    # Windows has one option to enable and to carry packet info and hop limit.
    ipv6=_names(IPV6_OPTION_NAMES, (9, 10, 11, 12, 13, 27, 19, 19, 21, 21, 40, 39, None)),
    mcast=_names(MCAST_OPTION_NAMES, (41, 42, 45, 46, 43, 44, None)),
    sol_socket={"SO_RXQ_OVFL": None, "SO_REUSEADDR": 4, "SO_REUSEPORT": None},
    structs={
        "ip_mreq": IP_MREQ,
        "ip_mreqn": None,
        "ip_mreq_source": IP_MREQ_SOURCE_RFC,
        "ipv6_mreq": IPV6_MREQ,
        "group_req": _group_req(None),
        "group_source_req": _group_source_req(None),
        "group_filter": GROUP_FILTER,
        "ip_msfilter": IP_MSFILTER,
        "in_pktinfo": IN_PKTINFO_WINDOWS,
        "in6_pktinfo": IN6_PKTINFO,
    },
    final_state="WSAIoctl SIOCSMSFILTER/SIOCGMSFILTER with GROUP_FILTER, "
    "SIO_SET_MULTICAST_FILTER/SIO_GET_MULTICAST_FILTER with ip_msfilter",
    notes="MCAST_INCLUDE is 0 and MCAST_EXCLUDE 1 (the reverse of Linux).",
)

_BSD_IP = (3, 4, None, None, None, 9, 10, 11, 12, 13, 73, 72, 70, 71, 74, None)
_BSD_MCAST = _names(MCAST_OPTION_NAMES, (80, 81, 82, 83, 84, 85, None))
_BSD_STRUCTS_COMMON = {
    "ip_mreq": IP_MREQ,
    "ip_mreqn": IP_MREQN,
    "ip_mreq_source": IP_MREQ_SOURCE_RFC,
    "ipv6_mreq": IPV6_MREQ,
    "group_filter": None,  # setsourcefilter() passes a private __msfilterreq with a pointer
    "ip_msfilter": None,
    "in6_pktinfo": IN6_PKTINFO,
}

MACOS = Platform(
    name="macos",
    af_inet=2,
    af_inet6=30,
    sockaddr_style="bsd",
    mcast_include=1,
    mcast_exclude=2,
    ip={
        **_names(IP_OPTION_NAMES, _BSD_IP),
        "IP_PKTINFO": 26,
        "IP_RECVTTL": 24,
        "IP_RECVTOS": 27,
    },
    ipv6=_names(IPV6_OPTION_NAMES, (9, 10, 11, 12, 13, 27, 61, 46, 37, 47, 35, 36, None)),
    mcast=_BSD_MCAST,
    sol_socket={"SO_RXQ_OVFL": None, "SO_REUSEADDR": 4, "SO_REUSEPORT": 0x200},
    structs={
        **_BSD_STRUCTS_COMMON,
        "group_req": _group_req(4),  # #pragma pack(4)
        "group_source_req": _group_source_req(4),
        "in_pktinfo": IN_PKTINFO_UNIX,
    },
    final_state="setsourcefilter()/getsourcefilter() in libc (private IP_MSFILTER 74 "
    "with struct __msfilterreq)",
    notes="group_req and group_source_req are packed to 4 bytes; IPV6_RECVPKTINFO (61) and "
    "IPV6_RECVTCLASS/TCLASS (35/36) differ from FreeBSD on purpose.",
)

FREEBSD = Platform(
    name="freebsd",
    af_inet=2,
    af_inet6=28,
    sockaddr_style="bsd",
    mcast_include=1,
    mcast_exclude=2,
    ip={**_names(IP_OPTION_NAMES, _BSD_IP), "IP_RECVTTL": 65, "IP_RECVTOS": 68},
    ipv6=_names(IPV6_OPTION_NAMES, (9, 10, 11, 12, 13, 27, 36, 46, 37, 47, 57, 61, None)),
    mcast=_BSD_MCAST,
    sol_socket={"SO_RXQ_OVFL": None, "SO_REUSEADDR": 4, "SO_REUSEPORT": 0x200},
    structs={
        **_BSD_STRUCTS_COMMON,
        "group_req": _group_req(None),
        "group_source_req": _group_source_req(None),
        "in_pktinfo": None,  # FreeBSD has IP_RECVDSTADDR (7) and IP_RECVIF (20) instead
    },
    final_state="setsourcefilter()/getsourcefilter() in libc (private IP_MSFILTER 74 "
    "with struct __msfilterreq)",
    notes="No IP_PKTINFO: the destination comes with IP_RECVDSTADDR, the interface with IP_RECVIF.",
)

PLATFORMS: dict[str, Platform] = {p.name: p for p in (LINUX, WINDOWS, MACOS, FREEBSD)}
# The platform this interpreter runs on, and its byte order for the layouts.
HOST = PLATFORMS.get(
    {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, "freebsd"), LINUX
)
NATIVE = "<" if sys.byteorder == "little" else ">"


# --- encoding ----------------------------------------------------------------


class EncodeError(McastBadInput, ValueError):
    """A value does not fit the structure (wrong family, missing field...)."""


def sockaddr(
    platform: Platform,
    address: IPAddress,
    port: int = 0,
    scope_id: int = 0,
    byteorder: str = "<",
) -> bytes:
    """A sockaddr_in or sockaddr_in6 of ``platform``, padded to sockaddr_storage."""
    bsd = platform.sockaddr_style == "bsd"
    if address.version == 4:
        head = (
            struct.pack("BB", 16, platform.af_inet)
            if bsd
            else struct.pack(byteorder + "H", platform.af_inet)
        )
        raw = head + struct.pack("!H", port) + address.packed + bytes(8)
    else:
        head = (
            struct.pack("BB", 28, platform.af_inet6)
            if bsd
            else struct.pack(byteorder + "H", platform.af_inet6)
        )
        raw = (
            head
            + struct.pack("!HI", port, 0)
            + address.packed
            + struct.pack(byteorder + "I", scope_id)
        )
    return raw.ljust(SOCKADDR_STORAGE_SIZE, b"\0")


def parse_sockaddr(
    platform: Platform, data: bytes, byteorder: str = "<"
) -> tuple[IPAddress, int, int]:
    """(address, port, scope id) from a sockaddr of ``platform``."""
    if platform.sockaddr_style == "bsd":
        family = data[1]
    else:
        (family,) = struct.unpack_from(byteorder + "H", data, 0)
    (port,) = struct.unpack_from("!H", data, 2)
    if family == platform.af_inet:
        return IPv4(data[4:8]), port, 0
    if family == platform.af_inet6:
        (scope,) = struct.unpack_from(byteorder + "I", data, 24)
        return IPv6(data[8:24]), port, scope
    raise EncodeError(f"address family {family} is neither AF_INET nor AF_INET6 on {platform.name}")


FieldValue = IPAddress | int | Sequence[IPAddress]


def encode(
    platform: Platform,
    struct_name: str,
    values: Mapping[str, FieldValue],
    byteorder: str = "<",
) -> bytes:
    """The bytes of ``struct_name`` on ``platform`` with these field values.

    Fields left out are zero. The trailing array (group_filter's gf_slist,
    ip_msfilter's imsf_slist) takes a sequence; its count field is not
    filled in for you, so the caller says what the kernel is told.
    """
    layout = platform.layout(struct_name)
    if layout is None:
        raise EncodeError(f"{platform.name} has no struct {struct_name}")
    offsets = layout.offsets()
    unknown = set(values) - set(offsets)
    if unknown:
        raise EncodeError(f"{struct_name} has no field {sorted(unknown)[0]}")
    count = None
    if layout.array is not None:
        array_value = values.get(layout.array, ())
        if not isinstance(array_value, Sequence):
            raise EncodeError(f"{layout.array} takes a list of addresses")
        count = len(array_value)
    size = layout.size(count) if count is not None else layout.size()
    if layout.array is not None:
        size = max(size, layout.size())  # never shorter than sizeof(struct)
    buf = bytearray(size)
    for name, kind in layout.fields:
        if name not in values:
            continue
        value = values[name]
        offset = offsets[name]
        if name == layout.array:
            assert isinstance(value, Sequence)
            step = _KIND_SIZE[kind][0]
            for i, item in enumerate(value):
                chunk = _encode_scalar(platform, kind, item, name, byteorder)
                buf[offset + i * step : offset + (i + 1) * step] = chunk
            continue
        chunk = _encode_scalar(platform, kind, value, name, byteorder)
        buf[offset : offset + len(chunk)] = chunk
    return bytes(buf)


def _encode_scalar(
    platform: Platform, kind: str, value: object, name: str, byteorder: str
) -> bytes:
    if kind == "in_addr":
        if not isinstance(value, IPv4):
            raise EncodeError(f"{name} takes an IPv4 address, not {value!r}")
        return value.packed
    if kind == "in6_addr":
        if not isinstance(value, IPv6):
            raise EncodeError(f"{name} takes an IPv6 address, not {value!r}")
        return value.packed
    if kind in ("u32", "i32"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError(f"{name} takes an integer, not {value!r}")
        code = "I" if kind == "u32" else "i"
        try:
            return struct.pack(byteorder + code, value)
        except struct.error:
            raise EncodeError(f"{name}: {value} does not fit in 32 bits") from None
    if kind == "sockaddr_storage":
        if not isinstance(value, IPv4 | IPv6):
            raise EncodeError(f"{name} takes an IP address, not {value!r}")
        return sockaddr(platform, value, byteorder=byteorder)
    raise AssertionError(kind)


def decode(
    platform: Platform, struct_name: str, data: bytes, byteorder: str = "<"
) -> dict[str, FieldValue]:
    """Field values from the bytes of ``struct_name`` (the array sized by its count)."""
    layout = platform.layout(struct_name)
    if layout is None:
        raise EncodeError(f"{platform.name} has no struct {struct_name}")
    offsets = layout.offsets()
    out: dict[str, FieldValue] = {}
    for name, kind in layout.fields:
        if name == layout.array:
            continue
        out[name] = _decode_scalar(platform, kind, data, offsets[name], byteorder)
    if layout.array is not None:
        count_field = next(n for n, _ in layout.fields if n.endswith("numsrc"))
        count = out[count_field]
        assert isinstance(count, int)
        kind = dict(layout.fields)[layout.array]
        step = _KIND_SIZE[kind][0]
        start = offsets[layout.array]
        available = max(0, (len(data) - start) // step)
        items = []
        for i in range(min(count, available)):
            item = _decode_scalar(platform, kind, data, start + i * step, byteorder)
            assert isinstance(item, IPv4 | IPv6)
            items.append(item)
        out[layout.array] = items
    return out


def _decode_scalar(
    platform: Platform, kind: str, data: bytes, offset: int, byteorder: str
) -> IPAddress | int:
    size = _KIND_SIZE[kind][0]
    if len(data) < offset + size:
        raise EncodeError(f"{len(data)} bytes are too few for a field at offset {offset}")
    chunk = data[offset : offset + size]
    if kind == "in_addr":
        return IPv4(chunk)
    if kind == "in6_addr":
        return IPv6(chunk)
    if kind == "u32":
        return int(struct.unpack(byteorder + "I", chunk)[0])
    if kind == "i32":
        return int(struct.unpack(byteorder + "i", chunk)[0])
    return parse_sockaddr(platform, chunk, byteorder)[0]


def filter_mode_value(platform: Platform, mode: str) -> int:
    """The number ``platform`` uses for "include" or "exclude"."""
    return platform.mcast_include if mode == "include" else platform.mcast_exclude


def filter_mode_name(platform: Platform, value: int) -> str:
    if value == platform.mcast_include:
        return "include"
    if value == platform.mcast_exclude:
        return "exclude"
    raise EncodeError(f"{value} is not a filter mode on {platform.name}")
