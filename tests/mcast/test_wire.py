"""IGMP and MLD codecs: golden values, round trips, truncation, fuzzing, and
tshark's dissector as an independent decoder."""

from __future__ import annotations

import ipaddress
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcast.wire._frames import (
    decode_frame_untrusted,
    decode_ipv4_untrusted,
    encode_ipv4_igmp,
    encode_ipv6_mld,
    ethernet,
    pcap,
)
from mcast.wire._igmp import (
    GroupRecord,
    IgmpMessage,
    IgmpQuery,
    IgmpV1Report,
    IgmpV2Leave,
    IgmpV2Report,
    IgmpV3Report,
    decode_igmp_untrusted,
    encode_igmp,
)
from mcast.wire._mld import (
    AddressRecord,
    MldMessage,
    MldQuery,
    MldV1Done,
    MldV1Report,
    MldV2Report,
    decode_mld_untrusted,
    encode_mld,
)
from mcast.wire._wirecommon import (
    MalformedPacket,
    RecordType,
    checksum,
    decode_code8,
    decode_code16,
    encode_code8,
    encode_code16,
)
from tests.mcast.mutations import mutate

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
SRC4, SRC6 = V4("10.0.0.1"), V6("fe80::1")
ALL_HOSTS, REPORTS_V3 = V4("224.0.0.1"), V4("224.0.0.22")
ALL_NODES, REPORTS_V2 = V6("ff02::1"), V6("ff02::16")


# --- golden values --------------------------------------------------------------


def test_igmpv2_report_bytes() -> None:
    data = encode_igmp(IgmpV2Report(V4("239.1.1.1")))
    # type 0x16, code 0; 0x1600 + 0xef01 + 0x0101 = 0x10602, folded 0x0603, complemented 0xf9fc
    assert data == bytes.fromhex("1600f9fcef010101")
    assert checksum(data) == 0


def test_float_codes_from_the_rfcs() -> None:
    assert decode_code8(0x7F) == 127 and decode_code8(0x80) == 128
    assert decode_code8(0xFF) == 31744  # (0xF | 0x10) << (7 + 3)
    assert decode_code16(0x7FFF) == 32767 and decode_code16(0xFFFF) == 8387584
    assert encode_code8(31744) == 0xFF and encode_code16(8387584) == 0xFFFF
    assert encode_code8(208) == 0x8A


@given(st.integers(0, 40000))
def test_code8_encodes_to_the_largest_value_not_above(value: int) -> None:
    code = encode_code8(value)
    assert 0 <= code <= 0xFF
    assert decode_code8(code) <= value or value > 31744
    if value <= 31744 and code < 0xFF:
        assert decode_code8(code + 1) > value or code + 1 == 128


@given(st.integers(0, 9_000_000))
def test_code16_round_trip_is_close(value: int) -> None:
    code = encode_code16(value)
    assert 0 <= code <= 0xFFFF
    decoded = decode_code16(code)
    assert decoded <= max(value, 0) or value > 8387584
    assert decoded >= min(value, 8387584) * 0.999 - 8


# --- round trips ----------------------------------------------------------------

v4s = st.integers(0, 2**32 - 1).map(V4)
v6s = st.integers(0, 2**128 - 1).map(V6)
aux = st.integers(0, 3).map(lambda n: bytes(range(4 * n)))
record_types = st.sampled_from(list(RecordType))

