"""PGM (RFC 3208) packets as bytes: the header, SPM, ODATA/RDATA, NAK/NNAK/NCF,
POLL/POLR, SPMR, and the options the toolkit sends or must understand.

Rules of this module:
- Pure, as the IGMP and MLD codecs are: frozen dataclasses in, bytes out, and
  back. :func:`decode_pgm_untrusted` trusts nothing and lets only
  :class:`mcast.MalformedPacket` out, with the offset.
- Layouts as data: the C structs (as OpenPGM's ``pgm/packet.h`` writes them,
  RFC 3208 section 8) quoted above their ``struct`` formats. All fields are
  big-endian. NLAs carry an AFI (1 IPv4, 2 IPv6) and 4 or 16 octets.
- The checksum (RFC 3208 8) covers the whole PGM packet and no pseudo-header;
  a computed 0 is sent as 0xffff, and a received 0 means "none was sent".
- Options (RFC 3208 9): OPT_LENGTH first, each option a 3-octet header (type
  with the end bit, length, F/OPX/U bits) and its value. Decoded and encoded:
  OPT_FRAGMENT, OPT_NAK_LIST, OPT_JOIN, OPT_SYN, OPT_FIN, OPT_RST and FEC's
  OPT_PARITY_PRM, OPT_PARITY_GRP and OPT_CURR_TGSIZE (RFC 3208 11.8). An
  OPT_FRAGMENT whose OP_ENCODED bit is set (in a parity packet: the parity of
  the group's fragment options) is kept as its raw value. Any other option
  (congestion control, redirect...) is kept as (type, value) in
  ``Options.other``, so a caller can report what it does not implement; an
  option whose OPX bits say "discard the packet" when not understood makes
  :attr:`Options.must_discard` true.
- FEC packets (RFC 3208 11): ODATA (proactive) or RDATA (on demand) with the
  header's OPT_PARITY bit, and OPT_VAR_PKTLEN when the group's packets differ
  in length; a NAK or NCF with OPT_PARITY asks about a transmission group.

Past 400 lines as one concept: RFC 3208's packet types and options as layouts,
mostly data (the structs quoted above their formats).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from ..wire._wirecommon import MalformedPacket, checksum, need, untrusted

IPPROTO_PGM = 113
UDP_ENCAP_PORT = 3055  # OpenPGM's default for UDP encapsulation (unicast; 3056 multicast)

# struct pgm_header { u16 sport; u16 dport; u8 type; u8 options; u16 checksum;
#   u8 gsi[6]; u16 tsdu_length; }
HEADER = struct.Struct("!HHBBH6sH")
# struct pgm_spm { u32 sqn; u32 trail; u32 lead; u16 nla_afi; u16 reserved; nla }
SPM = struct.Struct("!IIIH2x")
# struct pgm_data { u32 sqn; u32 trail; }
DATA = struct.Struct("!II")
# struct pgm_nak { u32 sqn; u16 src_nla_afi; u16 reserved; src nla; u16 grp_nla_afi;
#   u16 reserved2; grp nla }
NAK = struct.Struct("!IH2x")
AFI = struct.Struct("!H2x")
# struct pgm_poll { u32 sqn; u16 round; u16 s_type; u16 nla_afi; u16 reserved; nla;
#   u32 bo_ivl; char rand[4]; u32 mask; }
POLL = struct.Struct("!IHHH2x")
POLL_TAIL = struct.Struct("!I4sI")
# struct pgm_polr { u32 sqn; u16 round; u16 reserved; }
POLR = struct.Struct("!IH2x")
# options: a header of type (top bit: end of options), length, and F/OPX/U bits, then
# (OpenPGM) one reserved octet before each option's value
OPTION = struct.Struct("!BBB")
OPT_LENGTH_SIZE = 4

AFI_IPV4, AFI_IPV6 = 1, 2
OPT_PRESENT, OPT_NETWORK, OPT_VAR_PKTLEN, OPT_PARITY = 0x01, 0x02, 0x40, 0x80
OPT_END, OPT_TYPE_MASK = 0x80, 0x7F
OPX_MASK, OPX_DISCARD = 0x03, 0x02
MAX_NAK_LIST = 62  # RFC 3208 9.3.5: a NAK list holds at most 62 sequence numbers


class PgmType(IntEnum):
    SPM = 0x00
    POLL = 0x01
    POLR = 0x02
    ODATA = 0x04
    RDATA = 0x05
    NAK = 0x08
    NNAK = 0x09
    NCF = 0x0A
    SPMR = 0x0C


class OptType(IntEnum):
    LENGTH = 0x00
    FRAGMENT = 0x01
    NAK_LIST = 0x02
    JOIN = 0x03
    PARITY_PRM = 0x08
    PARITY_GRP = 0x09
    CURR_TGSIZE = 0x0A
    SYN = 0x0D
    FIN = 0x0E
    RST = 0x0F


IMPLEMENTED = frozenset(int(t) for t in OptType)
OPTION_NAMES = {
    0x04: "OPT_NAK_BO_IVL", 0x05: "OPT_NAK_BO_RNG", 0x07: "OPT_REDIRECT",
    0x0B: "OPT_NBR_UNREACH", 0x0C: "OPT_PATH_NLA", 0x10: "OPT_CR", 0x11: "OPT_CRQST",
    0x12: "OPT_PGMCC_DATA", 0x13: "OPT_PGMCC_FEEDBACK", 0x7F: "OPT_INVALID",
}  # fmt: skip
# struct pgm_opt_fragment { u8 reserved; u32 sqn; u32 frag_off; u32 frag_len; }
FRAGMENT = struct.Struct("!xIII")
# struct pgm_opt_join { u8 reserved; u32 join_min; }
JOIN = struct.Struct("!xI")
# struct pgm_opt_parity_prm { u8 reserved (PRO 0x1, OND 0x2); u32 tgs; }, and
# pgm_opt_parity_grp { u8 reserved; u32 group; }, pgm_opt_curr_tgsize { u8; u32 size; }
PARITY_PRM = struct.Struct("!BI")
WORD = struct.Struct("!xI")
PARITY_PRO, PARITY_OND = 0x01, 0x02
OP_ENCODED = 0x08  # the option header's F bit: the value is FEC parity
OP_ENCODED_NULL = 0x80  # in an encoded option's value: this packet had no such option

Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class Fragment:
    """OPT_FRAGMENT: this TPDU carries ``length`` octets of an APDU of ``total``,
    from ``offset``; the APDU's first TPDU has sequence number ``first``."""

    first: int
    offset: int
    total: int


