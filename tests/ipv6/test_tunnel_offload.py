"""TUN offloads as pure functions: TCP super-packets cut into segments (checked
by scapy, an independent TCP encoder, and a plain checksum loop) and segments
put back together, never across flows, gaps, options or flags that forbid it."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6

from ipv6.tunnel._offload import (
    F_NEEDS_CSUM,
    GSO_NONE,
    GSO_TCPV6,
    PLAIN,
    VnetHeader,
    coalesce,
    kernel_merged_header,
    merged_by_kernel,
    segment,
)
from tests.ipv6.test_checksum import loop_checksum

A, B = "2002:a00:1::1", "2002:a00:2::1"


def loop_sum(data: bytes) -> int:
    """The ones' complement sum, the slow way (test_checksum's loop)."""
    return ~loop_checksum(data) & 0xFFFF


def tcp_checksum_ok(packet: bytes) -> bool:
    """The segment's TCP checksum, verified the slow way (RFC 1071 over the pseudo-header)."""
    length = len(packet) - 40
    pseudo = packet[8:40] + length.to_bytes(4, "big") + bytes([0, 0, 0, 6])
    return loop_sum(pseudo + packet[40:]) == 0xFFFF


def super_packet(size: int, flags: str, options: list[tuple[str, object]], seq: int) -> bytes:
    return raw(
        IPv6(src=A, dst=B, tc=0x20, fl=7)
        / TCP(sport=40000, dport=7001, seq=seq, ack=99, flags=flags, window=500, options=options)
        / random.Random(size).randbytes(size)
    )


OPTIONS = st.sampled_from([[], [("Timestamp", (12345, 678))], [("NOP", None), ("NOP", None)]])


