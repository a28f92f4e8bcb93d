"""The ipsec6 planes' pure parts, without a network: the engine's verdicts
checked with scapy's IPsec (an independent implementation), the fragments
reassembled by scapy, the NFQUEUE messages against bytes derived by hand from
the kernel's structs, the XFRM messages against what iproute2 sends (captured
with strace), the ip6tables rules, and the active lists' rules."""

from __future__ import annotations

import contextlib
import struct
from ipaddress import IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment, defragment6
from scapy.layers.ipsec import AH, SecurityAssociation

from ipv6.ipsec._active import Active
from ipv6.ipsec._engine import Accept, Drop, Engine, Split, headers_untrusted
from ipv6.ipsec._files import IpsecFileError, Policy, read_sad, read_spd
from ipv6.ipsec._fragment import fragment
from ipv6.ipsec._nfqueue import (
    KernelAnswer,
    QueuedPacket,
    QueueMessageError,
    bind,
    decode_untrusted,
    verdict,
)
from ipv6.ipsec._ruleset import ruleset
from ipv6.ipsec._xfrmmsg import (
    Selector,
    kernel_policies,
    new_policy,
    new_sa,
)

KEY = b"This is a test"
HOST1, HOST2 = "fe80::2aa:ff:fe53:a92c", "fe80::2aa:ff:fe92:d0f1"  # the seeds' hosts
OTHER = "fe80::5eff:fe10:d"
HEADER = (
    "Security Policy List\n\nPolicy RemoteIPAddr LocalIPAddr RemotePort Protocol LocalPort "
    "IPSecProtocol IPSecMode RemoteGWIPAddr SABundleIndex Direction Action InterfaceIndex\n"
)
SPD = HEADER + (
    f"2 {HOST2} * * * * AH TRANSPORT * NONE BIDIRECT APPLY 0 ;\n"
    "1 * * * * * NONE NONE * NONE BIDIRECT BYPASS 0 ;\n"
)
SAD = (
    "Security Association List\n\nSAEntry SPI SADestIPAddr DestIPAddr SrcIPAddr Protocol "
    "DestPort SrcPort AuthAlg KeyFile Direction SecPolicyIndex\n"
    f"2 3001 {HOST2} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key OUTBOUND 2 ;\n"
    f"1 3000 {HOST1} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key INBOUND 2 ;\n"
)
KEYS = {"Test.key": '"This is a test"'}


def host1() -> Engine:
    """Host 1 of the seeds' Configuration 3, as its files say."""
    policies = read_spd(SPD, "Test.spd")
    return Engine(policies, read_sad(SAD, "Test.sad", policies, KEYS))


def scapy_sa(spi: int, key: bytes = KEY) -> SecurityAssociation:
    return SecurityAssociation(AH, spi=spi, auth_algo="HMAC-MD5-96", auth_key=key)


def echo(src: str = HOST1, dst: str = HOST2, size: int = 16) -> bytes:
    return bytes(IPv6(src=src, dst=dst) / ICMPv6EchoRequest(id=1, seq=1, data=b"x" * size))


def from_host2(data: bytes = b"hello", dport: int = 9999) -> IPv6:
    return IPv6(src=HOST2, dst=HOST1) / UDP(sport=4000, dport=dport) / data


def signed(packet: IPv6, sequence: int, spi: int = 3000, key: bytes = KEY) -> bytes:
    sa = scapy_sa(spi, key)
    sa.seq_num = sequence
    return bytes(sa.encrypt(packet))


# -- the engine ------------------------------------------------------------------------


def test_outbound_to_host2_carries_an_ah_scapy_verifies_with_increasing_numbers() -> None:
    engine = host1()
    for sequence in (1, 2, 3):
        verdict_ = engine.outbound(echo())
        assert isinstance(verdict_, Accept) and verdict_.how == "protected"
        assert verdict_.packet is not None
        packet = IPv6(verdict_.packet)
        assert packet.nh == 51 and packet[AH].spi == 3001 and packet[AH].seq == sequence
        plain = IPv6(bytes(scapy_sa(3001).decrypt(packet)))  # raises when the ICV is wrong
        assert bytes(plain[ICMPv6EchoRequest].data) == b"x" * 16
    assert engine.sas[2].packets == 3 and engine.sas[2].sequence == 3