igmp_messages = st.one_of(
    st.builds(IgmpQuery, st.just(1), st.just(0), v4s),
    st.builds(IgmpQuery, st.just(2), st.integers(1, 255), v4s),
    st.builds(
        IgmpQuery,
        st.just(3),
        st.integers(0, 255),
        v4s,
        st.booleans(),
        st.integers(0, 7),
        st.integers(0, 255),
        st.lists(v4s, max_size=8).map(tuple),
    ),
    st.builds(IgmpV1Report, v4s),
    st.builds(IgmpV2Report, v4s),
    st.builds(IgmpV2Leave, v4s),
    st.builds(
        IgmpV3Report,
        st.lists(
            st.builds(GroupRecord, record_types, v4s, st.lists(v4s, max_size=5).map(tuple), aux),
            max_size=5,
        ).map(tuple),
    ),
)
mld_messages = st.one_of(
    st.builds(MldQuery, st.just(1), st.integers(0, 65535), v6s),
    st.builds(
        MldQuery,
        st.just(2),
        st.integers(0, 65535),
        v6s,
        st.booleans(),
        st.integers(0, 7),
        st.integers(0, 255),
        st.lists(v6s, max_size=5).map(tuple),
    ),
    st.builds(MldV1Report, v6s),
    st.builds(MldV1Done, v6s),
    st.builds(
        MldV2Report,
        st.lists(
            st.builds(AddressRecord, record_types, v6s, st.lists(v6s, max_size=4).map(tuple), aux),
            max_size=4,
        ).map(tuple),
    ),
)


@given(igmp_messages)
def test_igmp_round_trips_alone_and_in_a_frame(message) -> None:
    data = encode_igmp(message)
    assert decode_igmp_untrusted(data) == message
    frame = ethernet(encode_ipv4_igmp(message, SRC4, ALL_HOSTS), ALL_HOSTS)
    wire = decode_frame_untrusted(frame)
    assert wire is not None and wire.message == message
    assert (wire.protocol, wire.ttl, wire.router_alert, wire.source) == ("igmp", 1, True, SRC4)


@given(mld_messages)
def test_mld_round_trips_alone_and_in_a_frame(message) -> None:
    data = encode_mld(message, SRC6, ALL_NODES)
    assert decode_mld_untrusted(data, SRC6, ALL_NODES) == message
    frame = ethernet(encode_ipv6_mld(message, SRC6, ALL_NODES), ALL_NODES)
    wire = decode_frame_untrusted(frame)
    assert wire is not None and wire.message == message
    assert (wire.protocol, wire.ttl, wire.router_alert) == ("mld", 1, True)


def test_a_wrong_checksum_is_malformed() -> None:
    data = bytearray(encode_igmp(IgmpV2Report(V4("239.1.1.1"))))
    data[7] ^= 1
    with pytest.raises(MalformedPacket, match="checksum") as caught:
        decode_igmp_untrusted(bytes(data))
    assert caught.value.offset == 2
    mld = bytearray(encode_mld(MldV1Report(V6("ff3e::1")), SRC6, ALL_NODES))
    with pytest.raises(MalformedPacket, match="checksum"):
        decode_mld_untrusted(bytes(mld), SRC6, V6("ff02::2"))  # the pseudo-header differs


def test_other_traffic_is_not_a_message() -> None:
    udp = bytes.fromhex("4500001c000040004011f9c50a0000016400000100350035000800") + b"\0"
    assert decode_ipv4_untrusted(udp[:28]) is None
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28)
    assert decode_frame_untrusted(arp) is None


# --- truncation and fuzzing: nothing but MalformedPacket escapes ---------------------


def seed_frames() -> list[bytes]:
    igmp: list[IgmpMessage] = [
        IgmpQuery(1, 0),
        IgmpQuery(2, 100, V4("239.1.1.1")),
        IgmpQuery(3, 0x8A, V4("232.1.1.1"), True, 2, 125, (V4("10.0.0.1"), V4("10.0.0.2"))),
        IgmpV1Report(V4("239.1.1.1")),
        IgmpV2Report(V4("239.1.1.1")),
        IgmpV2Leave(V4("239.1.1.1")),
        IgmpV3Report(
            (
                GroupRecord(RecordType.CHANGE_TO_EXCLUDE, V4("239.1.1.1")),
                GroupRecord(
                    RecordType.ALLOW_NEW_SOURCES, V4("232.1.1.1"), (V4("10.0.0.2"),), b"\0\0\0\1"
                ),
            )
        ),
    ]
    mld: list[MldMessage] = [
        MldQuery(1, 10000),
        MldQuery(2, 0x8123, V6("ff3e::1"), True, 2, 125, (V6("2001:db8::2"),)),
        MldV1Report(V6("ff3e::1")),
        MldV1Done(V6("ff3e::1")),
        MldV2Report(
            (
                AddressRecord(RecordType.MODE_IS_EXCLUDE, V6("ff3e::1")),
                AddressRecord(
                    RecordType.BLOCK_OLD_SOURCES,
                    V6("ff3e::2"),
                    (V6("2001:db8::2"), V6("2001:db8::3")),
                ),
            )
        ),
    ]
    frames = [ethernet(encode_ipv4_igmp(m, SRC4, REPORTS_V3), REPORTS_V3) for m in igmp]
    frames += [ethernet(encode_ipv6_mld(m, SRC6, REPORTS_V2), REPORTS_V2) for m in mld]
    return frames


