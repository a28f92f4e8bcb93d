"""The PGM codec (RFC 3208): every packet type the toolkit sends read back by
tshark's PGM dissector field by field, bytes derived by hand from RFC 3208's
layouts, round trips of generated packets, and a fuzz in which only
MalformedPacket may come out of the decoder."""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
import subprocess
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcast.pgm._pgm import (
    Data,
    Fragment,
    Header,
    Nak,
    Options,
    ParityPrm,
    PgmType,
    Poll,
    Polr,
    Spm,
    Spmr,
    decode_pgm_untrusted,
    encode_pgm,
)
from mcast.wire._wirecommon import MalformedPacket

GSI = bytes.fromhex("0102030405a6")
HEADER = Header(4000, 7500, GSI)
V4, G4 = IPv4Address("10.0.0.1"), IPv4Address("239.1.1.1")
V6, G6 = IPv6Address("2001:db8::1"), IPv6Address("ff3e::8000:1")


def sent_by_the_toolkit() -> list[Any]:
    """One of each packet type the toolkit sends, with the options it uses."""
    first = Options(fragment=Fragment(10, 0, 3000), syn=True)
    return [
        Spm(HEADER, 1, 2, 3, V4),
        Spm(HEADER, 7, 0, 0xFFFFFFFF, V6, Options(fin=True)),
        Data(HEADER, 10, 5, b"hello, group", options=first),
        Data(HEADER, 11, 5, b"x" * 1400, options=Options(fragment=Fragment(10, 1400, 3000))),
        Data(HEADER, 11, 6, b"again", repair=True),
        Nak(HEADER, PgmType.NAK, 7, V4, G4, Options(nak_list=(8, 9, 12))),
        Nak(HEADER, PgmType.NCF, 7, V6, G6),
        Nak(HEADER, PgmType.NNAK, 0xFFFFFFFE, V4, G4),
        Poll(HEADER, 1, 2, 0, V4, 100, b"abcd", 0xFF),
        Polr(HEADER, 3, 4),
    ]


def tshark_layers(packets: list[Any], tmp_path: Path) -> list[dict[str, Any]]:
    """What tshark's PGM dissector reads in each packet, as one flat dict."""
    from scapy.layers.inet import IP
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    tshark = shutil.which("tshark")
    assert tshark, "tshark is needed for this test"
    frames = [IP(src="10.0.0.1", dst="239.1.1.1", proto=113) / Raw(encode_pgm(p)) for p in packets]
    path = tmp_path / "pgm.pcap"
    wrpcap(str(path), frames)
    out = subprocess.run([tshark, "-r", str(path), "-T", "json"], capture_output=True,
                         check=True).stdout  # fmt: skip

    def flat(tree: Any, into: dict[str, Any]) -> dict[str, Any]:
        for key, value in tree.items():
            if isinstance(value, dict):
                flat(value, into)
            else:
                into.setdefault(key, value)
        return into

    return [flat(frame["_source"]["layers"]["pgm"], {}) for frame in json.loads(out)]