def test_inbound_signed_by_scapy_is_verified_and_given_back_without_the_ah() -> None:
    engine = host1()
    original = from_host2()
    result = engine.inbound(signed(original, 1))
    assert isinstance(result, Accept) and result.how == "verified"
    assert result.packet == bytes(original)
    assert engine.sas[1].window.highest == 1


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (bytes(from_host2(b"unsigned")), "unprotected"),
        (signed(from_host2(b"wrong key"), 5, key=b"another key"), "bad_icv"),
        (signed(from_host2(b"wrong spi"), 5, spi=4000), "unknown_spi"),
        (signed(from_host2(b"zero"), 0), "sequence_zero"),
        (b"\x60" + bytes(10), "malformed"),
    ],
)
def test_what_host2_did_not_sign_right_is_dropped_by_reason(packet: bytes, reason: str) -> None:
    engine = host1()
    assert engine.inbound(packet) == Drop(reason)
    assert engine.drops == {reason: 1}


def test_a_replay_is_dropped_and_a_forgery_does_not_move_the_window() -> None:
    engine = host1()
    first = signed(from_host2(b"one"), 1)
    assert isinstance(engine.inbound(first), Accept)
    assert engine.inbound(first) == Drop("replayed")
    forged = signed(from_host2(b"far ahead"), 1000, key=b"not the key")
    assert engine.inbound(forged) == Drop("bad_icv")
    assert isinstance(engine.inbound(signed(from_host2(b"two"), 2)), Accept)  # window unmoved
    assert isinstance(engine.inbound(signed(from_host2(b"late"), 100)), Accept)
    assert engine.inbound(signed(from_host2(b"old"), 36)) == Drop("behind_window")
    assert engine.sas[1].drops == {"replayed": 1, "bad_icv": 1, "behind_window": 1}


def test_other_hosts_and_groups_pass_as_they_are() -> None:
    engine = host1()
    assert engine.outbound(echo(dst=OTHER)) == Accept(None, "bypass")  # policy 1
    assert engine.inbound(echo(src=OTHER, dst=HOST1)) == Accept(None, "bypass")
    group = echo(dst="ff02::1")
    assert engine.outbound(group) == Accept(None, "multicast")


def test_apply_without_an_sa_and_discard_drop() -> None:
    policies = read_spd(SPD, "Test.spd")
    engine = Engine(policies, [])
    assert engine.outbound(echo()) == Drop("no_outbound_sa")
    discard = read_spd(SPD.replace("BIDIRECT APPLY", "BIDIRECT DISCARD"), "Test.spd")
    assert Engine(discard, []).inbound(echo(HOST2, HOST1)) == Drop("policy_discard")
    assert Engine([], []).outbound(echo()) == Accept(None, "no_policy")


def test_reconfiguring_keeps_the_state_of_sas_that_did_not_change() -> None:
    engine = host1()
    engine.outbound(echo())
    policies = read_spd(SPD, "Test.spd")
    same = read_sad(SAD, "Test.sad", policies, KEYS)
    engine.configure(policies, same)
    assert engine.sas[2].sequence == 1
    rekeyed = read_sad(SAD, "Test.sad", policies, {"Test.key": '"new key"'})
    engine.configure(policies, rekeyed)
    assert engine.sas[2].sequence == 0


def test_selectors_are_read_past_extension_headers_and_the_ah() -> None:
    headers = headers_untrusted(signed(from_host2(dport=80), 3))
    assert (headers.protocol, headers.src_port, headers.dst_port, headers.spi) == (
        17,
        4000,
        80,
        3000,
    )


PACKETS = [
    echo(), echo(dst=OTHER), echo(src=OTHER, dst=HOST1), echo(HOST2, HOST1),
    bytes(from_host2()), bytes(from_host2(dport=80)), echo(dst="ff02::1"),
    *(signed(from_host2(b"n"), n) for n in (1, 2, 2, 70, 3)),
    signed(from_host2(b"k"), 80, key=b"other"), signed(from_host2(b"s"), 81, spi=9),
]  # fmt: skip


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(PACKETS), st.booleans()), max_size=40))
def test_remembering_flows_never_changes_a_verdict(steps: list[tuple[bytes, bool]]) -> None:
    policies = read_spd(SPD, "Test.spd")
    remembering = Engine(policies, read_sad(SAD, "Test.sad", policies, KEYS), flow_cache=3)
    looking_up = Engine(policies, read_sad(SAD, "Test.sad", policies, KEYS), flow_cache=0)
    for packet, outbound in steps:
        if outbound:
            assert remembering.outbound(packet) == looking_up.outbound(packet)
        else:
            assert remembering.inbound(packet) == looking_up.inbound(packet)
    assert remembering.drops == looking_up.drops


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_no_bytes_end_the_engine(data: bytes) -> None:
    engine = host1()
    for packet in (data, b"\x60\0\0\0" + struct.pack("!H", max(len(data) - 6, 0)) + data[6:]):
        for outcome in (engine.inbound(packet), engine.outbound(packet, 1280)):
            assert isinstance(outcome, Accept | Drop | Split)


