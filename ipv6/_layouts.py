"""C structures of socket options, as data, and the one encoder and decoder that walk them.

Rules of this module:
- Pure: a :class:`Layout` names a struct's fields and their kinds; one
  generic encoder/decoder walks a layout, so no call site packs bytes by
  hand (pyroute2's field maps are the model). The numbers and layouts of
  each system are tables in :mod:`ipv6._platforms`.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._errors import BadInput

IPv4 = ipaddress.IPv4Address
IPv6 = ipaddress.IPv6Address
IPAddress = IPv4 | IPv6

SOCKADDR_STORAGE_SIZE = 128

# --- field kinds: (size, alignment) ------------------------------------------

FieldKind = Literal[
    "in_addr", "in6_addr", "u8", "u16", "u32", "i32", "sockaddr_storage", "sockaddr_in6",
    "ttls", "if_set",
]  # fmt: skip
MAXVIFS = 32  # the multicast routing API's interface slots (MAXVIFS, MAXMIFS)
IF_SETSIZE = 256  # bits in struct if_set
_KIND_SIZE: dict[str, tuple[int, int]] = {
    "in_addr": (4, 4),
    "in6_addr": (16, 4),
    "u8": (1, 1),
    "u16": (2, 2),
    "u32": (4, 4),
    "i32": (4, 4),
    "sockaddr_storage": (SOCKADDR_STORAGE_SIZE, 8),
    "sockaddr_in6": (28, 4),
    "ttls": (MAXVIFS, 1),  # unsigned char[MAXVIFS]: a TTL threshold per slot, 0 = not out
    "if_set": (IF_SETSIZE // 8, 4),  # __u32 ifs_bits[8]: a set of slots
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
    sol_socket_level: int = 1  # SOL_SOCKET: 1 on Linux, 0xffff on Windows and the BSDs
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


# --- encoding ----------------------------------------------------------------


class EncodeError(BadInput, ValueError):
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


FieldValue = IPAddress | int | Sequence[IPAddress] | Sequence[int]


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
    if kind in _INTEGERS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError(f"{name} takes an integer, not {value!r}")
        code = _INTEGERS[kind]
        try:
            return struct.pack(byteorder + code, value)
        except struct.error:
            bits = 8 * struct.calcsize(code)
            raise EncodeError(f"{name}: {value} does not fit in {bits} bits") from None
    if kind == "sockaddr_in6":
        if not isinstance(value, IPv6):
            raise EncodeError(f"{name} takes an IPv6 address, not {value!r}")
        return sockaddr(platform, value, byteorder=byteorder)[:28]
    if kind in ("ttls", "if_set"):
        return _encode_slots(kind, value, name, byteorder)
    if kind == "sockaddr_storage":
        if not isinstance(value, IPv4 | IPv6):
            raise EncodeError(f"{name} takes an IP address, not {value!r}")
        return sockaddr(platform, value, byteorder=byteorder)
    raise AssertionError(kind)


_INTEGERS = {"u8": "B", "u16": "H", "u32": "I", "i32": "i"}


def _encode_slots(kind: str, value: object, name: str, byteorder: str) -> bytes:
    """ttls: a threshold per slot (a sequence, slot i at i); if_set: the slots in
    a set (a sequence of slot numbers), one bit each."""
    if not isinstance(value, Sequence) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise EncodeError(f"{name} takes a list of integers, not {value!r}")
    if kind == "ttls":
        if len(value) > MAXVIFS or not all(0 <= v <= 255 for v in value):
            raise EncodeError(f"{name}: at most {MAXVIFS} thresholds of 0 to 255")
        return bytes(value).ljust(MAXVIFS, b"\0")
    words = [0] * (IF_SETSIZE // 32)
    for slot in value:
        if not 0 <= slot < IF_SETSIZE:
            raise EncodeError(f"{name}: slot {slot} is outside 0 to {IF_SETSIZE - 1}")
        words[slot // 32] |= 1 << (slot % 32)
    return struct.pack(f"{byteorder}{len(words)}I", *words)


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
) -> IPAddress | int | list[int]:
    size = _KIND_SIZE[kind][0]
    if len(data) < offset + size:
        raise EncodeError(f"{len(data)} bytes are too few for a field at offset {offset}")
    chunk = data[offset : offset + size]
    if kind == "in_addr":
        return IPv4(chunk)
    if kind == "in6_addr":
        return IPv6(chunk)
    if kind in _INTEGERS:
        return int(struct.unpack(byteorder + _INTEGERS[kind], chunk)[0])
    if kind == "ttls":
        return list(chunk)
    if kind == "if_set":
        words = struct.unpack(f"{byteorder}{IF_SETSIZE // 32}I", chunk)
        return [i for i in range(IF_SETSIZE) if words[i // 32] >> (i % 32) & 1]
    if kind == "sockaddr_in6":  # the kind says IPv6: a zeroed one (no family yet) is ::
        return IPv6(chunk[8:24])
    return parse_sockaddr(platform, chunk.ljust(SOCKADDR_STORAGE_SIZE, b"\0"), byteorder)[0]


def filter_mode_value(platform: Platform, mode: str) -> int:
    """The number ``platform`` uses for "include" or "exclude"."""
    return platform.mcast_include if mode == "include" else platform.mcast_exclude


def filter_mode_name(platform: Platform, value: int) -> str:
    """ "include" or "exclude" for a filter mode number of ``platform``; EncodeError for
    any other number."""
    if value == platform.mcast_include:
        return "include"
    if value == platform.mcast_exclude:
        return "exclude"
    raise EncodeError(f"{value} is not a filter mode on {platform.name}")