def test_every_strict_prefix_is_malformed_and_the_whole_frame_decodes() -> None:
    """The IP header says how long the packet is, so every cut is detectable:
    a prefix is never taken for a message, nor for traffic that is not IGMP/MLD."""
    for frame in seed_frames():
        assert decode_frame_untrusted(frame) is not None
        for cut in range(len(frame)):
            with pytest.raises(MalformedPacket):
                decode_frame_untrusted(frame[:cut])


def test_a_million_mutated_packets_raise_nothing_but_malformed_packet() -> None:
    rng = random.Random(3376)
    seeds = seed_frames()
    payloads = [
        encode_igmp(
            IgmpV3Report(
                (GroupRecord(RecordType.MODE_IS_INCLUDE, V4("232.0.0.9"), (V4("10.1.1.1"),)),)
            )
        )
    ]
    decoded = malformed = 0
    for i in range(1_000_000):
        data = mutate(rng, seeds[i % len(seeds)] if i % 4 else payloads[0])
        try:
            if i % 4:
                decode_frame_untrusted(data)
            else:
                decode_igmp_untrusted(data, verify_checksum=False)
            decoded += 1
        except MalformedPacket:
            malformed += 1
    assert decoded + malformed == 1_000_000
    assert decoded > 1000 and malformed > 1000  # the mutations hit both outcomes


# --- tshark, the independent decoder ----------------------------------------------


def tshark() -> str:
    path = shutil.which("tshark")
    assert path, "tshark is not installed: run the test command from the README (it installs it)"
    return path