def expected_fields(p: Any) -> dict[str, str]:
    """What the dissector must show for ``p``: worked out from the packet's fields."""

    def hex32(n: int) -> str:
        return f"0x{n:08x}"

    fields = {
        "pgm.hdr.sport": str(p.header.sport),
        "pgm.hdr.dport": str(p.header.dport),
        "pgm.hdr.gsi": ":".join(f"{b:02x}" for b in p.header.gsi),
        "pgm.hdr.cksum.status": "1",  # good
        "pgm.hdr.opts.opt": "0" if p.options.empty else "1",
    }
    if isinstance(p, Spm):
        fields.update({"pgm.hdr.type": "0x00", "pgm.spm.sqn": hex32(p.sqn),
                       "pgm.spm.trail": hex32(p.trail), "pgm.spm.lead": hex32(p.lead),
                       "pgm.spm.pathafi": str(1 if p.path.version == 4 else 2),
                       f"pgm.spm.path.ipv{p.path.version}": str(p.path)})  # fmt: skip
    elif isinstance(p, Data):
        fields.update({"pgm.hdr.type": "0x05" if p.repair else "0x04",
                       "pgm.hdr.tsdulen": str(len(p.payload)), "pgm.spm.sqn": hex32(p.sqn),
                       "pgm.spm.trail": hex32(p.trail)})  # fmt: skip
        if p.options.fragment:
            f = p.options.fragment
            fields.update({"pgm.opts.fragment.first_sqn": hex32(f.first),
                           "pgm.opts.fragment.fragment_offset": str(f.offset),
                           "pgm.opts.fragment.total_length": str(f.total)})  # fmt: skip
    elif isinstance(p, Nak):
        fields.update({"pgm.hdr.type": f"0x{int(p.kind):02x}", "pgm.nak.sqn": hex32(p.sqn),
                       "pgm.nak.srcafi": str(1 if p.source.version == 4 else 2),
                       f"pgm.nak.src.ipv{p.source.version}": str(p.source),
                       "pgm.nak.grpafi": str(1 if p.group.version == 4 else 2),
                       f"pgm.nak.grp.ipv{p.group.version}": str(p.group)})  # fmt: skip
        if p.options.nak_list:
            text = "".join(f"0x{n:x} " for n in p.options.nak_list).encode()
            fields["pgm.opts.nak.list"] = ":".join(f"{b:02x}" for b in text)
    elif isinstance(p, Poll):
        fields.update({"pgm.hdr.type": "0x01", "pgm.poll.sqn": hex32(p.sqn),
                       "pgm.poll.round": str(p.round), "pgm.poll.subtype": f"0x{p.subtype:04x}",
                       f"pgm.poll.path.ipv{p.path.version}": str(p.path),
                       "pgm.poll.backoff_ivl": str(p.backoff),
                       "pgm.poll.rand_str": "0x" + p.random.hex(),
                       "pgm.poll.matching_bmask": hex32(p.mask)})  # fmt: skip
    elif isinstance(p, Polr):
        fields.update({"pgm.hdr.type": "0x02", "pgm.polr.sqn": hex32(p.sqn),
                       "pgm.polr.round": str(p.round)})  # fmt: skip
    if p.options.syn or p.options.fin:
        fields["pgm.opts.type"] = "0x00"  # OPT_LENGTH first
    return fields


def test_tshark_reads_every_packet_the_toolkit_sends_field_by_field(tmp_path: Path) -> None:
    packets = sent_by_the_toolkit()
    for packet, seen in zip(packets, tshark_layers(packets, tmp_path), strict=True):
        for name, value in expected_fields(packet).items():
            assert seen.get(name) == value, (type(packet).__name__, name, seen)


def test_an_spmr_and_a_nak_by_hand() -> None:
    # RFC 3208 8: sport 4000 (0x0fa0), dport 7500 (0x1d4c), type 0x0c, no options,
    # checksum, GSI, TSDU length 0. The checksum is the ones' complement sum of the
    # 16-bit words with the checksum field zero.
    words = [0x0FA0, 0x1D4C, 0x0C00, 0x0000, 0x0102, 0x0304, 0x05A6, 0x0000]
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    expected = struct.pack("!8H", *words[:3], ~total & 0xFFFF, *words[4:])
    assert encode_pgm(Spmr(HEADER)) == expected
    # A NAK for 7 from 10.0.0.1 to 239.1.1.1: sqn, AFI 1, reserved, NLA, AFI 1, reserved, NLA
    nak = encode_pgm(Nak(HEADER, PgmType.NAK, 7, V4, G4))
    assert nak[4] == 0x08 and nak[16:] == bytes.fromhex(
        "00000007" "00010000" "0a000001" "00010000" "ef010101")  # fmt: skip


def test_options_by_hand() -> None:
    packet = encode_pgm(Data(HEADER, 10, 5, b"ab", options=Options(
        fragment=Fragment(10, 0, 2), nak_list=(), syn=True)))  # fmt: skip
    options = packet[16 + 8 : -2]
    assert options == bytes.fromhex(
        "00" "04" "0018"  # OPT_LENGTH (type 0), 4 octets; all options: 24
        "01" "10" "00" "00" "0000000a" "00000000" "00000002"  # OPT_FRAGMENT, 16
        "8d" "04" "00" "00"  # OPT_SYN (0x0d) with the end bit, 4
    )  # fmt: skip


