"""Forward error correction for PGM (RFC 3208 section 11): Reed-Solomon parity
over a transmission group, and the rebuilding of a group's lost packets from
any ``k`` of its packets and parity packets.

Rules of this module:
- Pure: packets in, packets out; the arithmetic is zfec's (Rizzo's systematic
  Vandermonde code over GF(2^8) with the polynomial x^8+x^4+x^3+x^2+1, which
  is the code OpenPGM's ``reed_solomon.c`` builds: the same group gives the same
  parity bytes, as tests/mcast/test_pgm_fec.py checks against OpenPGM's own
  encoder).
- A transmission group is ``k`` consecutive sequence numbers, ``k`` a power of
  two from 2 to 128 (OpenPGM's receivers refuse other sizes), starting where
  the low log2(k) bits are 0. Its parity packets are numbered ``h`` from 0 (the
  code's row ``k + h``); a parity packet's sequence number is the group's with
  ``h mod k`` in the low bits, and OPT_PARITY_GRP carries ``h div k`` when it
  is not 0 (RFC 3208 11.8.2).
- Packets of different lengths (OPT_VAR_PKTLEN): each is padded with zeros to
  the longest and its own length appended as 16 bits, least significant octet
  first: OpenPGM writes it in its host's order, which is that on the x86 and
  ARM machines it runs on, and a length read in the other order would rebuild
  a packet of the wrong size without any sign (tests/mcast/test_pgm_openpgm.py
  checks groups of different lengths both ways).
- Options: OPT_FRAGMENT is coded too (RFC 3208 9.1's OP_ENCODED): each packet's
  13 octets (the reserved octet, first sequence number, offset, length), or
  OP_ENCODED_NULL and zeros when it has none. A parity packet of the session's
  first group carries OPT_SYN: that group begins with the session's first
  packet (a source with FEC starts its sequence numbers at a group's start).
- A parity packet a peer forged or garbled can rebuild nonsense: a rebuilt
  length or fragment that cannot be is refused (:class:`FecError`), and the
  receiver falls back to selective repair.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .._errors import McastBadInput, McastError
from ._pgm import FRAGMENT, OP_ENCODED_NULL, Data, Fragment, Header, Options, ParityPrm

SQN_MASK = 0xFFFFFFFF
PKTLEN = struct.Struct("<H")  # OpenPGM's: a uint16_t in host order (see above)
NULL_FRAGMENT = bytes([OP_ENCODED_NULL]) + bytes(FRAGMENT.size - 1)


class FecError(McastError):
    """Parity that cannot rebuild the group it claims to (inconsistent or forged)."""


class BadFecConfig(McastBadInput, ValueError):
    """An RM_FEC_INFO no code can have (a ValueError too, as the pure configs' are)."""


def group_size_ok(k: int) -> bool:
    return 2 <= k <= 128 and k & (k - 1) == 0


@dataclass(frozen=True)
class FecConfig:
    """RM_FEC_INFO: ``block_size`` (FECBlockSize, n: a group's packets and all the
    parity that can be made for it, at most 255), ``group_size`` (FECGroupSize,
    k), ``proactive`` (FECProActivePackets: parity sent with every group) and
    ``ondemand`` (fFECOnDemandParityEnabled: parity sent for parity NAKs)."""

    group_size: int
    block_size: int = 255
    proactive: int = 0
    ondemand: bool = False

    def __post_init__(self) -> None:
        k, n = self.group_size, self.block_size
        if not group_size_ok(k):
            raise BadFecConfig(f"a transmission group is 2, 4, 8 ... 128 packets, not {k}")
        if not k < n <= 255:
            raise BadFecConfig(
                f"a block of a {k}-packet group holds {k + 1} to 255 packets, not {n}"
            )
        if not 0 <= self.proactive <= n - k:
            raise BadFecConfig(
                f"{self.proactive} proactive parity packets: a {k}/{n} code makes at most {n - k}"
            )
        if not self.proactive and not self.ondemand:
            raise BadFecConfig("FEC sends parity proactively, on demand, or both")

    @property
    def announced(self) -> ParityPrm:
        """What the source's SPMs say (OPT_PARITY_PRM)."""
        return ParityPrm(self.group_size, bool(self.proactive), self.ondemand)


def group_of(sqn: int, k: int) -> int:
    """The first sequence number of ``sqn``'s transmission group."""
    return sqn & ~(k - 1) & SQN_MASK


def parity_number(packet: Data, k: int) -> int:
    """``h`` of a parity packet (its low bits and OPT_PARITY_GRP)."""
    return (packet.options.parity_grp or 0) * k + (packet.sqn & (k - 1))


@functools.lru_cache(maxsize=16)
def _coder(k: int, n: int) -> tuple[object, object]:
    """zfec's encoder and decoder for a k/n code (each builds its matrix once)."""
    import zfec  # the arithmetic, only where FEC is used

    return zfec.Encoder(k, n), zfec.Decoder(k, n)


def _fragment_value(options: Options) -> bytes:
    f = options.fragment
    return NULL_FRAGMENT if f is None else FRAGMENT.pack(f.first, f.offset, f.total)


def _blocks(payloads: Sequence[bytes]) -> tuple[list[bytes], bool]:
    """The payloads as equal blocks, and whether lengths had to be appended."""
    longest = max(len(p) for p in payloads)
    if all(len(p) == longest for p in payloads):
        return list(payloads), False
    return [p.ljust(longest, b"\0") + PKTLEN.pack(len(p)) for p in payloads], True


def make_parity(group: Sequence[Data], h: int, block_size: int, *, repair: bool,
                trail: int, syn: bool = False) -> Data:  # fmt: skip
    """Parity packet ``h`` of a whole transmission group (its ``k`` data packets in
    order): ODATA when sent proactively, RDATA (``repair``) on demand."""
    k = len(group)
    if not group_size_ok(k) or not 0 <= h < block_size - k:
        raise ValueError(f"no parity packet {h} of a {k}/{block_size} code")
    first = group[0]
    blocks, var = _blocks([p.payload for p in group])
    encoder, _ = _coder(k, block_size)
    payload = _encode(encoder, blocks, k + h)
    fragment = None
    if any(p.options.fragment is not None for p in group):
        fragment = _encode(encoder, [_fragment_value(p.options) for p in group], k + h)
    header = Header(first.header.sport, first.header.dport, first.header.gsi, parity=True,
                    var_pktlen=var)  # fmt: skip
    options = Options(encoded_fragment=fragment, syn=syn, parity_grp=h // k or None)
    return Data(header, first.sqn | (h % k), trail, payload, repair=repair, options=options)


def _encode(encoder: object, blocks: list[bytes], row: int) -> bytes:
    if not blocks[0]:
        return b""  # a group of empty packets has empty parity
    return bytes(encoder.encode(blocks, [row])[0])  # type: ignore[attr-defined]


def rebuild(k: int, block_size: int, have: Mapping[int, Data],
            parity: Mapping[int, Data]) -> list[Data]:  # fmt: skip
    """The group's missing data packets (those of the ``k`` indexes not in
    ``have``), rebuilt from the data packets ``have`` (by index in the group) and
    the parity packets ``parity`` (by ``h``); together at least ``k``."""
    missing = [i for i in range(k) if i not in have]
    if not missing:
        return []
    usable = sorted(h for h in parity if 0 <= h < block_size - k)
    if len(have) + len(usable) < k:
        raise ValueError(f"{len(have)} packets and {len(usable)} parity of a {k}-packet group")
    chosen = usable[: len(missing)]
    model = parity[chosen[0]]
    var = model.header.var_pktlen
    size = len(model.payload)
    if any(len(parity[h].payload) != size or parity[h].header.var_pktlen != var for h in chosen):
        raise FecError("parity packets of one group differ in length")
    if var and size < PKTLEN.size:
        raise FecError(f"variable-length parity of {size} octets")
    blocks, shares = [], []
    for index in sorted(have):
        payload = have[index].payload
        if var:
            if len(payload) > size - PKTLEN.size:
                raise FecError(f"a packet of {len(payload)} octets in a group of {size - 2}")
            payload = payload.ljust(size - PKTLEN.size, b"\0") + PKTLEN.pack(len(payload))
        elif len(payload) != size:
            raise FecError(f"a packet of {len(payload)} octets in a group of {size}")
        blocks.append(payload)
        shares.append(index)
    blocks += [parity[h].payload for h in chosen]
    shares += [k + h for h in chosen]
    blocks, shares = blocks[:k], shares[:k]
    _, decoder = _coder(k, block_size)
    decoded = [b""] * k
    if size:
        decoded = [bytes(b) for b in decoder.decode(blocks, shares)]  # type: ignore[attr-defined]
    fragments = _fragments(k, block_size, have, [parity[h] for h in chosen], chosen)
    out = []
    for index in missing:
        payload = decoded[index]
        if var:
            (length,) = PKTLEN.unpack_from(payload, len(payload) - PKTLEN.size)
            if length > size - PKTLEN.size:
                raise FecError(f"a rebuilt length of {length} in a group of {size - 2}")
            payload = payload[:length]
        fragment = fragments[index] if fragments else None
        syn = index == 0 and any(parity[h].options.syn for h in chosen)
        header = Header(model.header.sport, model.header.dport, model.header.gsi)
        sqn = (model.sqn - (model.sqn & (k - 1)) + index) & SQN_MASK
        out.append(Data(header, sqn, model.trail, payload, repair=True,
                        options=Options(fragment=fragment, syn=syn)))  # fmt: skip
    return out


def _fragments(k: int, block_size: int, have: Mapping[int, Data], parity: list[Data],
               chosen: list[int]) -> list[Fragment | None] | None:  # fmt: skip
    """Each packet's OPT_FRAGMENT, rebuilt from the encoded ones of the parity
    packets ``parity`` (numbers ``chosen``); None when the group had none."""
    coded = [p.options.encoded_fragment for p in parity]
    if all(c is None for c in coded):
        return None
    if any(c is None for c in coded):
        raise FecError("parity packets of one group differ in their options")
    blocks = [_fragment_value(have[i].options) for i in sorted(have)]
    blocks += [c for c in coded if c is not None]
    shares = sorted(have) + [k + h for h in chosen]
    _, decoder = _coder(k, block_size)
    values = [bytes(b) for b in decoder.decode(blocks[:k], shares[:k])]  # type: ignore[attr-defined]
    out: list[Fragment | None] = []
    for value in values:
        if value[0] & OP_ENCODED_NULL:
            out.append(None)
            continue
        first, offset, total = FRAGMENT.unpack(value)
        if offset >= total:
            raise FecError(f"a rebuilt fragment at {offset} of an APDU of {total}")
        out.append(Fragment(first, offset, total))
    return out