@settings(max_examples=150)
@given(
    size=st.integers(1, 20000),
    mss=st.integers(64, 1440),
    flags=st.sampled_from(["A", "PA", "FA", "FPA", "CA", "CPA"]),
    options=OPTIONS,
    seq=st.integers(0, 2**32 - 1),
)
def test_segments_are_valid_contiguous_and_carry_the_same_bytes(
    size: int, mss: int, flags: str, options: list[tuple[str, object]], seq: int
) -> None:
    big = super_packet(size, flags, options, seq)
    head = 40 + (big[52] >> 4) * 4
    header = VnetHeader(F_NEEDS_CSUM, GSO_TCPV6, head, mss, 40, 16)
    pieces = [bytes(p) for p in segment(header, big)]
    assert len(pieces) == -(-size // mss)
    payload = b""
    expected_seq = seq
    for i, piece in enumerate(pieces):
        got = IPv6(piece)
        assert got.plen == len(piece) - 40 and len(piece) - head <= mss
        assert tcp_checksum_ok(piece)
        assert got[TCP].seq == expected_seq
        expected_seq = (expected_seq + len(piece) - head) & 0xFFFFFFFF
        first, last = i == 0, i == len(pieces) - 1
        assert bool(got[TCP].flags.C) == ("C" in flags and first)
        assert bool(got[TCP].flags.F) == ("F" in flags and last)
        assert bool(got[TCP].flags.P) == ("P" in flags and last)
        assert got[TCP].options == IPv6(big)[TCP].options and (got.tc, got.fl) == (0x20, 7)
        payload += piece[head:]
    assert payload == big[head:]


@settings(max_examples=150)
@given(
    size=st.integers(1, 60000),
    mss=st.integers(500, 1440),
    flags=st.sampled_from(["A", "PA"]),
    options=OPTIONS,
    seq=st.integers(0, 2**32 - 1),
)
def test_coalescing_the_segments_gives_back_the_super_packet(
    size: int, mss: int, flags: str, options: list[tuple[str, object]], seq: int
) -> None:
    big = super_packet(size, flags, options, seq)
    head = 40 + (big[52] >> 4) * 4
    pieces = segment(VnetHeader(F_NEEDS_CSUM, GSO_TCPV6, head, mss, 40, 16), big)
    written = coalesce(list(pieces))
    if len(pieces) == 1:
        assert written == [(PLAIN, bytes(pieces[0]))]
        return
    ((vnet, again),) = written
    header = VnetHeader.unpack(vnet)
    assert (header.gso_type, header.gso_size, header.hdr_len) == (GSO_TCPV6, mss, head)
    assert (header.flags, header.csum_start, header.csum_offset) == (F_NEEDS_CSUM, 40, 16)
    # Everything but the checksum field, which holds the pseudo-header's sum for the kernel:
    assert again[:56] == big[:56] and again[58:] == big[58:]
    length = len(again) - 40
    pseudo = bytes(again[8:40]) + length.to_bytes(4, "big") + bytes([0, 0, 0, 6])
    assert int.from_bytes(again[56:58], "big") % 0xFFFF == loop_sum(pseudo) % 0xFFFF


def segments(count: int = 4, mss: int = 1000, seq: int = 1000) -> list[bytes]:
    big = super_packet(count * mss, "A", [], seq)
    return [bytes(p) for p in segment(VnetHeader(F_NEEDS_CSUM, GSO_TCPV6, 60, mss, 40, 16), big)]


def test_different_flows_are_never_merged() -> None:
    ours = segments()
    theirs = [p[:40] + (40001).to_bytes(2, "big") + p[42:] for p in segments()]
    mixed = [ours[0], theirs[0], ours[1], theirs[1]]
    assert [h for h, _ in coalesce(list(mixed))] == [PLAIN] * 4


def test_out_of_order_segments_are_not_merged() -> None:
    pieces = segments()
    written = coalesce([pieces[0], pieces[2], pieces[1], pieces[3]])
    assert all(VnetHeader.unpack(h).gso_type == GSO_NONE for h, _ in written[:3])


def test_flags_that_travel_alone_end_a_run() -> None:
    pieces = segments()
    fin = bytearray(pieces[2])
    fin[53] |= 0x01  # FIN
    written = coalesce([pieces[0], pieces[1], bytes(fin), pieces[3]])
    kinds = [VnetHeader.unpack(h).gso_type for h, _ in written]
    assert kinds == [GSO_TCPV6, GSO_NONE, GSO_NONE]
    assert written[1][1] == bytes(fin)


def test_a_segment_after_a_shorter_one_starts_a_new_run() -> None:
    pieces = segments(count=3, mss=1000)
    short = super_packet(400, "A", [], 4000)  # the next in sequence, but shorter
    longer_again = super_packet(1000, "A", [], 4400)
    written = coalesce([*pieces, short, longer_again])
    assert [VnetHeader.unpack(h).gso_type for h, _ in written] == [GSO_TCPV6, GSO_NONE]


@settings(max_examples=100)
@given(
    count=st.integers(2, 12),
    mss=st.integers(64, 1440),
    data=st.data(),
)
def test_a_segment_with_a_wrong_checksum_is_never_merged(
    count: int, mss: int, data: st.DataObject
) -> None:
    """As GRO: the super-packet's checksum is the kernel's to fill in, so a segment
    that arrived damaged must reach the kernel as it came, to be dropped there."""
    pieces = segments(count=count, mss=mss)
    bad = data.draw(st.integers(0, count - 1), label="damaged segment")
    where = data.draw(st.integers(40, len(pieces[bad]) - 1), label="damaged byte")
    damaged = bytearray(pieces[bad])
    damaged[where] ^= data.draw(st.integers(1, 255), label="flipped bits")
    pieces[bad] = bytes(damaged)
    assert not tcp_checksum_ok(pieces[bad])
    written = coalesce(list(pieces))
    assert (PLAIN, pieces[bad]) in written
    # Every other segment's bytes arrive, merged with its neighbours on its side.
    kinds = [VnetHeader.unpack(h).gso_type for h, _ in written]
    before, after = bad, count - bad - 1
    expected = [GSO_TCPV6] if before > 1 else [GSO_NONE] * before
    expected += [GSO_NONE]
    expected += [GSO_TCPV6] if after > 1 else [GSO_NONE] * after
    assert kinds == expected
    carried = b"".join(bytes(p)[60:] for _, p in written)
    assert carried == b"".join(p[60:] for p in pieces)


def test_different_options_are_not_merged() -> None:
    plain = super_packet(1000, "A", [("Timestamp", (1, 2))], 1000)
    later = super_packet(1000, "A", [("Timestamp", (9, 2))], 2000)
    assert [h for h, _ in coalesce([plain, later])] == [PLAIN, PLAIN]


def test_a_plain_packet_gets_its_checksum_completed() -> None:
    packet = bytearray(super_packet(300, "PA", [], 5))
    length = len(packet) - 40
    pseudo = bytes(packet[8:40]) + length.to_bytes(4, "big") + bytes([0, 0, 0, 6])
    packet[56:58] = (loop_sum(pseudo) % 0xFFFF).to_bytes(2, "big")  # as the kernel leaves it
    (done,) = segment(VnetHeader(F_NEEDS_CSUM, GSO_NONE, 0, 0, 40, 16), packet)
    assert tcp_checksum_ok(bytes(done))


def as_gro_leaves_it(packet: bytes) -> bytes:
    """A valid super-packet as Linux's GRO hands it on (tcp6_gro_complete): the
    checksum field holds only the pseudo-header's sum."""
    length = len(packet) - 40
    pseudo = packet[8:40] + length.to_bytes(4, "big") + bytes([0, 0, 0, 6])
    folded = loop_sum(pseudo)
    return packet[:56] + folded.to_bytes(2, "big") + packet[58:]


@settings(max_examples=100)
@given(
    size=st.integers(1, 60000),
    mtu=st.sampled_from([1280, 1480, 1500, 9000]),
    options=OPTIONS,
    seq=st.integers(0, 2**32 - 1),
)
def test_a_super_packet_the_kernel_merged_is_recognised_and_cut_to_fit(
    size: int, mtu: int, options: list[tuple[str, object]], seq: int
) -> None:
    valid = super_packet(size, "PA", options, seq)
    merged = as_gro_leaves_it(valid)
    assert merged_by_kernel(merged)
    assert not merged_by_kernel(valid)  # a packet whose checksum holds is as it came
    header = kernel_merged_header(merged, mtu)
    head = 40 + (valid[52] >> 4) * 4
    assert (header.flags, header.csum_start, header.csum_offset) == (F_NEEDS_CSUM, 40, 16)
    if size > mtu - head:
        assert (header.gso_type, header.gso_size, header.hdr_len) == (GSO_TCPV6, mtu - head, head)
    else:
        assert header.gso_type == GSO_NONE
    # What the kernel would make of it, or what the plane without offloads writes:
    pieces = [bytes(p) for p in segment(header, merged)]
    assert all(len(p) <= mtu and tcp_checksum_ok(p) for p in pieces)
    assert b"".join(p[head:] for p in pieces) == valid[head:]


def test_a_damaged_packet_is_not_taken_for_a_merged_one() -> None:
    for seed in range(200):
        packet = bytearray(super_packet(1000 + seed, "A", [], seed))
        packet[100 + seed] ^= 0x5A
        assert not tcp_checksum_ok(bytes(packet))
        assert not merged_by_kernel(packet)
    not_tcp = bytearray(as_gro_leaves_it(super_packet(500, "A", [], 1)))
    not_tcp[6] = 17
    assert not merged_by_kernel(not_tcp)