def collect(tree: object, keys: set[str], out: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every value of the named fields, in document order, anywhere in tshark's JSON."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in keys:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        out.setdefault(key, []).append(item)
            collect(value, keys, out)
    elif isinstance(tree, list):
        for item in tree:
            collect(item, keys, out)
    return out


IGMP_FIELDS = {
    "igmp.version",
    "igmp.type",
    "igmp.max_resp",
    "igmp.checksum.status",
    "igmp.maddr",
    "igmp.s",
    "igmp.qrv",
    "igmp.qqic",
    "igmp.saddr",
    "igmp.record_type",
    "igmp.num_grp_recs",
    "ip.ttl",
    "ip.opt.ra",
}
MLD_FIELDS = {
    "icmpv6.type",
    "icmpv6.checksum.status",
    "icmpv6.mld.maximum_response_code",
    "icmpv6.mld.maximum_response_delay",
    "icmpv6.mld.multicast_address",
    "icmpv6.mld.flag.s",
    "icmpv6.mld.flag.qrv",
    "icmpv6.mld.qqi",
    "icmpv6.mld.source_address",
    "icmpv6.mldr.nb_mcast_records",
    "icmpv6.mldr.mar.record_type",
    "icmpv6.mldr.mar.multicast_address",
    "icmpv6.mldr.mar.source_address",
    "ipv6.hlim",
    "ipv6.opt.router_alert",
}


def ours(frame: bytes) -> dict[str, list[str]]:
    """Our decoding of a frame, in tshark's field names and formats."""
    wire = decode_frame_untrusted(frame)
    assert wire is not None
    m = wire.message
    out: dict[str, list[str]] = {}

    def put(key: str, *values: object) -> None:
        if values:
            out.setdefault(key, []).extend(str(v) for v in values)

    if wire.protocol == "igmp":
        put("ip.ttl", wire.ttl)
        put("ip.opt.ra", 0)
        put("igmp.checksum.status", 1)
        put("igmp.version", wire.version)
        if isinstance(m, IgmpQuery):
            put("igmp.type", "0x11")
            if m.version > 1:
                put("igmp.max_resp", m.max_resp_tenths)
            put("igmp.maddr", m.group)
            if m.version == 3:
                put("igmp.s", int(m.suppress))
                put("igmp.qrv", m.qrv)
                put("igmp.qqic", m.qqic)  # tshark shows IGMP's QQIC raw (MLD's QQIC decoded)
                put("igmp.saddr", *m.sources)
        elif isinstance(m, IgmpV3Report):
            put("igmp.type", "0x22")
            put("igmp.num_grp_recs", len(m.records))
            for record in m.records:
                put("igmp.record_type", int(record.type))
                put("igmp.maddr", record.group)
                put("igmp.saddr", *record.sources)
        else:
            kind = {IgmpV1Report: "0x12", IgmpV2Report: "0x16", IgmpV2Leave: "0x17"}[type(m)]
            put("igmp.type", kind)
            if not isinstance(m, IgmpV1Report):
                put("igmp.max_resp", 0)  # the code byte of a v2 report or leave, zero
            put("igmp.maddr", m.group)  # type: ignore[union-attr]
        return out
    put("ipv6.hlim", wire.ttl)
    put("ipv6.opt.router_alert", 0)
    put("icmpv6.checksum.status", 1)
    if isinstance(m, MldQuery):
        put("icmpv6.type", 130)
        key = (
            "icmpv6.mld.maximum_response_code"
            if m.version == 2
            else "icmpv6.mld.maximum_response_delay"
        )
        put(key, m.max_resp_ms)
        put("icmpv6.mld.multicast_address", m.group)
        if m.version == 2:
            put("icmpv6.mld.flag.s", int(m.suppress))
            put("icmpv6.mld.flag.qrv", m.qrv)
            put("icmpv6.mld.qqi", m.qqi)
            put("icmpv6.mld.source_address", *m.sources)
    elif isinstance(m, MldV2Report):
        put("icmpv6.type", 143)
        put("icmpv6.mldr.nb_mcast_records", len(m.records))
        for r in m.records:
            put("icmpv6.mldr.mar.record_type", int(r.type))
            put("icmpv6.mldr.mar.multicast_address", r.group)
            put("icmpv6.mldr.mar.source_address", *r.sources)
    else:
        put("icmpv6.type", 131 if isinstance(m, MldV1Report) else 132)
        put("icmpv6.mld.maximum_response_delay", 0)  # zero in reports and dones
        put("icmpv6.mld.multicast_address", m.group)  # type: ignore[union-attr]
    return out


def tshark_fields(frames: list[bytes], tmp_path: Path) -> list[dict[str, list[str]]]:
    capture = tmp_path / "corpus.pcap"
    capture.write_bytes(pcap(frames))
    done = subprocess.run(
        [tshark(), "-r", str(capture), "-T", "json", "--no-duplicate-keys"],
        capture_output=True,
        text=True,
        check=True,
    )
    packets = json.loads(done.stdout)
    return [collect(p["_source"]["layers"], IGMP_FIELDS | MLD_FIELDS, {}) for p in packets]


def compare_with_tshark(frames: list[bytes], tmp_path: Path) -> None:
    theirs = tshark_fields(frames, tmp_path)
    assert len(theirs) == len(frames)
    for index, (frame, their) in enumerate(zip(frames, theirs, strict=True)):
        mine = ours(frame)
        fields = IGMP_FIELDS if frame[12:14] == b"\x08\x00" else MLD_FIELDS
        for key in fields:
            assert their.get(key, []) == mine.get(key, []), (
                f"frame {index}: {key}: ours {mine.get(key)}, tshark {their.get(key)}"
            )


def test_tshark_agrees_on_every_message_kind(tmp_path: Path) -> None:
    compare_with_tshark(seed_frames(), tmp_path)


def random_messages(rng: random.Random, count: int) -> tuple[list[IgmpMessage], list[MldMessage]]:
    """A varied corpus: every kind, 0 to 5 sources, records of every type, aux data."""

    def v4() -> V4:
        return V4(rng.getrandbits(32))

    def v6() -> V6:
        return V6(rng.getrandbits(128))

    def aux() -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(4 * rng.randint(0, 2)))

    igmp: list[IgmpMessage] = []
    mld: list[MldMessage] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            igmp.append(
                IgmpQuery(
                    3,
                    rng.randint(0, 255),
                    v4(),
                    rng.random() < 0.5,
                    rng.randint(0, 7),
                    rng.randint(0, 255),
                    tuple(v4() for _ in range(rng.randint(0, 5))),
                )
            )
            mld.append(
                MldQuery(
                    2,
                    rng.randint(0, 65535),
                    v6(),
                    rng.random() < 0.5,
                    rng.randint(0, 7),
                    rng.randint(0, 255),
                    tuple(v6() for _ in range(rng.randint(0, 5))),
                )
            )
        elif kind == 1:
            igmp.append(
                IgmpV3Report(
                    tuple(
                        GroupRecord(
                            rng.choice(list(RecordType)),
                            v4(),
                            tuple(v4() for _ in range(rng.randint(0, 5))),
                            aux(),
                        )
                        for _ in range(rng.randint(0, 4))
                    )
                )
            )
            mld.append(
                MldV2Report(
                    tuple(
                        AddressRecord(
                            rng.choice(list(RecordType)),
                            v6(),
                            tuple(v6() for _ in range(rng.randint(0, 5))),
                            aux(),
                        )
                        for _ in range(rng.randint(0, 4))
                    )
                )
            )
        elif kind == 2:
            igmp.append(IgmpQuery(2, rng.randint(1, 255), v4()))
            mld.append(MldQuery(1, rng.randint(0, 65535), v6()))
        elif kind == 3:
            group4, group6 = v4(), v6()
            old4: list[IgmpMessage] = [
                IgmpV1Report(group4),
                IgmpV2Report(group4),
                IgmpV2Leave(group4),
            ]
            old6: list[MldMessage] = [MldV1Report(group6), MldV1Done(group6)]
            igmp.append(rng.choice(old4))
            mld.append(rng.choice(old6))
        else:
            igmp.append(IgmpQuery(1, 0, V4(0)))
            mld.append(MldV2Report(()))
    return igmp, mld


def test_tshark_agrees_on_generated_messages(tmp_path: Path) -> None:
    igmp, mld = random_messages(random.Random(3810), 150)
    frames = [ethernet(encode_ipv4_igmp(m, SRC4, ALL_HOSTS), ALL_HOSTS) for m in igmp]
    frames += [ethernet(encode_ipv6_mld(m, SRC6, ALL_NODES), ALL_NODES) for m in mld]
    compare_with_tshark(frames, tmp_path)


@given(
    st.binary(max_size=3000)
    | st.sampled_from([b"", b"\0", b"\xff\xff", b"\xff\xff" * 9, b"\0\xff"])
)
def test_the_checksum_is_rfc_1071s_sum_of_words(data: bytes) -> None:
    padded = data + b"\0" * (len(data) % 2)
    total = 0
    for at in range(0, len(padded), 2):  # RFC 1071 4.1, word by word, the carry folded in
        total += (padded[at] << 8) | padded[at + 1]
        total = (total & 0xFFFF) + (total >> 16)
    assert checksum(data) == ~total & 0xFFFF