@dataclass(frozen=True)
class ParityPrm:
    """OPT_PARITY_PRM (in SPMs): the source's FEC, over transmission groups of
    ``group_size`` packets."""

    group_size: int
    proactive: bool = False
    ondemand: bool = False


@dataclass(frozen=True)
class Options:
    fragment: Fragment | None = None
    nak_list: tuple[int, ...] = ()  # more sequence numbers a NAK or NCF asks about
    join: int | None = None  # OPT_JOIN: the lowest sequence number a late joiner may ask
    syn: bool = False  # the session's first data
    fin: bool = False  # the session's last data
    rst: bool = False  # the session was reset
    parity_prm: ParityPrm | None = None  # OPT_PARITY_PRM: the source's FEC
    parity_grp: int | None = None  # OPT_PARITY_GRP: a parity packet's group number
    curr_tgsize: int | None = None  # OPT_CURR_TGSIZE: packets in this (short) group
    encoded_fragment: bytes | None = None  # OPT_FRAGMENT with OP_ENCODED: 13 octets
    other: tuple[tuple[int, bytes], ...] = ()  # options not implemented, as (type, value)
    must_discard: bool = False  # one of ``other`` says: drop the packet if not understood

    @property
    def empty(self) -> bool:
        return self == Options()


@dataclass(frozen=True)
class Header:
    sport: int
    dport: int
    gsi: bytes  # the Global Source Identifier, 6 octets
    parity: bool = False
    network_significant: bool = False
    var_pktlen: bool = False  # a parity packet over packets of different lengths

    @property
    def tsi(self) -> tuple[bytes, int]:
        """The Transport Session Identifier: GSI and the source's data port."""
        return self.gsi, self.sport


@dataclass(frozen=True)
class Spm:
    header: Header
    sqn: int
    trail: int
    lead: int
    path: Address  # the NLA of the source (or the last network element)
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Data:
    """ODATA (``repair`` false) or RDATA."""

    header: Header
    sqn: int
    trail: int
    payload: bytes
    repair: bool = False
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Nak:
    """NAK, N-NAK or NCF (``kind``), about ``sqn`` (and ``options.nak_list``)."""

    header: Header
    kind: PgmType
    sqn: int
    source: Address
    group: Address
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Poll:
    header: Header
    sqn: int
    round: int
    subtype: int
    path: Address
    backoff: int
    random: bytes
    mask: int
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Polr:
    header: Header
    sqn: int
    round: int
    options: Options = field(default_factory=Options)


