"""The Authentication Header (RFC 4302) in transport mode, for IPv6, as bytes.

Rules of this module:
- Pure: a whole IPv6 packet (from its fixed header on) goes in, a packet comes
  out; no socket, no clock. A malformed packet is :class:`AhError` naming the
  offset.
- :func:`protect` puts an AH after the IPv6 header and any hop-by-hop options
  (RFC 4302 3.1.1: AH follows the extension headers routers look at) and
  computes its ICV; :func:`verify` finds the AH, checks its ICV in constant
  time and gives the packet back without it.
- The ICV covers the packet with its mutable fields zeroed (RFC 4302 3.3.3.1.2):
  the IPv6 header's traffic class, flow label and hop limit; the data of any
  option whose "may change en route" bit is set, in hop-by-hop and destination
  options before the AH; the ICV field itself. Everything else is covered as it
  is sent, the payload length and next header included.
- Algorithms as data (:data:`ALGORITHMS`): HMAC-MD5-96 (RFC 2403, the seeds')
  and HMAC-SHA-256-128 (RFC 4868). The AH's length is a multiple of 8 octets
  for IPv6: the ICV field is padded with zeros where the ICV is shorter.
"""

from __future__ import annotations

import functools
import hmac
import struct
from dataclasses import dataclass

from .._errors import BadInput

IPV6_HEADER = 40
NH_HOP_BY_HOP, NH_DEST_OPTIONS, NH_ROUTING, NH_FRAGMENT, NH_AH = 0, 60, 43, 44, 51
MUTABLE_OPTION = 0x20  # option type bit: the option's data may change en route


class AhError(BadInput):
    """A packet the AH code cannot take: what is wrong, and where."""


class IcvMismatch(AhError):
    """A well-formed AH whose ICV is not the one the key makes."""


