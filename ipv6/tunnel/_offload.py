"""TUN offloads as pure byte work: the virtio-net header a TUN device opened
with IFF_VNET_HDR puts before each packet, TCP super-packets cut into
segments that fit the tunnel (as the kernel's GSO would), and segments of
one flow put back together into a super-packet (as GRO would). Pure.

The header (``struct virtio_net_hdr``, 10 bytes, the host's byte order):
flags (NEEDS_CSUM: the transport checksum holds only the pseudo-header's
sum, to be completed over the bytes from ``csum_start``), the GSO type
(TCPV6 for the IPv6 TCP super-packets this plane asks for), the header
length, the segment size (MSS), and where the checksum starts and sits.

Segmentation follows what the kernel's tcp_gso_segment does: every segment
carries the same headers with its own payload length and sequence number,
CWR only on the first, FIN and PSH only on the last, and a complete
checksum. Coalescing takes only what GRO would: consecutive segments of one
flow, in order, with identical headers but for the sequence number and
checksum, ACK set and nothing but ACK (PSH allowed on the last), equal
sizes but for a shorter last one, no more than 64 KB in all, and each with
a valid checksum. The super-packet's checksum is left for the kernel to
fill in, so a segment whose own checksum is wrong is never merged: it goes
as it came, and the kernel's TCP drops and counts it (InCsumErrors).
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

import numpy as np

from .._checksum import checksum, word_sum
from .._errors import Ipv6Error

VNET_HDR_LEN = 10
F_NEEDS_CSUM = 1
GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 0, 1, 3, 4, 5, 0x80
TCP, IPV6_HEADER = 6, 40
CWR, FIN, PSH, ACK, SYN, RST, URG, ECE = 0x80, 0x01, 0x08, 0x10, 0x02, 0x04, 0x20, 0x40
MAX_SUPER = 65535 - IPV6_HEADER  # an IPv6 payload length
_ORDER = "<" if sys.byteorder == "little" else ">"
_VNET = struct.Struct(_ORDER + "BBHHHH")
_U16, _U32 = struct.Struct("!H"), struct.Struct("!I")


@dataclass(frozen=True)
class VnetHeader:
    flags: int = 0
    gso_type: int = GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0

    def pack(self) -> bytes:
        return _VNET.pack(
            self.flags, self.gso_type, self.hdr_len, self.gso_size, self.csum_start,
            self.csum_offset,
        )  # fmt: skip

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> VnetHeader:
        return cls(*_VNET.unpack_from(data))


PLAIN = VnetHeader().pack()  # a packet with nothing left to do


class OffloadError(Ipv6Error, ValueError):
    """A super-packet this plane cannot cut (not IPv6 TCP, headers that do not add up)."""


def _pseudo_sum(packet: bytes | bytearray | memoryview, length: int) -> int:
    """The IPv6 pseudo-header's word sum for a TCP segment of ``length`` bytes (mod 0xFFFF)."""
    return (int.from_bytes(packet[8:40], "big") + length + TCP) % 0xFFFF


def complete_checksum(packet: bytearray, start: int, offset: int) -> None:
    """NEEDS_CSUM: the field holds the pseudo-header's sum; make it the checksum."""
    where = start + offset
    packet[where : where + 2] = checksum(packet[start:]).to_bytes(2, "big")


def merged_by_kernel(packet: bytes | bytearray | memoryview) -> bool:
    """Whether ``packet``, as a raw IPv4 socket handed it over, is a TCP super-packet
    the receiving interface's GRO merged (Linux's GRO takes protocol 41, as sit's
    offload, whether or not sit is loaded).

    GRO checks every segment's checksum before it merges them, and then leaves in
    the checksum field only the pseudo-header's sum (tcp6_gro_complete), for a
    checksum offload to finish on the way out. Such a packet fails its checksum
    and holds that sum; a damaged packet holds it by a 1 in 65,536 chance."""
    if len(packet) < IPV6_HEADER + 20 or packet[6] != TCP or packet[0] >> 4 != 6:
        return False
    if packet[52] >> 4 < 5 or IPV6_HEADER + (packet[52] >> 4) * 4 > len(packet):
        return False
    length = len(packet) - IPV6_HEADER
    if ((packet[56] << 8) | packet[57]) % 0xFFFF != _pseudo_sum(packet, length):
        return False
    return (word_sum(packet[8:]) + TCP + length) % 0xFFFF != 0


def kernel_merged_header(packet: bytes | bytearray | memoryview, mtu: int) -> VnetHeader:
    """The virtio-net header that hands a packet :func:`merged_by_kernel` found on
    to a TUN device: its checksum to be completed, and, if it is longer than one
    segment a link of ``mtu`` carries, a TCPv6 super-packet of such segments."""
    head = IPV6_HEADER + (packet[52] >> 4) * 4
    mss = mtu - head
    gso = GSO_TCPV6 if len(packet) - head > mss > 0 else GSO_NONE
    return VnetHeader(F_NEEDS_CSUM, gso, head, mss if gso else 0, IPV6_HEADER, 16)