@dataclass(frozen=True)
class Spmr:
    header: Header
    options: Options = field(default_factory=Options)


PgmPacket = Spm | Data | Nak | Poll | Polr | Spmr


# -- encoding ------------------------------------------------------------------------


def encode_pgm(packet: PgmPacket) -> bytes:
    """The packet's bytes, checksum included."""
    body, kind, tsdu = _body(packet)
    options = _encode_options(packet.options)
    h = packet.header
    flags = (OPT_PRESENT if options else 0) | (OPT_PARITY if h.parity else 0)
    flags |= OPT_NETWORK if h.network_significant else 0
    flags |= OPT_VAR_PKTLEN if h.var_pktlen else 0
    if len(h.gsi) != 6:
        raise ValueError(f"a GSI is 6 octets, not {len(h.gsi)}")
    payload = packet.payload if isinstance(packet, Data) else b""
    out = bytearray(HEADER.pack(h.sport, h.dport, kind, flags, 0, h.gsi, tsdu))
    out += body + options + payload
    value = checksum(bytes(out)) or 0xFFFF
    struct.pack_into("!H", out, 6, value)
    return bytes(out)


def _afi(address: Address) -> int:
    return AFI_IPV4 if address.version == 4 else AFI_IPV6


def _nla(address: Address) -> bytes:
    return AFI.pack(_afi(address)) + address.packed


def _body(packet: PgmPacket) -> tuple[bytes, int, int]:
    """The type-specific part (before options), the type, the TSDU length."""
    if isinstance(packet, Spm):
        head = SPM.pack(packet.sqn, packet.trail, packet.lead, _afi(packet.path))
        return head + packet.path.packed, PgmType.SPM, 0
    if isinstance(packet, Data):
        kind = PgmType.RDATA if packet.repair else PgmType.ODATA
        return DATA.pack(packet.sqn, packet.trail), kind, len(packet.payload)
    if isinstance(packet, Nak):
        return (struct.pack("!I", packet.sqn) + _nla(packet.source) + _nla(packet.group),
                packet.kind, 0)  # fmt: skip
    if isinstance(packet, Poll):
        if len(packet.random) != 4:
            raise ValueError("a POLL's random string is 4 octets")
        head = POLL.pack(packet.sqn, packet.round, packet.subtype, _afi(packet.path))
        tail = POLL_TAIL.pack(packet.backoff, packet.random, packet.mask)
        return head + packet.path.packed + tail, PgmType.POLL, 0
    if isinstance(packet, Polr):
        return POLR.pack(packet.sqn, packet.round), PgmType.POLR, 0
    return b"", PgmType.SPMR, 0


def _option(kind: int, value: bytes) -> bytes:
    return OPTION.pack(kind, OPTION.size + 1 + len(value), 0) + b"\0" + value


def _encode_options(options: Options) -> bytes:
    if options.empty:
        return b""
    parts = []
    if options.fragment is not None:
        f = options.fragment
        parts.append(OPTION.pack(OptType.FRAGMENT, 16, 0) + FRAGMENT.pack(f.first, f.offset,
                                                                          f.total))  # fmt: skip
    if options.nak_list:
        if len(options.nak_list) > MAX_NAK_LIST:
            raise ValueError(f"a NAK list holds at most {MAX_NAK_LIST} sequence numbers")
        parts.append(_option(OptType.NAK_LIST, struct.pack(f"!{len(options.nak_list)}I",
                                                            *options.nak_list)))  # fmt: skip
    if options.encoded_fragment is not None:
        if len(options.encoded_fragment) != FRAGMENT.size:
            raise ValueError(f"an encoded OPT_FRAGMENT value is {FRAGMENT.size} octets")
        parts.append(OPTION.pack(OptType.FRAGMENT, 16, OP_ENCODED) + options.encoded_fragment)
    if options.join is not None:
        parts.append(OPTION.pack(OptType.JOIN, 8, 0) + JOIN.pack(options.join))
    if options.parity_prm is not None:
        prm = options.parity_prm
        bits = (PARITY_PRO if prm.proactive else 0) | (PARITY_OND if prm.ondemand else 0)
        value = PARITY_PRM.pack(bits, prm.group_size)
        parts.append(OPTION.pack(OptType.PARITY_PRM, 8, 0) + value)
    for marker, number in ((OptType.PARITY_GRP, options.parity_grp),
                           (OptType.CURR_TGSIZE, options.curr_tgsize)):  # fmt: skip
        if number is not None:
            parts.append(OPTION.pack(marker, 8, 0) + WORD.pack(number))
    for flag, marker in ((options.syn, OptType.SYN), (options.fin, OptType.FIN),
                         (options.rst, OptType.RST)):  # fmt: skip
        if flag:
            parts.append(_option(marker, b""))
    for kind, value in options.other:
        parts.append(OPTION.pack(kind, OPTION.size + len(value), 0) + value)
    parts[-1] = bytes([parts[-1][0] | OPT_END]) + parts[-1][1:]
    total = OPT_LENGTH_SIZE + sum(len(p) for p in parts)
    return struct.pack("!BBH", OptType.LENGTH, OPT_LENGTH_SIZE, total) + b"".join(parts)


