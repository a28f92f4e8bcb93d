"""Address announcements from netlink: hand-built messages (the kernel's layout:
nlmsghdr, ifaddrmsg, rtattrs padded to 4 bytes), and what happens to junk."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from ipv6._addrwatch import parse_address_events


def attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, family: int, index: int, *attrs: bytes) -> bytes:
    body = struct.pack("=BBBBI", family, 24, 0, 0, index) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


V4 = ipaddress.IPv4Address("10.0.0.1")
V6 = ipaddress.IPv6Address("fe80::1")
PEER = ipaddress.IPv4Address("10.0.0.9")


def test_deleted_and_new_addresses_of_both_families() -> None:
    data = (
        message(21, 2, 3, attr(1, PEER.packed), attr(2, V4.packed))  # point-to-point: LOCAL wins
        + message(20, 10, 3, attr(1, V6.packed))
        + message(24, 2, 3, attr(1, V4.packed))  # RTM_NEWROUTE: not an address message
    )
    assert parse_address_events(data) == [("deleted", 3, V4), ("new", 3, V6)]


def test_truncated_messages_and_attributes_are_skipped() -> None:
    whole = message(21, 2, 7, attr(2, V4.packed))
    assert parse_address_events(whole[:-2]) == []
    bad_attr = message(21, 2, 7, struct.pack("=HH", 200, 2) + V4.packed)
    assert parse_address_events(bad_attr + whole) == [("deleted", 7, V4)]
    wrong_size = message(21, 10, 7, attr(1, V4.packed))  # an IPv6 message with 4 bytes
    assert parse_address_events(wrong_size) == []


@given(st.binary(max_size=400))
def test_junk_never_raises(data: bytes) -> None:
    for event, index, address in parse_address_events(data):
        assert event in ("new", "deleted") and index >= 0 and address.version in (4, 6)