# -- fragments ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1452, 1440, 1430])  # 1500, 1488 and 1478 octets before the AH
def test_a_packet_the_ah_makes_too_big_is_split_and_scapy_reassembles_it(size: int) -> None:
    engine = host1()
    packet = echo(size=size)
    assert len(packet) <= 1500
    outcome = engine.outbound(packet, 1500)
    assert isinstance(outcome, Split) and len(outcome.fragments) == 2
    assert all(len(piece) <= 1500 for piece in outcome.fragments)
    pieces = [IPv6(piece) for piece in outcome.fragments]
    assert {p[IPv6ExtHdrFragment].id for p in pieces} == {engine.identification}
    whole = defragment6(pieces)
    plain = IPv6(bytes(scapy_sa(3001).decrypt(IPv6(bytes(whole)))))
    assert bytes(plain[ICMPv6EchoRequest].data) == b"x" * size


def test_a_packet_bigger_than_the_link_is_left_to_the_kernel() -> None:
    # It was reassembled before it was queued: the kernel fragments it again itself.
    outcome = host1().outbound(echo(size=3000), 1500)
    assert isinstance(outcome, Accept) and outcome.how == "protected"


def test_fragments_are_multiples_of_eight_and_the_minimum_mtu_holds() -> None:
    packet = bytes(IPv6(src=HOST1, dst=HOST2) / UDP() / (b"y" * 3000))
    pieces = fragment(packet, 1000, 7)  # below 1280: IPv6's minimum is used
    assert all(len(p) <= 1280 for p in pieces)
    offsets = [IPv6(p)[IPv6ExtHdrFragment].offset * 8 for p in pieces]
    sizes = [len(p) - 48 for p in pieces]
    assert offsets == [sum(sizes[:i]) for i in range(len(pieces))]
    assert all(s % 8 == 0 for s in sizes[:-1])
    assert bytes(defragment6([IPv6(p) for p in pieces])) == packet


# -- NFQUEUE -----------------------------------------------------------------------------


def test_binding_queue_4302_as_the_kernel_struct_says() -> None:
    # nlmsghdr (host order): length 28, type NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG,
    # flags REQUEST|ACK, sequence 1, port 0; nfgenmsg: AF_INET6, version 0, queue 4302
    # (big-endian); attribute NFQA_CFG_CMD (4 + 4 octets): BIND, pad, pf AF_INET6 (big-endian).
    first = bind(4302, 1)[0]
    assert first == (
        struct.pack("=IHHII", 28, 0x0302, 5, 1, 0)
        + bytes.fromhex("0a0010ce") + struct.pack("=HH", 8, 1) + bytes.fromhex("0100000a")
    )  # fmt: skip
    params = bind(4302, 1)[1]  # NFQA_CFG_PARAMS: copy range 0xffff, NFQNL_COPY_PACKET
    assert params[20:] == struct.pack("=HH", 9, 2) + bytes.fromhex("0000ffff02") + bytes(3)


def test_a_verdict_with_a_new_payload() -> None:
    message = verdict(4302, 77, True, b"\x60abc")
    header = struct.pack("=HH", 12, 2) + struct.pack("!II", 1, 77)
    payload = struct.pack("=HH", 8, 10) + b"\x60abc"
    assert message == struct.pack("=IHHII", 16 + 4 + 20, 0x0301, 1, 0, 0) + bytes(
        [0, 0, 0x10, 0xCE]) + header + payload  # fmt: skip
    assert verdict(4302, 78, False)[-8:] == struct.pack("!II", 0, 78)


