"""MLD messages (RFC 2710, RFC 3810) as frozen data, and their codec.

Rules of this module:
- Pure: bytes of the ICMPv6 message in (with the IPv6 source and destination,
  because the checksum covers a pseudo-header), a message out or
  :class:`MalformedPacket`; a message and the two addresses in, bytes out.
- A query of 24 bytes is MLDv1, of 28 or more MLDv2 (RFC 3810 8.1).
- Record types are IGMPv3's (:class:`mcast.wire._wirecommon.RecordType`).
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
    decode_code16,
    decode_records,
    encode_record,
    need,
    untrusted,
)

IPv6 = ipaddress.IPv6Address
IPPROTO_ICMPV6 = 58
QUERY, V1_REPORT, V1_DONE, V2_REPORT = 130, 131, 132, 143
MLD_TYPES = frozenset({QUERY, V1_REPORT, V1_DONE, V2_REPORT})

_V1 = struct.Struct("!BBHHH16s")  # type, code, checksum, max resp delay, reserved, address
_V2_QUERY_TAIL = struct.Struct("!BBH")  # resv/S/QRV, QQIC, number of sources
_V2_REPORT_HEADER = struct.Struct("!BBHHH")  # type, reserved, checksum, reserved, records
UNSPECIFIED = IPv6(0)


@dataclass(frozen=True)
class MldQuery:
    version: int  # 1 or 2
    max_resp_code: int = 10000  # milliseconds (a 16-bit code in v2)
    group: IPv6 = UNSPECIFIED
    suppress: bool = False
    qrv: int = 2
    qqic: int = 125
    sources: tuple[IPv6, ...] = ()

    @property
    def max_resp_ms(self) -> int:
        return decode_code16(self.max_resp_code) if self.version == 2 else self.max_resp_code

    @property
    def qqi(self) -> int:
        """The Querier's Query Interval in seconds (QQIC decoded)."""
        return decode_code8(self.qqic)

    @property
    def general(self) -> bool:
        return self.group == UNSPECIFIED


# The MLD messages mirror IGMP's (mcast/wire/_igmp.py) field for field; they stay
# parallel rather than shared so that each module reads as its own RFC
# (3810 here, 3376 there) and each keeps its own address type.
@dataclass(frozen=True)
class MldV1Report:
    group: IPv6


@dataclass(frozen=True)
class MldV1Done:
    group: IPv6


@dataclass(frozen=True)
class AddressRecord:
    type: RecordType
    group: IPv6
    sources: tuple[IPv6, ...] = ()
    aux: bytes = b""


@dataclass(frozen=True)
class MldV2Report:
    records: tuple[AddressRecord, ...] = field(default_factory=tuple)


MldMessage = MldQuery | MldV1Report | MldV1Done | MldV2Report


def pseudo_header(source: IPv6, destination: IPv6, length: int) -> bytes:
    return source.packed + destination.packed + struct.pack("!I3xB", length, IPPROTO_ICMPV6)


@untrusted
def decode_mld_untrusted(
    data: bytes, source: IPv6 | None = None, destination: IPv6 | None = None
) -> MldMessage:
    """Decode an MLD message; the checksum is checked when both addresses are given."""
    need(data, 0, 4, "an ICMPv6 header")
    pseudo = pseudo_header(source, destination, len(data)) if source and destination else None
    if pseudo is not None and checksum(pseudo + data) != 0:
        raise MalformedPacket("bad ICMPv6 checksum", 2)
    kind = data[0]
    if kind == V2_REPORT:
        return _decode_v2_report(data)
    if kind not in MLD_TYPES:
        raise MalformedPacket(f"ICMPv6 type {kind} is not MLD", 0)
    need(data, 0, 24, "an MLD message")
    _, _, _, delay, _, group_raw = _V1.unpack_from(data, 0)
    group = IPv6(group_raw)
    if kind == V1_REPORT:
        return MldV1Report(group)
    if kind == V1_DONE:
        return MldV1Done(group)
    if len(data) == 24:
        return MldQuery(1, delay, group)
    if len(data) < 28:
        raise MalformedPacket(f"a query of {len(data)} bytes is neither v1 (24) nor v2 (28+)", 24)
    flags, qqic, count = _V2_QUERY_TAIL.unpack_from(data, 24)
    need(data, 28, 16 * count, f"{count} query sources")
    sources = tuple(IPv6(data[28 + 16 * i : 44 + 16 * i]) for i in range(count))
    return MldQuery(2, delay, group, bool(flags & 0x08), flags & 0x07, qqic, sources)


def _decode_v2_report(data: bytes) -> MldV2Report:
    need(data, 0, 8, "an MLDv2 report header")
    _, _, _, _, count = _V2_REPORT_HEADER.unpack_from(data, 0)
    records = decode_records(data, count, 16, "multicast address record")
    return MldV2Report(
        tuple(
            AddressRecord(kind, IPv6(group), tuple(IPv6(s) for s in sources), aux)
            for kind, group, sources, aux in records
        )
    )


def encode_mld(message: MldMessage, source: IPv6, destination: IPv6) -> bytes:
    """The ICMPv6 bytes of ``message``, checksummed for these addresses."""
    if isinstance(message, MldV2Report):
        body = _V2_REPORT_HEADER.pack(V2_REPORT, 0, 0, 0, len(message.records))
        for record in message.records:
            body += encode_record(record.type, record.group, record.sources, record.aux)
    elif isinstance(message, MldQuery):
        body = _V1.pack(QUERY, 0, 0, message.max_resp_code, 0, message.group.packed)
        if message.version == 2:
            flags = (0x08 if message.suppress else 0) | (message.qrv & 0x07)
            body += _V2_QUERY_TAIL.pack(flags, message.qqic, len(message.sources))
            body += b"".join(s.packed for s in message.sources)
    else:
        kind = V1_REPORT if isinstance(message, MldV1Report) else V1_DONE
        body = _V1.pack(kind, 0, 0, 0, 0, message.group.packed)
    total = checksum(pseudo_header(source, destination, len(body)) + body)
    return body[:2] + struct.pack("!H", total) + body[4:]