addresses = st.one_of(
    st.builds(IPv4Address, st.integers(0, 2**32 - 1)),
    st.builds(IPv6Address, st.integers(0, 2**128 - 1)),
)
u32 = st.integers(0, 2**32 - 1)
options = st.builds(
    Options,
    fragment=st.none() | st.builds(Fragment, u32, st.integers(0, 1000), st.integers(1001, 5000)),
    nak_list=st.lists(u32, max_size=62).map(tuple),
    join=st.none() | u32,
    syn=st.booleans(),
    fin=st.booleans(),
    rst=st.booleans(),
    parity_prm=st.none() | st.builds(ParityPrm, u32, st.booleans(), st.booleans()),
    parity_grp=st.none() | u32,
    curr_tgsize=st.none() | u32,
    encoded_fragment=st.none() | st.binary(min_size=13, max_size=13),
)
headers = st.builds(Header, st.integers(0, 65535), st.integers(0, 65535), st.binary(
    min_size=6, max_size=6), st.booleans(), st.booleans(), st.booleans())  # fmt: skip
packets = st.one_of(
    st.builds(Spm, headers, u32, u32, u32, addresses, options),
    st.builds(Data, headers, u32, u32, st.binary(max_size=200), st.booleans(), options),
    st.builds(Nak, headers, st.sampled_from([PgmType.NAK, PgmType.NNAK, PgmType.NCF]), u32,
              addresses, addresses, options),
    st.builds(Poll, headers, u32, st.integers(0, 65535), st.integers(0, 65535), addresses, u32,
              st.binary(min_size=4, max_size=4), u32, options),
    st.builds(Polr, headers, u32, st.integers(0, 65535), options),
    st.builds(Spmr, headers, options),
)  # fmt: skip


@settings(max_examples=500)
@given(packets)
def test_every_packet_comes_back_as_it_went(packet: Any) -> None:
    assert decode_pgm_untrusted(encode_pgm(packet)) == packet


@settings(max_examples=300)
@given(packets, st.data())
def test_only_malformed_packet_comes_out_of_the_decoder(packet: Any, data: st.DataObject) -> None:
    wire = bytearray(encode_pgm(packet))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    for candidate in (bytes(wire), bytes(wire[:cut])):
        for verify in (True, False):
            with contextlib.suppress(MalformedPacket):
                decode_pgm_untrusted(candidate, verify_checksum=verify)


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_random_bytes_are_malformed_or_a_packet(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        decode_pgm_untrusted(data, verify_checksum=False)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda w: w.__setitem__(7, w[7] ^ 1), "checksum"),
        (lambda w: w.__setitem__(4, 0x03), "packet type 0x03"),
        (lambda w: w.__setitem__(15, w[15] + 1), "TSDU length"),
    ],
)
def test_a_wrong_packet_is_refused_in_one_line(change: Any, words: str) -> None:
    wire = bytearray(encode_pgm(Data(HEADER, 1, 0, b"data")))
    change(wire)
    if words != "checksum":
        wire[6:8] = b"\0\0"  # no checksum sent: what is checked is the change itself
    with pytest.raises(MalformedPacket) as caught:
        decode_pgm_untrusted(bytes(wire))
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_what_is_not_implemented_is_reported_and_a_discard_bit_obeyed() -> None:
    redirect = (0x07, bytes(9))  # OPT_REDIRECT (from a DLR): not implemented
    packet = encode_pgm(Data(HEADER, 1, 0, b"d", options=Options(other=(redirect,))))
    back = decode_pgm_untrusted(packet)
    assert back.options.other == (redirect,) and not back.options.must_discard
    wire = bytearray(packet)
    wire[16 + 8 + 4 + 2] |= 0x02  # the option's OPX bits: discard the packet if not understood
    wire[6:8] = b"\0\0"  # no checksum sent
    assert decode_pgm_untrusted(bytes(wire)).options.must_discard


def test_addresses_keep_their_family() -> None:
    back = decode_pgm_untrusted(encode_pgm(Nak(HEADER, PgmType.NCF, 1, V6, G4)))
    assert isinstance(back, Nak)
    assert back.source == ip_address("2001:db8::1") and back.group == G4