def kernel_packet(packet_id: int, hook: int, outdev: int, payload: bytes) -> bytes:
    """A queued packet as nfnetlink_queue sends it (attributes: header, outdev, payload)."""
    attributes = (
        struct.pack("=HH", 11, 1) + struct.pack("!IHB", packet_id, 0x86DD, hook) + b"\0"
        + struct.pack("=HH", 8, 6) + struct.pack("!I", outdev)
        + struct.pack("=HH", 4 + len(payload), 10) + payload + bytes(-len(payload) % 4)
    )  # fmt: skip
    body = bytes([10, 0, 0x10, 0xCE]) + attributes
    return struct.pack("=IHHII", 16 + len(body), 0x0300, 0, 0, 0) + body


def test_queued_packets_and_answers_are_read() -> None:
    data = kernel_packet(5, 3, 2, b"\x60pkt!") + struct.pack("=IHHII", 36, 2, 0, 9, 0) + (
        struct.pack("=i", -16) + bytes(16))  # fmt: skip
    assert decode_untrusted(data) == [
        QueuedPacket(queue=4302, packet_id=5, hook=3, indev=0, outdev=2, payload=b"\x60pkt!"),
        KernelAnswer(9, 16),
    ]


@settings(max_examples=500)
@given(st.binary(max_size=120), st.integers(0, 80))
def test_only_queue_message_errors_escape_the_decoder(noise: bytes, cut: int) -> None:
    for data in (noise, kernel_packet(1, 1, 0, noise)[:cut]):
        with contextlib.suppress(QueueMessageError):
            decode_untrusted(data)


# -- XFRM --------------------------------------------------------------------------------


def test_an_outbound_sa_is_the_message_iproute2_sends() -> None:
    policies = read_spd(SPD, "Test.spd")
    out = read_sad(SAD, "Test.sad", policies, KEYS)[0]
    ours = new_sa(out, 1)[16:]
    # What `ip xfrm state add src :: dst HOST2 proto ah spi 3001 mode transport auth-trunc
    # 'hmac(md5)' 0x5468697320697320612074657374 96` sends (strace -xx), past its nlmsghdr.
    captured = bytes.fromhex(
        "00" * 56 + IPv6Address(HOST2).packed.hex() + "00000bb9" + "33" + "00" * 3
        + "00" * 16 + "ff" * 32 + "00" * 32 + "00" * 32 + "00" * 12
        + "00000000" "00000000" "0a00" "00" "00" "00" + "00" * 7
        + "5a00" "1400" + "686d6163286d643529" + "00" * 55 + "70000000" "60000000"
        + KEY.hex() + "0000"
    )  # fmt: skip
    assert len(captured) == 316
    assert ours == captured


def test_an_inbound_sa_has_iproute2s_replay_window_32_and_sha256() -> None:
    policies = read_spd(SPD, "Test.spd")
    inbound = read_sad(SAD.replace("HMAC-MD5 Test.key IN", "HMAC-SHA-256 Test.key IN"),
                       "Test.sad", policies, KEYS)[1]  # fmt: skip
    ours = new_sa(inbound, 1)[16:]
    # `... dst HOST1 proto ah spi 3000 mode transport replay-window 32 auth-trunc
    # 'hmac(sha256)' 0x5468697320697320612074657374 128`
    assert ours[56:80] == IPv6Address(HOST1).packed + bytes.fromhex("00000bb833000000")
    assert ours[212:224] == bytes.fromhex("0a0000200000000000000000")  # family, mode, window 32
    assert ours[228:248] == b"hmac(sha256)" + bytes(8)
    assert ours[292:300] == struct.pack("=II", 112, 128)


def test_a_policy_is_the_message_iproute2_sends() -> None:
    # `ip xfrm policy add src fe80::1/128 proto tcp sport 22 dir out priority 65533
    # tmpl proto ah mode transport`, after its nlmsghdr
    captured = bytes.fromhex(
        "00" * 16 + "fe800000000000000000000000000001" + "0000" "0000" "0016" "ffff"
        + "0a00" "00" "80" "06" "000000" + "00000000" "00000000"
        + "ff" * 32 + "00" * 32 + "00" * 32 + "fdff0000" "00000000" "01" "00" "00" "00"
        + "00000000" + "4400" "0500" + "00" * 16 + "00000000" "33000000" + "0a00" "0000"
        + "00" * 16 + "00000000" "00" "00" "00" "00" + "ffffffff" * 3
    )  # fmt: skip
    text = HEADER + "3 * fe80::1 * TCP 22 AH TRANSPORT * NONE OUTBOUND APPLY 0 ;\n"
    (kernel,) = kernel_policies(read_spd(text, "t.spd")[0])
    assert new_policy(kernel, 1)[16:] == captured