# -- decoding ------------------------------------------------------------------------


@untrusted
def decode_pgm_untrusted(data: bytes, *, verify_checksum: bool = True) -> PgmPacket:
    """One PGM packet (from the PGM header on: what follows the IP header, or the
    UDP header when encapsulated)."""
    need(data, 0, HEADER.size, "the PGM header")
    sport, dport, kind, flags, carried, gsi, tsdu = HEADER.unpack_from(data)
    if verify_checksum and carried:
        copy = bytearray(data)
        copy[6:8] = b"\0\0"
        wanted = checksum(bytes(copy)) or 0xFFFF
        if wanted != carried:
            raise MalformedPacket(f"checksum {carried:#06x}, computed {wanted:#06x}", 6)
    header = Header(sport, dport, gsi, bool(flags & OPT_PARITY), bool(flags & OPT_NETWORK),
                    bool(flags & OPT_VAR_PKTLEN))  # fmt: skip
    at = HEADER.size
    try:
        kind = PgmType(kind)
    except ValueError:
        raise MalformedPacket(f"packet type {kind:#04x} is not one PGM defines", 4) from None
    if kind == PgmType.SPM:
        need(data, at, SPM.size, "an SPM")
        sqn, trail, lead, afi = SPM.unpack_from(data, at)
        path, at = _address(data, at + SPM.size, afi)
        options, at = _options(data, at, flags)
        _no_payload(data, at, tsdu)
        return Spm(header, sqn, trail, lead, path, options)
    if kind in (PgmType.ODATA, PgmType.RDATA):
        need(data, at, DATA.size, "a data packet")
        sqn, trail = DATA.unpack_from(data, at)
        options, at = _options(data, at + DATA.size, flags)
        if len(data) - at != tsdu:
            raise MalformedPacket(f"TSDU length {tsdu} but {len(data) - at} octets follow", 14)
        return Data(header, sqn, trail, data[at:], kind == PgmType.RDATA, options)
    if kind in (PgmType.NAK, PgmType.NNAK, PgmType.NCF):
        need(data, at, NAK.size, "a NAK")
        sqn, afi = NAK.unpack_from(data, at)
        source, at = _address(data, at + NAK.size, afi)
        need(data, at, AFI.size, "a NAK's group NLA")
        (afi,) = AFI.unpack_from(data, at)
        group, at = _address(data, at + AFI.size, afi)
        options, at = _options(data, at, flags)
        _no_payload(data, at, tsdu)
        return Nak(header, kind, sqn, source, group, options)
    if kind == PgmType.POLL:
        need(data, at, POLL.size, "a POLL")
        sqn, poll_round, subtype, afi = POLL.unpack_from(data, at)
        path, at = _address(data, at + POLL.size, afi)
        need(data, at, POLL_TAIL.size, "a POLL")
        backoff, rand, mask = POLL_TAIL.unpack_from(data, at)
        options, at = _options(data, at + POLL_TAIL.size, flags)
        _no_payload(data, at, tsdu)
        return Poll(header, sqn, poll_round, subtype, path, backoff, rand, mask, options)
    if kind == PgmType.POLR:
        need(data, at, POLR.size, "a POLR")
        sqn, polr_round = POLR.unpack_from(data, at)
        options, at = _options(data, at + POLR.size, flags)
        _no_payload(data, at, tsdu)
        return Polr(header, sqn, polr_round, options)
    options, at = _options(data, at, flags)
    _no_payload(data, at, tsdu)
    return Spmr(header, options)


def _no_payload(data: bytes, at: int, tsdu: int) -> None:
    if tsdu or at != len(data):
        raise MalformedPacket(f"{len(data) - at} octets after the packet (TSDU length {tsdu})",
                              at)  # fmt: skip