@dataclass(frozen=True)
class Algorithm:
    name: str  # as the .sad file writes it
    digest: str  # hashlib's name
    icv_length: int  # octets of the truncated HMAC

    @property
    def field_length(self) -> int:
        """The ICV field, padded so that the AH is a multiple of 8 octets (IPv6)."""
        return -(-(12 + self.icv_length) // 8) * 8 - 12

    def icv(self, key: bytes, data: bytes | bytearray) -> bytes:
        mac = _keyed(self.digest, key).copy()  # the key's pads hashed once, not per packet
        mac.update(data)
        return mac.digest()[: self.icv_length]


@functools.lru_cache(maxsize=256)
def _keyed(digest: str, key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=digest)


ALGORITHMS = {
    "HMAC-MD5": Algorithm("HMAC-MD5", "md5", 12),  # HMAC-MD5-96, RFC 2403
    "HMAC-SHA-256": Algorithm("HMAC-SHA-256", "sha256", 16),  # HMAC-SHA-256-128, RFC 4868
}


@dataclass(frozen=True)
class Verified:
    """What an AH said, and the packet without it."""

    spi: int
    sequence: int
    packet: bytes


def protect(packet: bytes, spi: int, sequence: int, algorithm: Algorithm, key: bytes) -> bytes:
    """``packet`` with an AH (``spi``, ``sequence``) and its ICV."""
    _check_ipv6(packet)
    if not 256 <= spi <= 0xFFFFFFFF:
        raise AhError(f"SPI {spi}: SPIs 0 to 255 are reserved (RFC 4302 2.4)")
    if not 0 <= sequence <= 0xFFFFFFFF:
        raise AhError(f"sequence number {sequence} does not fit 32 bits")
    # After the IPv6 header and a hop-by-hop header, if there is one.
    at, next_at, kind = IPV6_HEADER, 6, packet[6]
    if kind == NH_HOP_BY_HOP:
        length = _extension_length(packet, at)
        next_at, kind, at = at, packet[at], at + length
    field = algorithm.field_length
    ah_length = 12 + field
    header = struct.pack("!BBHII", kind, ah_length // 4 - 2, 0, spi, sequence)
    out = bytearray(packet[:at] + header + bytes(field) + packet[at:])
    out[next_at] = NH_AH
    struct.pack_into("!H", out, 4, len(out) - IPV6_HEADER)
    icv = algorithm.icv(key, _covered(out, at, field))
    out[at + 12 : at + 12 + algorithm.icv_length] = icv
    return bytes(out)


def verify(packet: bytes, algorithm: Algorithm, key: bytes) -> Verified:
    """The AH of ``packet`` checked; AhError when there is none or it is wrong."""
    _check_ipv6(packet)
    at, next_at, kind = IPV6_HEADER, 6, packet[6]
    while kind in (NH_HOP_BY_HOP, NH_DEST_OPTIONS, NH_ROUTING):
        length = _extension_length(packet, at)
        next_at, kind, at = at, packet[at], at + length
    if kind != NH_AH:
        raise AhError(f"no authentication header (next header {kind} at offset {next_at})")
    if len(packet) < at + 12:
        raise AhError(f"the AH at offset {at} is cut short")
    inner, length_word, _, spi, sequence = struct.unpack_from("!BBHII", packet, at)
    ah_length = (length_word + 2) * 4
    field = ah_length - 12
    if field != algorithm.field_length or len(packet) < at + ah_length:
        raise AhError(
            f"the AH at offset {at} is {ah_length} octets: {algorithm.name} makes "
            f"{12 + algorithm.field_length}"
        )
    got = packet[at + 12 : at + 12 + algorithm.icv_length]
    wanted = algorithm.icv(key, _covered(packet, at, field))
    if not hmac.compare_digest(got, wanted):
        raise IcvMismatch(f"the ICV of SPI {spi} sequence {sequence} is wrong")
    out = bytearray(packet[:at] + packet[at + ah_length :])
    out[next_at] = inner
    struct.pack_into("!H", out, 4, len(out) - IPV6_HEADER)
    return Verified(spi, sequence, bytes(out))


def _check_ipv6(packet: bytes) -> None:
    if len(packet) < IPV6_HEADER or packet[0] >> 4 != 6:
        raise AhError(f"not an IPv6 packet ({len(packet)} octets)")
    declared = struct.unpack_from("!H", packet, 4)[0]
    if declared != len(packet) - IPV6_HEADER:
        raise AhError(f"payload length {declared} but {len(packet) - IPV6_HEADER} octets follow")


def _extension_length(packet: bytes | bytearray, at: int) -> int:
    if len(packet) < at + 8:
        raise AhError(f"the extension header at offset {at} is cut short")
    length = (packet[at + 1] + 1) * 8
    if len(packet) < at + length:
        raise AhError(f"the extension header at offset {at} runs past the packet")
    return length


def _covered(packet: bytes | bytearray, ah_at: int, field: int) -> bytearray:
    """The octets the ICV is computed over: mutable fields and the ICV zeroed."""
    out = bytearray(packet)
    out[0] = 0x60  # version 6; traffic class and flow label zeroed
    out[1:4] = b"\x00\x00\x00"
    out[7] = 0  # hop limit
    at, kind = IPV6_HEADER, packet[6]
    while at < ah_at:
        length = _extension_length(packet, at)
        if kind in (NH_HOP_BY_HOP, NH_DEST_OPTIONS):
            _zero_mutable_options(out, at + 2, at + length)
        kind, at = packet[at], at + length
    out[ah_at + 12 : ah_at + 12 + field] = bytes(field)
    return out


def _zero_mutable_options(out: bytearray, at: int, end: int) -> None:
    while at < end:
        kind = out[at]
        if kind == 0:  # Pad1: one octet, no length
            at += 1
            continue
        if at + 2 > end:
            raise AhError(f"an option at offset {at} is cut short")
        size = out[at + 1]
        if at + 2 + size > end:
            raise AhError(f"the option at offset {at} runs past its header")
        if kind & MUTABLE_OPTION:
            out[at + 2 : at + 2 + size] = bytes(size)
        at += 2 + size