def test_a_bidirect_policy_is_one_xfrm_policy_each_way() -> None:
    out, into = kernel_policies(read_spd(SPD, "Test.spd")[0])
    assert out.selector == Selector(IPv6Address(HOST2), None, None, None, None)
    assert into.selector == Selector(None, IPv6Address(HOST2), None, None, None)
    assert (out.direction, into.direction) == (1, 0)
    assert out.priority == into.priority == 0x10000 - 2


# -- the rules ---------------------------------------------------------------------------


def test_configuration_3s_rules() -> None:
    policies = read_spd(SPD, "Test.spd")
    text = ruleset(policies, {}, {"eth0": 1500, "eth1": 9000}, 24)
    lines = text.splitlines()
    assert lines[0] == "*mangle" and lines[-1] == "COMMIT"
    queued = [line for line in lines if "NFQUEUE" in line]
    assert queued == [
        f"-A IPSEC6-OUT -m comment --comment ipsec6-policy-2 -d {HOST2}/128 "
        "-j NFQUEUE --queue-num 4302",
        f"-A IPSEC6-IN -m comment --comment ipsec6-policy-2 -s {HOST2}/128 "
        "-j NFQUEUE --queue-num 4302",
    ]
    clamps = [line for line in lines if "TCPMSS" in line]
    assert [c.split()[-1] for c in clamps] == ["1416", "8916"]  # MTU - 40 - 20 - 24
    assert all("-o eth" in c and "--tcp-flags SYN,RST SYN" in c for c in clamps)


def test_ports_and_directions_become_matches() -> None:
    text = HEADER + "3 * * 80 TCP * AH TRANSPORT * NONE INBOUND APPLY 0 ;\n"
    lines = ruleset(read_spd(text, "t.spd"), {}, {"eth0": 1500}, 24).splitlines()
    assert [line for line in lines if "NFQUEUE" in line] == [
        "-A IPSEC6-IN -m comment --comment ipsec6-policy-3 -p tcp --sport 80 "
        "-j NFQUEUE --queue-num 4302"
    ]


# -- the active lists -------------------------------------------------------------------


def test_the_active_lists_grow_and_shrink_by_the_rules() -> None:
    policies = read_spd(SPD, "Test.spd")
    sas = read_sad(SAD, "Test.sad", policies, KEYS)
    active = Active().add(policies, sas)
    assert Active.from_json(active.to_json()) == active
    with pytest.raises(IpsecFileError, match="policy 2 is already active"):
        active.add(policies[:1], [])
    with pytest.raises(IpsecFileError, match="SA 2, 1 belong to policy 2"):
        active.delete("sp", 2)
    emptied = active.delete("sa", 2).delete("sa", 1).delete("sp", 2).delete("sp", 1)
    assert emptied.empty
    with pytest.raises(IpsecFileError, match="no active SA 9"):
        active.delete("sa", 9)
    only = Active().only(2, policies, sas)
    assert [p.index for p in only.policies] == [2] and len(only.associations) == 2


def test_two_inbound_sas_with_one_spi_and_address_are_refused() -> None:
    policies = read_spd(SPD, "Test.spd")
    twice = SAD.replace(
        f"2 3001 {HOST2} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key OUTBOUND",
        f"2 3000 {HOST1} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key INBOUND",
    )
    sas = read_sad(twice, "Test.sad", policies, KEYS)
    with pytest.raises(IpsecFileError, match="SAs 2 and 1 are both INBOUND for SPI 3000"):
        Active().add(policies, sas)


def test_a_policy_order_and_reference_hold_across_files() -> None:
    policies = read_spd(SPD, "Test.spd")
    active = Active().add(policies, [])
    more = read_spd(HEADER + "5 * * * TCP * NONE NONE * NONE BIDIRECT DISCARD 0 ;\n", "b.spd")
    merged = active.add(more, [])
    assert [p.index for p in merged.policies] == [5, 2, 1]
    assert isinstance(merged.policies[0], Policy)