def _address(data: bytes, at: int, afi: int) -> tuple[Address, int]:
    size = {AFI_IPV4: 4, AFI_IPV6: 16}.get(afi)
    if size is None:
        raise MalformedPacket(f"NLA address family {afi} (1 is IPv4, 2 IPv6)", at - 4)
    need(data, at, size, "an NLA")
    return ip_address(data[at : at + size]), at + size


def _options(data: bytes, at: int, flags: int) -> tuple[Options, int]:
    """The options from ``at``, and where what follows them starts."""
    if not flags & OPT_PRESENT:
        return Options(), at
    need(data, at, OPT_LENGTH_SIZE, "OPT_LENGTH")
    kind, length, total = struct.unpack_from("!BBH", data, at)
    if kind & OPT_TYPE_MASK != OptType.LENGTH or length != OPT_LENGTH_SIZE:
        raise MalformedPacket("the options do not start with OPT_LENGTH", at)
    end = at + total
    if total < OPT_LENGTH_SIZE + OPTION.size or end > len(data):
        raise MalformedPacket(f"options of {total} octets", at + 2)
    found: dict[str, Any] = {}
    other: list[tuple[int, bytes]] = []
    discard = False
    offset = at + OPT_LENGTH_SIZE
    while True:
        need(data, offset, OPTION.size, "an option")
        kind, length, bits = OPTION.unpack_from(data, offset)
        if length < OPTION.size or offset + length > end:
            raise MalformedPacket(f"an option of {length} octets", offset + 1)
        value = data[offset + OPTION.size : offset + length]
        if kind & OPT_TYPE_MASK == OptType.FRAGMENT and bits & OP_ENCODED:
            if len(value) != FRAGMENT.size:
                raise MalformedPacket(f"an encoded OPT_FRAGMENT of {length} octets (16)", offset)
            found["encoded_fragment"] = value
        else:
            _option_value(kind & OPT_TYPE_MASK, value, offset, found, other)
        if kind & OPT_TYPE_MASK not in IMPLEMENTED:
            discard |= bits & OPX_MASK == OPX_DISCARD
        offset += length
        if kind & OPT_END:
            break
        if offset >= end:
            raise MalformedPacket("the options end without an option marked last", offset)
    if offset != end:
        raise MalformedPacket(f"OPT_LENGTH says {total}, the options take {offset - at}", at + 2)
    return Options(other=tuple(other), must_discard=discard, **found), end


def _option_value(kind: int, value: bytes, at: int, found: dict[str, Any],
                  other: list[tuple[int, bytes]]) -> None:  # fmt: skip
    if kind == OptType.FRAGMENT:
        if len(value) != FRAGMENT.size:
            raise MalformedPacket(f"OPT_FRAGMENT of {len(value) + 3} octets (16)", at)
        first, offset, total = FRAGMENT.unpack(value)
        if offset >= total:
            raise MalformedPacket(f"a fragment at {offset} of an APDU of {total}", at)
        found["fragment"] = Fragment(first, offset, total)
    elif kind == OptType.NAK_LIST:
        count = (len(value) - 1) // 4
        if len(value) < 5 or (len(value) - 1) % 4 or count > MAX_NAK_LIST:
            raise MalformedPacket(f"OPT_NAK_LIST of {len(value) + 3} octets", at)
        found["nak_list"] = struct.unpack_from(f"!{count}I", value, 1)
    elif kind == OptType.JOIN:
        if len(value) != JOIN.size:
            raise MalformedPacket(f"OPT_JOIN of {len(value) + 3} octets (8)", at)
        found["join"] = JOIN.unpack(value)[0]
    elif kind == OptType.PARITY_PRM:
        if len(value) != PARITY_PRM.size:
            raise MalformedPacket(f"OPT_PARITY_PRM of {len(value) + 3} octets (8)", at)
        bits, size = PARITY_PRM.unpack(value)
        found["parity_prm"] = ParityPrm(size, bool(bits & PARITY_PRO), bool(bits & PARITY_OND))
    elif kind in (OptType.PARITY_GRP, OptType.CURR_TGSIZE):
        if len(value) != WORD.size:
            raise MalformedPacket(f"{OptType(kind).name} of {len(value) + 3} octets (8)", at)
        found[OptType(kind).name.lower()] = WORD.unpack(value)[0]
    elif kind in (OptType.SYN, OptType.FIN, OptType.RST):
        found[OptType(kind).name.lower()] = True
    elif kind == OptType.LENGTH:
        raise MalformedPacket("a second OPT_LENGTH", at)
    else:
        other.append((kind, value))
