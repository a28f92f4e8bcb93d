"""The multicast ping codec (RFC 6450, as ssmping 0.9.1 speaks it): golden bytes
written here by hand from ssmping's source layout, round trips, every
truncation, and a million mutated messages."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcast.ping._mping import (
    MAX_REPLY_SIZE,
    Ping,
    decode_untrusted,
    encode_request,
    reply_group,
    reply_to,
    ssmpingd_accepts,
)
from mcast.ping._pingstats import PathReport, PathTally, distance, verdict
from mcast.wire._wirecommon import MalformedPacket
from tests.mcast.mutations import mutate

# What ssmping 0.9.1 sends for pid 4660, seq 7, at 1000.000250 s, with -v, to the
# group 232.43.211.234: 'Q', then TLVs (type, length, value), network order.
SSMPING_REQUEST = bytes.fromhex(
    "51"
    "0001 0004 00001234"  # client id (pid)
    "0002 0004 00000007"  # sequence
    "0003 0008 000003e8 000000fa"  # timestamp: 1000 s, 250 us
    "0005 0000"  # version request
    "0004 0005 01 e82bd3ea"  # group: family 1 (IPv4), 232.43.211.234
)


def test_ssmpings_request_decodes_and_encodes_to_the_same_octets() -> None:
    ping = decode_untrusted(SSMPING_REQUEST)
    assert ping == Ping(
        "request",
        client_id=0x1234,
        sequence=7,
        sent_ns=1000_000_250_000,
        group=ipaddress.IPv4Address("232.43.211.234"),
        wants_version=True,
    )
    again = encode_request(0x1234, 7, 1000_000_250_000, group=ping.group, ask_version=True)
    assert again == SSMPING_REQUEST


def test_the_reply_echoes_the_request_with_version_and_padding() -> None:
    request = encode_request(1, 2, 3_000_000_000, reply_size=100, ask_version=True)
    reply = reply_to(request, decode_untrusted(request), "toolkit 1")
    assert reply[0] == ord("A") and reply[1 : len(request)] == request[1:]
    assert len(reply) == 100
    decoded = decode_untrusted(reply)
    assert (decoded.kind, decoded.version, decoded.sequence) == ("reply", "toolkit 1", 2)
    huge = encode_request(1, 2, 3, reply_size=65535)
    assert len(reply_to(huge, decode_untrusted(huge), "v")) == MAX_REPLY_SIZE


def test_the_default_group_and_ssmpingds_rule() -> None:
    assert str(reply_group(decode_untrusted(encode_request(1, 1, 1)), 6)) == "ff3e::4321:1234"
    assert ssmpingd_accepts(ipaddress.ip_address("239.1.2.234"))
    assert not ssmpingd_accepts(ipaddress.ip_address("239.1.2.233"))
    assert ssmpingd_accepts(ipaddress.ip_address("ff3e::4321:1234"))
    assert not ssmpingd_accepts(ipaddress.ip_address("ff3e::1"))


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),
        (b"X", 0),  # neither Q nor A
        (b"Q\x00\x02\x00\x05abcde", 1),  # a 5-octet sequence
        (b"Q\x00\x04\x00\x05\x01\x0a\x00\x00\x01", 1),  # 10.0.0.1 is no group
        (b"Q\x00\x04\x00\x05\x03\xe0\x00\x00\x01", 1),  # family 3
        (b"Q\x00\x03\x00\x08\x00\x00\x00\x01\x00\x0f\x42\x40", 1),  # 1,000,000 us
        (b"Q\x00\x09\x00\x04ab", 5),  # an unknown option longer than the rest
    ],
)
def test_malformed_messages_say_where(data: bytes, offset: int) -> None:
    with pytest.raises(MalformedPacket) as caught:
        decode_untrusted(data)
    assert caught.value.offset == offset


def test_unknown_options_are_skipped_and_named() -> None:
    data = encode_request(1, 2, 3) + b"\x00\x63\x00\x02hi"
    assert decode_untrusted(data).unknown == (0x63,)


def test_every_strict_prefix_of_a_request_inside_an_option_is_malformed() -> None:
    boundaries = {1, 9, 17, 29, 33, 42}  # where one option ends and the next begins
    for cut in range(len(SSMPING_REQUEST)):
        if cut in boundaries:
            assert decode_untrusted(SSMPING_REQUEST[:cut]).kind == "request"
        else:
            with pytest.raises(MalformedPacket):
                decode_untrusted(SSMPING_REQUEST[:cut])


@given(
    client=st.integers(0, 2**32 - 1),
    sequence=st.integers(0, 2**32 - 1),
    seconds=st.integers(0, 2**32 - 1),
    microseconds=st.integers(0, 999_999),
    group=st.one_of(
        st.none(),
        st.integers(0xE0000000, 0xEFFFFFFF).map(ipaddress.IPv4Address),
        st.integers(0xFF << 120, 2**128 - 1).map(ipaddress.IPv6Address),
    ),
    size=st.one_of(st.none(), st.integers(0, 65535)),
)
def test_requests_round_trip(*, client, sequence, seconds, microseconds, group, size) -> None:
    sent = seconds * 1_000_000_000 + microseconds * 1000
    data = encode_request(client, sequence, sent, group=group, reply_size=size)
    ping = decode_untrusted(data)
    assert (ping.client_id, ping.sequence, ping.sent_ns, ping.group, ping.reply_size) == (
        client,
        sequence,
        sent,
        group,
        size,
    )


def test_a_million_mutated_messages_raise_nothing_but_malformed_packet() -> None:
    rng = random.Random(6450)
    seeds = [
        SSMPING_REQUEST,
        encode_request(9, 9, 9, group=ipaddress.IPv6Address("ff3e::4321:1234"), reply_size=64),
        reply_to(SSMPING_REQUEST, decode_untrusted(SSMPING_REQUEST), "ssmpingd 0.9.1"),
    ]
    decoded = malformed = 0
    for i in range(1_000_000):
        data = mutate(rng, seeds[i % len(seeds)], at_least=b"Q")
        try:
            decode_untrusted(data)
            decoded += 1
        except MalformedPacket:
            malformed += 1
    assert decoded + malformed == 1_000_000
    assert decoded > 1000 and malformed > 1000  # the mutations hit both outcomes


def test_hop_distance_is_read_as_ssmping_reads_it() -> None:
    assert [distance(h) for h in (64, 61, 128, 120, 255, 250, None, -1)] == [
        0, 3, 0, 8, 0, 5, None, None,
    ]  # fmt: skip


def test_a_path_counts_each_reply_once_and_loss_since_the_tree_formed() -> None:
    tally = PathTally("multicast")
    # Requests 1..5 were sent; the tree formed in time for 3; 4 came twice; 5 was lost.
    assert tally.add(3, 2_000_000, 62, since_start_ns=2_100_000_000)
    assert tally.add(4, 4_000_000, 62, since_start_ns=3_100_000_000)
    assert not tally.add(4, 9_000_000, 62, since_start_ns=3_200_000_000)
    report = tally.report(sent=5)
    assert (report.received, report.duplicates, report.loss_percent) == (2, 1, 60.0)
    assert report.loss_since_first_percent == pytest.approx(100 / 3, abs=0.001)  # 3..5: 5 lost
    assert (report.rtt_ms.min, report.rtt_ms.avg, report.rtt_ms.max) == (2.0, 3.0, 4.0)
    assert report.rtt_ms.mdev == 1.0 and report.distance == 2
    assert report.first_reply_ms == 2100.0


def test_the_verdict_needs_unicast_first() -> None:
    def path(received: int) -> PathReport:
        return PathTally("x", seen=set(range(received))).report(sent=3)

    assert verdict(path(3), path(3)) == 0
    assert verdict(path(3), path(0)) == 6  # unicast answered, multicast did not
    assert verdict(path(0), path(0)) == 3
    assert verdict(path(0), path(3)) == 3  # without unicast the test says nothing
