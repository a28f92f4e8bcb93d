"""The AH codec against an independent implementation (scapy's IPsec module, a
test-only dependency): what one signs the other verifies, byte for byte where
both compute the same thing; and the replay window, worked by hand."""

from __future__ import annotations

import pytest
from scapy.layers.inet6 import HBHOptUnknown, ICMPv6EchoRequest, IPv6, IPv6ExtHdrHopByHop, PadN
from scapy.layers.ipsec import AH, SecurityAssociation

from ipv6.ipsec import ALGORITHMS, AhError, ReplayWindow, protect, verify

KEY = b"This is a test"  # the seeds' key file, "This is a test"
HOST1, HOST2 = "fe80::2aa:ff:fe53:a92c", "fe80::2aa:ff:fe92:d0f1"  # the seeds' hosts
SCAPY_NAMES = {"HMAC-MD5": "HMAC-MD5-96", "HMAC-SHA-256": "SHA2-256-128"}


def echo(hop_by_hop: bool = False) -> IPv6:
    packet = IPv6(src=HOST1, dst=HOST2, hlim=64, tc=0x28, fl=0x12345)
    if hop_by_hop:
        # a mutable option (type 0x3e: "may change en route") and padding
        packet /= IPv6ExtHdrHopByHop(
            options=[HBHOptUnknown(otype=0x3E, optdata=b"ab"), PadN(optdata=b"")]
        )
    return packet / ICMPv6EchoRequest(id=7, seq=1, data=b"hello seeds")


def scapy_sa(name: str, spi: int = 3001) -> SecurityAssociation:
    return SecurityAssociation(AH, spi=spi, auth_algo=SCAPY_NAMES[name], auth_key=KEY)


@pytest.mark.parametrize("name", ["HMAC-MD5", "HMAC-SHA-256"])
@pytest.mark.parametrize("hop_by_hop", [False, True], ids=["plain", "hop-by-hop"])
def test_what_we_sign_is_what_scapy_signs_and_accepts(name: str, hop_by_hop: bool) -> None:
    algorithm = ALGORITHMS[name]
    plain = bytes(echo(hop_by_hop))
    ours = protect(plain, 3001, 1, algorithm, KEY)
    theirs = bytes(scapy_sa(name).encrypt(IPv6(plain)))
    assert ours == theirs
    back = IPv6(bytes(scapy_sa(name).decrypt(IPv6(ours))))  # dissected again
    assert back[ICMPv6EchoRequest].data == b"hello seeds"


@pytest.mark.parametrize("name", ["HMAC-MD5", "HMAC-SHA-256"])
def test_what_scapy_signs_we_verify_whatever_routers_change(name: str) -> None:
    algorithm = ALGORITHMS[name]
    plain = bytes(echo(hop_by_hop=True))
    signed = bytearray(bytes(scapy_sa(name, spi=3000).encrypt(IPv6(plain))))
    # What may change on the way is not covered: hop limit, traffic class, flow label,
    # the data of a mutable option.
    signed[7] = 1
    signed[1] ^= 0x0F
    signed[40 + 4] ^= 0xFF  # the mutable option's first data octet
    checked = verify(bytes(signed), algorithm, KEY)
    assert (checked.spi, checked.sequence) == (3000, 1)
    assert IPv6(checked.packet)[ICMPv6EchoRequest].data == b"hello seeds"
    assert IPv6(checked.packet).plen == len(checked.packet) - 40


def test_a_changed_payload_a_wrong_key_or_no_ah_is_refused() -> None:
    algorithm = ALGORITHMS["HMAC-MD5"]
    signed = bytearray(protect(bytes(echo()), 3001, 9, algorithm, KEY))
    with pytest.raises(AhError, match="ICV of SPI 3001 sequence 9 is wrong"):
        verify(bytes(signed), algorithm, b"another key")
    signed[-1] ^= 1
    with pytest.raises(AhError, match="is wrong"):
        verify(bytes(signed), algorithm, KEY)
    with pytest.raises(AhError, match="no authentication header"):
        verify(bytes(echo()), algorithm, KEY)
    with pytest.raises(AhError, match="HMAC-SHA-256 makes 32"):
        verify(protect(bytes(echo()), 3001, 1, algorithm, KEY), ALGORITHMS["HMAC-SHA-256"], KEY)


@pytest.mark.parametrize("cut", [0, 10, 39, 41, 60])
def test_a_packet_cut_short_is_one_error(cut: int) -> None:
    signed = protect(bytes(echo()), 3001, 1, ALGORITHMS["HMAC-MD5"], KEY)
    with pytest.raises(AhError):
        verify(signed[:cut], ALGORITHMS["HMAC-MD5"], KEY)


def test_reserved_spis_are_refused() -> None:
    with pytest.raises(AhError, match="reserved"):
        protect(bytes(echo()), 255, 1, ALGORITHMS["HMAC-MD5"], KEY)


def test_the_replay_window_takes_each_number_once_and_not_too_old() -> None:
    window = ReplayWindow(size=32)
    assert window.check(0) == "sequence number 0"
    for n in (1, 2, 5):
        assert window.check(n) is None
        window.accept(n)
    assert window.check(2) == "replayed"
    assert window.check(3) is None  # late but new
    window.accept(3)
    assert window.check(3) == "replayed"
    window.accept(40)
    assert window.check(8) == "behind the replay window"  # 40 - 8 = 32
    assert window.check(9) is None and window.check(40) == "replayed"
    # A number only checked (its ICV never verified) does not move the window.
    assert window.check(1000) is None and window.highest == 40