def segment(header: VnetHeader, packet: bytes | bytearray | memoryview) -> list[bytearray]:
    """The packets one read from the TUN device stands for: a super-packet cut into
    segments of ``gso_size`` (each checksummed), or the packet with its checksum
    completed when it needs one."""
    gso = header.gso_type & ~GSO_ECN
    if gso == GSO_NONE:
        single = bytearray(packet)
        if header.flags & F_NEEDS_CSUM:
            if header.csum_start + header.csum_offset + 2 > len(single):
                raise OffloadError("the checksum lies past the packet")
            complete_checksum(single, header.csum_start, header.csum_offset)
        return [single]
    if gso != GSO_TCPV6:
        raise OffloadError(f"GSO type {header.gso_type} is not IPv6 TCP")
    if len(packet) < IPV6_HEADER + 20 or packet[0] >> 4 != 6 or packet[6] != TCP:
        raise OffloadError("a TCPv6 super-packet without an IPv6 TCP header")
    tcp_len = (packet[IPV6_HEADER + 12] >> 4) * 4
    head = IPV6_HEADER + tcp_len
    mss = header.gso_size
    if tcp_len < 20 or head > len(packet) or mss == 0:
        raise OffloadError("the super-packet's headers do not add up")
    payload = memoryview(packet)[head:]
    seq = int.from_bytes(packet[IPV6_HEADER + 4 : IPV6_HEADER + 8], "big")
    flags = packet[IPV6_HEADER + 13]
    headers = bytearray(packet[:head])
    headers[IPV6_HEADER + 4 : IPV6_HEADER + 8] = b"\0\0\0\0"
    headers[IPV6_HEADER + 13] = 0
    headers[IPV6_HEADER + 16 : IPV6_HEADER + 18] = b"\0\0"
    # What every segment's checksum shares: the addresses, the protocol, and the TCP
    # header without its sequence number, flags and checksum (added per segment).
    shared = word_sum(packet[8:40]) + TCP + word_sum(memoryview(headers)[IPV6_HEADER:])
    sums = _payload_sums(payload, mss)
    out: list[bytearray] = []
    count = len(sums)
    for i, payload_sum in enumerate(sums):
        piece = payload[i * mss : (i + 1) * mss]
        seg = bytearray(headers)
        seg += piece
        length = tcp_len + len(piece)
        mine = flags
        if i:
            mine &= ~CWR
        if i != count - 1:
            mine &= ~(FIN | PSH)
        number = (seq + i * mss) & 0xFFFFFFFF
        total = (shared + length + (number >> 16) + (number & 0xFFFF) + mine + payload_sum) % 0xFFFF
        _U16.pack_into(seg, 4, length)
        _U32.pack_into(seg, IPV6_HEADER + 4, number)
        seg[IPV6_HEADER + 13] = mine
        _U16.pack_into(seg, IPV6_HEADER + 16, ~total & 0xFFFF)
        out.append(seg)
    return out


