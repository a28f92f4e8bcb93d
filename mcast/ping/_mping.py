"""The multicast ping protocol (RFC 6450), as Debian's ssmping 0.9.1 speaks it.

Rules of this module:
- Pure: bytes in, a :class:`Ping` out; values in, bytes out. No socket, no clock.
- Decoders trust nothing and are named ``*_untrusted``; the only exception
  they let out is :class:`~mcast.wire._wirecommon.MalformedPacket`, with the offset.
- The options are data (:data:`OPTIONS`): number, name and the lengths allowed.

A message is one octet of type, ``Q`` (a request) or ``A`` (a reply), then
options, each a TLV in network order: type (16 bits), length (16 bits),
value. The numbers are those ssmping, asmping and ssmpingd use::

    1  client id        4 octets (ssmping puts its process id there)
    2  sequence         4 octets
    3  timestamp        8 octets: seconds, microseconds (the client's clock)
    4  group            1 octet of address family (1 IPv4, 2 IPv6) and the address
    5  version request  empty: the responder adds its version (6)
    6  version          text
    7  reply size       2 octets: the responder pads its reply to that size
    8  pad              any length

A responder answers a request with the same octets, the type changed to
``A``, plus the version when asked and padding when asked: once by unicast to
the client, once to the group (the request's, else :data:`DEFAULT_GROUPS`) at
the client's port, both with a hop limit of :data:`HOPS`, so that the client
reads the distance from the hop limit left.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ..wire._wirecommon import MalformedPacket, need, untrusted

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PORT = 4321
HOPS = 64  # the hop limit replies are sent with: 64 - what arrives = routers crossed
REQUEST, REPLY = ord("Q"), ord("A")
DEFAULT_GROUPS: dict[int, IPAddress] = {
    4: ipaddress.IPv4Address("232.43.211.234"),
    6: ipaddress.IPv6Address("ff3e::4321:1234"),
}
MAX_REPLY_SIZE = 1452  # a padded reply still fits a 1500-byte link, IPv4 or IPv6
FAMILY_NUMBERS = {4: 1, 6: 2}  # IANA address family numbers, in the group option

CLIENT_ID, SEQUENCE, TIMESTAMP, GROUP, VERSION_REQUEST, VERSION, REPLY_SIZE, PAD = range(1, 9)
# number -> (name, the lengths allowed: a set, or None for any)
OPTIONS: dict[int, tuple[str, frozenset[int] | None]] = {
    CLIENT_ID: ("client id", frozenset({4})),
    SEQUENCE: ("sequence", frozenset({4})),
    TIMESTAMP: ("timestamp", frozenset({8})),
    GROUP: ("group", frozenset({5, 17})),
    VERSION_REQUEST: ("version request", frozenset({0})),
    VERSION: ("version", None),
    REPLY_SIZE: ("reply size", frozenset({2})),
    PAD: ("pad", None),
}
_TLV = struct.Struct("!HH")
_U16, _U32 = struct.Struct("!H"), struct.Struct("!I")
_TIME = struct.Struct("!II")


@dataclass(frozen=True)
class Ping:
    """A decoded request or reply."""

    kind: str  # "request" or "reply"
    client_id: int | None = None
    sequence: int | None = None
    sent_ns: int | None = None  # the client's timestamp, in nanoseconds (microsecond steps)
    group: IPAddress | None = None
    wants_version: bool = False
    version: str | None = None
    reply_size: int | None = None
    unknown: tuple[int, ...] = ()  # option numbers this module does not know (kept, skipped)


def encode_request(
    client_id: int,
    sequence: int,
    sent_ns: int,
    *,
    group: IPAddress | None = None,
    ask_version: bool = False,
    reply_size: int | None = None,
) -> bytes:
    """A request as ssmping builds one: client id, sequence, timestamp, then the
    version request, reply size and group when given."""
    seconds, nanoseconds = divmod(sent_ns, 1_000_000_000)
    parts = [
        bytes([REQUEST]),
        _option(CLIENT_ID, _U32.pack(client_id & 0xFFFFFFFF)),
        _option(SEQUENCE, _U32.pack(sequence & 0xFFFFFFFF)),
        _option(TIMESTAMP, _TIME.pack(seconds & 0xFFFFFFFF, nanoseconds // 1000)),
    ]
    if ask_version:
        parts.append(_option(VERSION_REQUEST, b""))
    if reply_size is not None:
        parts.append(_option(REPLY_SIZE, _U16.pack(reply_size)))
    if group is not None:
        parts.append(_option(GROUP, bytes([FAMILY_NUMBERS[group.version]]) + group.packed))
    return b"".join(parts)


def _option(number: int, value: bytes) -> bytes:
    return _TLV.pack(number, len(value)) + value


@untrusted
def decode_untrusted(data: bytes) -> Ping:
    """A request or reply; MalformedPacket for anything else."""
    need(data, 0, 1, "message type")
    if data[0] not in (REQUEST, REPLY):
        raise MalformedPacket(f"message type {data[0]} is neither Q nor A", 0)
    fields: dict[str, object] = {"kind": "request" if data[0] == REQUEST else "reply"}
    unknown: list[int] = []
    offset = 1
    while offset < len(data):
        need(data, offset, _TLV.size, "option header")
        number, length = _TLV.unpack_from(data, offset)
        start = offset + _TLV.size
        need(data, start, length, f"option {number}'s value")
        value = data[start : start + length]
        known = OPTIONS.get(number)
        if known is None:
            unknown.append(number)
        else:
            name, lengths = known
            if lengths is not None and length not in lengths:
                raise MalformedPacket(f"{name} option of {length} octets", offset)
            _read(number, value, offset, fields)
        offset = start + length
    fields["unknown"] = tuple(unknown)
    return Ping(**fields)  # type: ignore[arg-type]


def _read(number: int, value: bytes, offset: int, fields: dict[str, object]) -> None:
    if number == CLIENT_ID:
        fields.setdefault("client_id", _U32.unpack(value)[0])
    elif number == SEQUENCE:
        fields.setdefault("sequence", _U32.unpack(value)[0])
    elif number == TIMESTAMP:
        seconds, microseconds = _TIME.unpack(value)
        if microseconds >= 1_000_000:
            raise MalformedPacket(f"timestamp of {microseconds} microseconds", offset)
        fields.setdefault("sent_ns", seconds * 1_000_000_000 + microseconds * 1000)
    elif number == GROUP:
        family = {1: 4, 2: 6}.get(value[0])
        if family is None or len(value) != (5 if family == 4 else 17):
            raise MalformedPacket(f"group of family {value[0]} in {len(value)} octets", offset)
        group = ipaddress.ip_address(value[1:])
        if not group.is_multicast:
            raise MalformedPacket(f"group {group} is not a multicast address", offset)
        fields.setdefault("group", group)
    elif number == VERSION_REQUEST:
        fields["wants_version"] = True
    elif number == VERSION:
        fields.setdefault("version", value.decode("utf-8", "replace"))
    elif number == REPLY_SIZE:
        fields.setdefault("reply_size", _U16.unpack(value)[0])


def reply_to(request: bytes, ping: Ping, version: str) -> bytes:
    """The reply to ``request`` (decoded as ``ping``): its octets with the type
    changed to A, the version when asked for, padding to the size asked for
    (at most :data:`MAX_REPLY_SIZE`, and never shorter than the reply is)."""
    reply = bytes([REPLY]) + request[1:]
    if ping.wants_version:
        reply += _option(VERSION, version.encode()[:255])
    size = ping.reply_size
    if size is not None and len(reply) + _TLV.size <= min(size, MAX_REPLY_SIZE):
        reply += _option(PAD, bytes(min(size, MAX_REPLY_SIZE) - len(reply) - _TLV.size))
    return reply


def reply_group(ping: Ping, family: int) -> IPAddress:
    """Where the multicast reply goes: the request's group, else the default one."""
    return ping.group if ping.group is not None else DEFAULT_GROUPS[family]


def ssmpingd_accepts(group: IPAddress) -> bool:
    """Whether ssmpingd would send to ``group``: an IPv4 group ending in .234, or an
    IPv6 group ending in 4321:1234 (so that a responder cannot be made to send
    to any group at all). The toolkit's responder answers these by default."""
    if group.version == 4:
        return group.packed[3] == 234
    return group.packed[12:] == bytes.fromhex("43211234")