def test_fec_options_have_rfc_3208_s_layouts() -> None:
    """RFC 3208 11.8 (as OpenPGM's pgm/packet.h lays them out): OPT_PARITY_PRM is
    type 0x08, 8 octets, the P (0x01) and O (0x02) bits in the octet after the
    option header and the transmission group size as 32 bits; OPT_PARITY_GRP 0x09
    and OPT_CURR_TGSIZE 0x0A carry 32 bits the same way; an encoded OPT_FRAGMENT
    has the F bit (0x08) in the option header's third octet; the header's
    OPT_PARITY (0x80) and OPT_VAR_PKTLEN (0x40) bits are its options octet's."""
    spm = Spm(HEADER, 1, 0, 0, V4, Options(parity_prm=ParityPrm(16, proactive=False,
                                                                ondemand=True)))  # fmt: skip
    wire = encode_pgm(spm)
    options = wire[16 + 16 + 4 :]  # after the header, the SPM and its IPv4 NLA
    assert options[:4] == bytes([0x00, 4, 0, 12])  # OPT_LENGTH, total 12
    assert options[4:] == bytes([0x08 | 0x80, 8, 0, 0x02, 0, 0, 0, 16])
    assert decode_pgm_untrusted(wire) == spm
    encoded = bytes(range(13))
    parity = Data(Header(1, 2, bytes(6), parity=True, var_pktlen=True), 32 | 1, 0, b"xy",
                  repair=True, options=Options(encoded_fragment=encoded, parity_grp=7,
                                               curr_tgsize=5))  # fmt: skip
    wire = encode_pgm(parity)
    assert wire[5] == 0x80 | 0x40 | 0x01  # parity, variable length, options present
    options = wire[16 + 8 :]
    assert options[4:20] == bytes([0x01, 16, 0x08]) + encoded
    assert options[20:28] == bytes([0x09, 8, 0, 0, 0, 0, 0, 7])
    assert options[28:36] == bytes([0x0A | 0x80, 8, 0, 0, 0, 0, 0, 5])
    assert decode_pgm_untrusted(wire) == parity


@pytest.mark.parametrize("kind, length", [(0x08, 7), (0x09, 9), (0x0A, 4), (0x01, 15)])
def test_fec_options_of_the_wrong_length_are_malformed(kind: int, length: int) -> None:
    value = bytes(length - 3)
    bits = 0x08 if kind == 0x01 else 0  # an encoded fragment
    options = bytes([0, 4, 0, 4 + length, kind | 0x80, length, bits]) + value
    head = bytearray(encode_pgm(Data(HEADER, 1, 0, b"")))
    head[5] |= 0x01
    head[6:8] = b"\0\0"
    with pytest.raises(MalformedPacket):
        decode_pgm_untrusted(bytes(head) + options)


def test_tshark_reads_the_fec_options_and_bits(tmp_path: Path) -> None:
    """An independent dissector (Wireshark's PGM) reads OPT_PARITY_PRM's bits and group
    size, OPT_PARITY_GRP's number, and the header's parity and variable-length bits."""
    spm = Spm(HEADER, 1, 0, 0, V4, Options(parity_prm=ParityPrm(16, True, True)))
    parity = Data(Header(1, 2, bytes(6), parity=True, var_pktlen=True), 33, 0, b"xy",
                  repair=True, options=Options(parity_grp=7))  # fmt: skip
    nak = Nak(Header(2, 1, bytes(6), parity=True), PgmType.NAK, 35, V4, G4)
    read = tshark_layers([spm, parity, nak], tmp_path)
    assert read[0]["pgm.opts.parity_prm.op"] == "0x03"
    assert read[0]["pgm.opts.parity_prm.prm_grp"] == "0x00000010"
    assert (read[1]["pgm.hdr.opts.parity"], read[1]["pgm.hdr.opts.varlen"]) == ("1", "1")
    assert read[1]["pgm.opts.parity_prm.prm_grp"] == "0x00000007"  # Wireshark's name for it
    assert (read[2]["pgm.hdr.opts.parity"], read[2]["pgm.hdr.opts.varlen"]) == ("1", "0")