def _payload_sums(payload: memoryview, mss: int) -> list[int]:
    """The word sum of each segment's payload (mod 0xFFFF): for all the full ones at
    once with numpy when the segment size is even, as a byte string otherwise."""
    full = len(payload) // mss
    sums: list[int] = []
    if full and mss % 2 == 0:
        words = np.frombuffer(payload, dtype=">u2", count=full * mss // 2)
        sums = [int(x) % 0xFFFF for x in words.reshape(full, mss // 2).sum(axis=1, dtype=np.uint64)]
    else:
        sums = [word_sum(payload[i * mss : (i + 1) * mss]) for i in range(full)]
    if len(payload) % mss or not payload:
        sums.append(word_sum(payload[full * mss :]))
    return sums


@dataclass
class _Run:
    """Segments being put together: the first's headers, their payloads."""

    key: bytes | bytearray  # addresses, ports, the TCP header but for sequence and checksum
    head: int
    next_seq: int
    size: int  # each segment's payload size (all but the last)
    packets: list[bytes | bytearray]
    total: int
    last_flags: int
    closed: bool = False  # a shorter segment or PSH came: nothing more joins


def _coalescable(packet: bytes | bytearray) -> tuple[bytes | bytearray, int, int] | None:
    """(what must match, header length, sequence number), or None if GRO would not take it."""
    size = len(packet)
    if size < 61 or packet[6] != TCP or packet[0] >> 4 != 6:
        return None
    head = IPV6_HEADER + (packet[52] >> 4) * 4
    if head < 60 or head >= size or IPV6_HEADER + ((packet[4] << 8) | packet[5]) != size:
        return None
    flags = packet[53]
    if flags & ~(ACK | PSH) or not flags & ACK:
        return None  # SYN, FIN, RST, URG, CWR, ECE: each travels alone
    # Version, traffic class and flow label, addresses, ports, acknowledgement, data
    # offset, window, urgent pointer and options: all but sequence, flags, checksum.
    key = packet[:4] + packet[6:44] + packet[48:53] + packet[54:56] + packet[58:head]
    seq = (packet[44] << 24) | (packet[45] << 16) | (packet[46] << 8) | packet[47]
    return key, head, seq


def coalesce(packets: list[bytes | bytearray]) -> list[tuple[bytes, bytes | bytearray]]:
    """What to write to the TUN device for a batch of decapsulated packets, in order:
    (virtio-net header, packet). Consecutive in-order segments of one TCP flow become
    one super-packet (GSO TCPV6, its checksum left for the kernel); everything else
    goes as it came."""
    out: list[tuple[bytes, bytes | bytearray]] = []
    run: _Run | None = None

    def flush() -> None:
        nonlocal run
        if run is None:
            return
        packets = run.packets
        bad = _first_invalid(run) if len(packets) > 1 else None
        if bad is None:
            out.append(_super(run) if len(packets) > 1 else (PLAIN, bytes(packets[0])))
        else:  # those before it merged, it as it came, those after it coalesced anew
            if bad:
                out.extend(coalesce(packets[:bad]))
            out.append((PLAIN, bytes(packets[bad])))
            out.extend(coalesce(packets[bad + 1 :]))
        run = None

    for packet in packets:
        found = _coalescable(packet)
        if found is None:
            flush()
            out.append((PLAIN, packet))
            continue
        key, head, seq = found
        size = len(packet) - head
        push = bool(packet[IPV6_HEADER + 13] & PSH)
        if (
            run is not None and not run.closed and key == run.key and seq == run.next_seq
            and size <= run.size and run.total + size <= MAX_SUPER - (head - IPV6_HEADER)
        ):  # fmt: skip
            run.packets.append(packet)
            run.next_seq = (seq + size) & 0xFFFFFFFF
            run.total += size
            run.last_flags = packet[IPV6_HEADER + 13]
            run.closed = size < run.size or push
            continue
        flush()
        run = _Run(
            key, head, (seq + size) & 0xFFFFFFFF, size, [packet], size,
            packet[IPV6_HEADER + 13], closed=push,
        )  # fmt: skip
    flush()
    return out


def _first_invalid(run: _Run) -> int | None:
    """The index of the first segment of ``run`` whose TCP checksum is wrong, or None.

    The full-sized segments (all but perhaps the last), when their length is even,
    are summed at once with numpy, from the addresses on: each row then lacks only
    the protocol and the length of the pseudo-header, the same for every row. The
    words are read in the host's order, which multiplies a ones' complement sum
    by 256 (modulo 0xFFFF), so the constant is multiplied too."""
    packets = run.packets
    size = len(packets[0])
    full = len(packets) if len(packets[-1]) == size else len(packets) - 1
    start = 0
    if size % 2 == 0 and full > 1:
        words = np.frombuffer(b"".join(packets[:full]), dtype="<u2").reshape(full, size // 2)
        rows = words[:, 4:].sum(axis=1, dtype=np.uint32)  # a row's sum is below 2**31
        pseudo = (TCP + size - IPV6_HEADER) * (256 if sys.byteorder == "little" else 1)
        wrong = np.flatnonzero((rows + pseudo) % 0xFFFF)
        if len(wrong):
            return int(wrong[0])
        start = full
    for i in range(start, len(packets)):
        packet = packets[i]
        pseudo = TCP + len(packet) - IPV6_HEADER
        if (word_sum(memoryview(packet)[8:]) + pseudo) % 0xFFFF:
            return i
    return None


def _super(run: _Run) -> tuple[bytes, bytearray]:
    head = run.head
    packet = bytearray(run.packets[0][:head])
    for one in run.packets:
        packet += memoryview(one)[head:]
    length = len(packet) - IPV6_HEADER
    packet[4:6] = length.to_bytes(2, "big")
    packet[IPV6_HEADER + 13] = run.last_flags  # PSH, if the last had it
    # NEEDS_CSUM: the field holds the pseudo-header's sum (not complemented); the
    # kernel adds the rest, as for a packet a local socket sends.
    packet[IPV6_HEADER + 16 : IPV6_HEADER + 18] = _pseudo_sum(packet, length).to_bytes(2, "big")
    header = VnetHeader(
        flags=F_NEEDS_CSUM, gso_type=GSO_TCPV6, hdr_len=head, gso_size=run.size,
        csum_start=IPV6_HEADER, csum_offset=16,
    )  # fmt: skip
    return header.pack(), packet
