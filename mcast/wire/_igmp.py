"""IGMP messages (RFC 1112, RFC 2236, RFC 3376) as frozen data, and their codec.

Rules of this module:
- Pure: bytes of an IGMP message (the IP payload) in, a message out, or
  :class:`MalformedPacket` naming the offset; a message in, bytes out, with
  the checksum computed.
- Which version a query is follows RFC 3376 7.1: 8 bytes with Max Resp Code
  0 is IGMPv1, 8 bytes otherwise IGMPv2, 12 bytes or more IGMPv3; other
  lengths are malformed.
- A v3 group record keeps its auxiliary data as bytes (none is defined yet).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from ._wirecommon import (
    MalformedPacket,
    RecordType,
    checksum,
    decode_code8,
    decode_records,
    encode_record,
    need,
    untrusted,
)

IPv4 = ipaddress.IPv4Address
IPPROTO_IGMP = 2
ANY = IPv4(0)

QUERY, V1_REPORT, V2_REPORT, V2_LEAVE, V3_REPORT = 0x11, 0x12, 0x16, 0x17, 0x22

_HEADER = struct.Struct("!BBH4s")  # type, max resp code, checksum, group
_V3_QUERY_TAIL = struct.Struct("!BBH")  # resv/S/QRV, QQIC, number of sources
_V3_REPORT_HEADER = struct.Struct("!BBHHH")  # type, reserved, checksum, reserved, records


@dataclass(frozen=True)
class IgmpQuery:
    """A Membership Query; ``version`` 1, 2 or 3 (3 has the fields after group)."""

    version: int
    max_resp_code: int = 100
    group: IPv4 = ANY
    suppress: bool = False  # S flag
    qrv: int = 2
    qqic: int = 125
    sources: tuple[IPv4, ...] = ()

    @property
    def max_resp_tenths(self) -> int:
        """Max Resp Time in tenths of a second (v1 queries mean 10 s)."""
        if self.version == 1:
            return 100
        return decode_code8(self.max_resp_code) if self.version == 3 else self.max_resp_code

    @property
    def qqi(self) -> int:
        """The Querier's Query Interval in seconds (QQIC decoded)."""
        return decode_code8(self.qqic)

    @property
    def general(self) -> bool:
        return self.group == IPv4(0)


@dataclass(frozen=True)
class IgmpV1Report:
    group: IPv4


@dataclass(frozen=True)
class IgmpV2Report:
    group: IPv4


@dataclass(frozen=True)
class IgmpV2Leave:
    group: IPv4


@dataclass(frozen=True)
class GroupRecord:
    type: RecordType
    group: IPv4
    sources: tuple[IPv4, ...] = ()
    aux: bytes = b""


@dataclass(frozen=True)
class IgmpV3Report:
    records: tuple[GroupRecord, ...] = field(default_factory=tuple)


IgmpMessage = IgmpQuery | IgmpV1Report | IgmpV2Report | IgmpV2Leave | IgmpV3Report


# --- decoding -------------------------------------------------------------------


@untrusted
def decode_igmp_untrusted(data: bytes, *, verify_checksum: bool = True) -> IgmpMessage:
    """Decode an IGMP message (the IPv4 payload)."""
    need(data, 0, 8, "an IGMP header")
    if verify_checksum and checksum(data) != 0:
        raise MalformedPacket("bad IGMP checksum", 2)
    kind, code, _, group_raw = _HEADER.unpack_from(data, 0)
    group = IPv4(group_raw)
    if kind == QUERY:
        return _decode_query(data, code, group)
    if kind in (V1_REPORT, V2_REPORT, V2_LEAVE):
        if len(data) < 8:
            raise MalformedPacket("a report is 8 bytes", 0)
        if kind == V1_REPORT:
            return IgmpV1Report(group)
        return IgmpV2Report(group) if kind == V2_REPORT else IgmpV2Leave(group)
    if kind == V3_REPORT:
        return _decode_v3_report(data)
    raise MalformedPacket(f"unknown IGMP type 0x{kind:02x}", 0)


def _decode_query(data: bytes, code: int, group: IPv4) -> IgmpQuery:
    if len(data) == 8:
        return IgmpQuery(1 if code == 0 else 2, code, group)
    if len(data) < 12:
        raise MalformedPacket(f"a query of {len(data)} bytes is neither v2 (8) nor v3 (12+)", 8)
    flags, qqic, count = _V3_QUERY_TAIL.unpack_from(data, 8)
    need(data, 12, 4 * count, f"{count} query sources")
    sources = tuple(IPv4(data[12 + 4 * i : 16 + 4 * i]) for i in range(count))
    return IgmpQuery(3, code, group, bool(flags & 0x08), flags & 0x07, qqic, sources)


def _decode_v3_report(data: bytes) -> IgmpV3Report:
    need(data, 0, 8, "an IGMPv3 report header")
    _, _, _, _, count = _V3_REPORT_HEADER.unpack_from(data, 0)
    records = decode_records(data, count, 4, "group record")
    return IgmpV3Report(
        tuple(
            GroupRecord(kind, IPv4(group), tuple(IPv4(s) for s in sources), aux)
            for kind, group, sources, aux in records
        )
    )


# --- encoding -------------------------------------------------------------------


def encode_igmp(message: IgmpMessage) -> bytes:
    """The bytes of ``message`` with its checksum."""
    if isinstance(message, IgmpQuery):
        body = _HEADER.pack(
            QUERY, message.max_resp_code if message.version > 1 else 0, 0, message.group.packed
        )
        if message.version == 3:
            flags = (0x08 if message.suppress else 0) | (message.qrv & 0x07)
            body += _V3_QUERY_TAIL.pack(flags, message.qqic, len(message.sources))
            body += b"".join(s.packed for s in message.sources)
    elif isinstance(message, IgmpV3Report):
        body = _V3_REPORT_HEADER.pack(V3_REPORT, 0, 0, 0, len(message.records))
        for record in message.records:
            body += encode_record(record.type, record.group, record.sources, record.aux)
    else:
        kind = {IgmpV1Report: V1_REPORT, IgmpV2Report: V2_REPORT, IgmpV2Leave: V2_LEAVE}[
            type(message)
        ]
        body = _HEADER.pack(kind, 0, 0, message.group.packed)
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]
