"""The bridge MDB decoder, on netlink bytes written here from if_bridge.h."""

from __future__ import annotations

import struct

import pytest

from mcast.routing._mdb import decode_untrusted, dump_request
from mcast.wire._wirecommon import MalformedPacket

NAMES = {2: "br0", 3: "b", 4: "c"}


def nla(kind: int, payload: bytes, nested: bool = False) -> bytes:
    length = 4 + len(payload)
    return (
        struct.pack("=HH", length, kind | (0x8000 if nested else 0)) + payload + bytes(-length % 4)
    )


def entry(port: int, address: bytes, proto: int, timer_cs: int) -> bytes:
    info = struct.pack("=IBBH", port, 0, 0, 0) + address.ljust(16, b"\0")
    info += proto.to_bytes(2, "big") + bytes(2)
    info += nla(1, struct.pack("=I", timer_cs))  # MDBA_MDB_EATTR_TIMER
    return nla(1, nla(1, info), nested=True)  # MDBA_MDB_ENTRY { MDBA_MDB_ENTRY_INFO }


def message(kind: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 2, 1, 0) + body


DUMP = message(
    86,  # a dump answers with RTM_GETMDB
    struct.pack("=B3xI", 7, 2)
    + nla(
        1,
        entry(3, bytes([239, 9, 8, 7]), 0x0800, 25000)
        + entry(4, bytes.fromhex("ff0200000000000000000001ff123456"), 0x86DD, 100),
        nested=True,
    )
    + nla(
        2, nla(1, struct.pack("=I", 4) + nla(1, struct.pack("=I", 500)), nested=True), nested=True
    ),
) + message(3, struct.pack("=i", 0))


def test_entries_and_router_ports_of_a_dump() -> None:
    entries, routers, done = decode_untrusted(DUMP, NAMES)
    assert done
    assert [(e.bridge, e.port, e.group, e.state, e.timer_s) for e in entries] == [
        ("br0", "b", "239.9.8.7", "temporary", 250.0),
        ("br0", "c", "ff02::1:ff12:3456", "temporary", 1.0),
    ]
    assert [(r.bridge, r.port, r.timer_s) for r in routers] == [("br0", "c", 5.0)]


def test_truncated_dumps_and_errors_are_malformed() -> None:
    for cut in (20, 30, 60, len(DUMP) - 30):
        with pytest.raises(MalformedPacket):
            decode_untrusted(DUMP[:cut], NAMES)
    with pytest.raises(MalformedPacket, match="error 95"):
        decode_untrusted(message(2, struct.pack("=i", -95) + bytes(16)), NAMES)


def test_the_request_asks_every_bridge_for_a_dump() -> None:
    request = dump_request(7)
    length, kind, flags, sequence, _ = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags & 0x300, sequence) == (24, 86, 0x300, 7)
    assert request[16] == 7  # AF_BRIDGE
