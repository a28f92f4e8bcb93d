"""The translator's eBPF program against its reference, packet by packet.

``BPF_PROG_TEST_RUN`` runs the program (``ipv6/translate/bpf/xlat.o``, its
Ethernet-framed twin: the same C function) on a packet buffer, without any
network. Each packet also goes through the userspace plane's fast path for
remembered flows (``_fastpath``), the program's reference, in a translator
that has been through the same packets: where the reference translates, the
program must give the same bytes and put the packet into the device
(TC_ACT_REDIRECT); where the reference leaves the packet to the full path,
the program must leave it untouched to the userspace plane (TC_ACT_OK), and
count it. The packets are the RFC 7915 / RFC 6146 conformance table's
(``translation_table``, made with scapy), then hypothesis's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from ipaddress import IPv4Network
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from ipv6._checksum import checksum
from ipv6.translate._ebpf import SECTION_ETH, KernelFlows
from ipv6.translate._siit import Translator
from ipv6.translate._spec import TranslatorSpec, check, make_translator
from tests.ipv6 import translation_table as table

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_feature("ebpf_tc")]

FIXTURE = [HealthCheck.function_scoped_fixture]  # the loaded program, shared on purpose
CASES = [c for req in table.TABLE for c in req.checks if isinstance(c, table.Case)]
TC_ACT_OK, TC_ACT_REDIRECT = 0, 7
ETH6 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x86\xdd"
ETH4 = ETH6[:12] + b"\x08\x00"


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelFlows]:
    flows = KernelFlows.load(section=SECTION_ETH)
    try:
        yield flows
    finally:
        flows.close()


def translator(config: Mapping[str, Any], subnets: dict[str, list[str]]) -> Translator:
    spec = TranslatorSpec(name="t", **config)
    nets = {name: [IPv4Network(n) for n in found] for name, found in subnets.items()}
    check(spec, subnets=nets, names=set())
    return make_translator(spec)


def both(kernel: KernelFlows, t: Translator, packet: bytes, now: float) -> tuple[object, object]:
    """(the reference's answer, the program's), for one packet of translator ``t``."""
    kernel.loaded.maps["flows4"].clear()
    kernel.loaded.maps["flows6"].clear()
    kernel.counts.clear()
    kernel.configure(ifindex=42, mtu6=t.mtu6, mtu=t.mtu)
    kernel.set_ident(t._ident)
    kernel.mirror(t.flows, now)
    t.flows.observer = None
    six = bool(packet) and packet[0] >> 4 == 6
    quick = (t.fast_from_v6 if six else t.fast_from_v4)(packet, now)
    before = kernel.counters()["to_userspace"]
    run = kernel.loaded.test_run(SECTION_ETH, (ETH6 if six else ETH4) + packet)
    if run.retval == TC_ACT_OK:
        assert run.data[14:] == packet, "a packet left to userspace must be untouched"
        assert kernel.counters()["to_userspace"] == before + 1
        theirs: object = None
    else:
        assert run.retval == TC_ACT_REDIRECT, run.retval
        assert run.data[12:14] == (ETH4 if six else ETH6)[12:14], "the frame's type follows"
        theirs = run.data[14:]
    return (None if quick is None else bytes(quick)), theirs


def replayed(case: table.Case) -> tuple[Translator, bytes, float]:
    t = translator(case.config, case.subnets)
    for sent in (*case.before, case.send):
        t.expire(sent.at)
        data = sent.packet if isinstance(sent.packet, bytes) else raw(sent.packet)
        (t.from_v6 if sent.family == "6" else t.from_v4)(data, sent.at)
    data = case.send.packet if isinstance(case.send.packet, bytes) else raw(case.send.packet)
    return t, data, case.send.at


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_program_gives_the_reference_bytes(kernel: KernelFlows, case: table.Case) -> None:
    t, data, at = replayed(case)
    mine, theirs = both(kernel, t, data, at)
    assert theirs == mine


def test_the_program_takes_the_flows_the_reference_takes(kernel: KernelFlows) -> None:
    """Enough of the table's packets are translated in the kernel for the
    comparison above to mean something (the same bound as the fast path's)."""
    taken = []
    for case in CASES:
        t, data, at = replayed(case)
        if both(kernel, t, data, at)[1] is not None:
            taken.append(case.name)
    assert len(taken) >= 25, taken


# -- hypothesis: remembered flows, then packets that vary what the program reads --

H6, R6 = "2001:db8::10", "64:ff9b:1::c633:6407"  # an IPv6 host, and 198.51.100.7 embedded
NAT64: dict[str, Any] = {"mode": "nat64", "prefix": "64:ff9b:1::/96", "pool": "192.0.2.0/30"}
SIIT: dict[str, Any] = {"mode": "siit", "prefix": "64:ff9b:1::/96", "pool": "198.51.100.0/24",
        "pairs": {"192.0.2.10": H6}}  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from(["nat64", "siit"]),
    udp=st.booleans(),
    sport=st.integers(1024, 65535),
    payload=st.binary(max_size=1400),
    hop=st.integers(0, 255),
    tclass=st.integers(0, 255),
    flow=st.integers(0, 0xFFFFF),
    flags=st.sampled_from([0x10, 0x18, 0x11, 0x14, 0x02, 0x12, 0x00]),
    csum=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    cut=st.integers(0, 3),
    ident=st.integers(0, 0xFFFFFFFF),
)
def test_hypothesis_ipv6_to_ipv4(
    kernel: KernelFlows, mode: str, udp: bool, sport: int, payload: bytes, hop: int,
    tclass: int, flow: int, flags: int, csum: int | None, cut: int, ident: int,
) -> None:  # fmt: skip
    t = translator(NAT64 if mode == "nat64" else SIIT, {})
    t._ident = ident
    src, dst = H6, R6
    if udp:
        t.from_v6(raw(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=53) / b"x"), 0.0)
    else:  # SYN, SYN-ACK, ACK: the session is established, its flow remembered
        syn = t.from_v6(raw(IPv6(src=src, dst=dst) / TCP(sport=sport, dport=80, flags="S")), 0.0)
        (out,) = syn.packets
        pool, port = IP(out).src, IP(out)[TCP].sport
        answer = IP(src="198.51.100.7", dst=pool) / TCP(sport=80, dport=port, flags="SA")
        t.from_v4(raw(answer), 0.1)
        t.from_v6(raw(IPv6(src=src, dst=dst) / TCP(sport=sport, dport=80, flags="A")), 0.2)
    body = UDP(sport=sport, dport=53) if udp else TCP(sport=sport, dport=80, flags=flags)
    if csum is not None:
        body.chksum = csum
    packet = IPv6(src=src, dst=dst, hlim=hop, tc=tclass, fl=flow) / body / payload
    data = raw(packet)
    data = data[: len(data) - cut] if cut < len(data) else data  # a length that lies
    mine, theirs = both(kernel, t, data, 0.3)
    assert theirs == mine


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from(["nat64", "siit"]),
    sport=st.integers(1024, 65535),
    payload=st.binary(max_size=1500),
    ttl=st.integers(0, 255),
    tos=st.integers(0, 255),
    df=st.booleans(),
    frag=st.sampled_from([0, 0, 0, 1, 0x2000]),
    csum=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    options=st.booleans(),
)
def test_hypothesis_ipv4_to_ipv6(
    kernel: KernelFlows, mode: str, sport: int, payload: bytes, ttl: int, tos: int, df: bool,
    frag: int, csum: int | None, options: bool,
) -> None:  # fmt: skip
    t = translator(NAT64 if mode == "nat64" else SIIT, {})
    first = IPv6(src=H6, dst=R6) / UDP(sport=sport, dport=53) / b"q"
    t.from_v6(raw(first), 0.0)
    ((_, _, entry),) = t.flows.items(to4=True)
    pool = ".".join(str(b) for b in entry[1])
    port = int.from_bytes(entry[3][:2], "big")
    answer = IP(src="198.51.100.7", dst=pool, ttl=64) / UDP(sport=53, dport=port) / b"a"
    t.from_v4(raw(answer), 0.1)  # the way back is remembered
    body = UDP(sport=53, dport=port)
    if csum is not None:
        body.chksum = csum
    ip = IP(src="198.51.100.7", dst=pool, ttl=ttl, tos=tos, flags="DF" if df else 0)
    if options:
        ip.options = [b"\x01\x01\x01\x00"]  # NOPs and the end: an options field
    made = bytearray(raw(ip / body / payload))
    if frag:  # a fragment's flags and offset, the header checksum made again
        struct.pack_into("!H", made, 6, struct.unpack_from("!H", made, 6)[0] | frag)
        made[10:12] = b"\0\0"
        struct.pack_into("!H", made, 10, checksum(bytes(made[: (made[0] & 0x0F) * 4])))
    packet = bytes(made)
    mine, theirs = both(kernel, t, packet, 0.2)
    assert theirs == mine


# -- the service's bookkeeping of the kernel's copy (real maps, BPF_PROG_TEST_RUN) --


def established(kernel: KernelFlows) -> tuple[Translator, bytes, bytes]:
    """A NAT64 with one established TCP session mirrored into the kernel: (the
    translator, a data packet from the IPv6 host, one from the IPv4 server)."""
    for name in ("flows4", "flows6"):
        kernel.loaded.maps[name].clear()
    kernel.counts.clear()
    kernel.by_session.clear()
    t = translator(NAT64, {})
    kernel.configure(ifindex=42, mtu6=t.mtu6, mtu=t.mtu)
    kernel.mirror(t.flows, 0.0)  # observes from here on, as the service does
    syn = t.from_v6(raw(IPv6(src=H6, dst=R6) / TCP(sport=5000, dport=80, flags="S")), 0.0)
    out = IP(syn.packets[0])
    answer = IP(src="198.51.100.7", dst=out.src) / TCP(sport=80, dport=out[TCP].sport, flags="SA")
    t.from_v4(raw(answer), 0.1)
    t.from_v6(raw(IPv6(src=H6, dst=R6) / TCP(sport=5000, dport=80, flags="A")), 0.2)
    data6 = raw(IPv6(src=H6, dst=R6) / TCP(sport=5000, dport=80, flags="PA") / b"up")
    data4 = raw(
        IP(src="198.51.100.7", dst=out.src) / TCP(sport=80, dport=out[TCP].sport, flags="PA")
        / b"down"
    )  # fmt: skip
    return t, data6, data4


def test_the_kernels_packets_keep_the_session_alive_and_counted(kernel: KernelFlows) -> None:
    t, data6, data4 = established(kernel)
    assert len(kernel.counts) == 2  # one flow each way, written as it was remembered
    ((session, *_),) = [e for _, _, e in t.flows.items(to4=True)]
    before = session.expires
    for _ in range(3):
        assert kernel.loaded.test_run(SECTION_ETH, ETH6 + data6).retval == TC_ACT_REDIRECT
    assert kernel.loaded.test_run(SECTION_ETH, ETH4 + data4).retval == TC_ACT_REDIRECT
    out, back = kernel.refresh(t.flows, 0.3)
    assert (out, back) == (3, 1)
    assert (session.packets_out, session.packets_in) == (3 + 2, 1 + 1)  # and the full path's
    assert session.expires > before
    assert kernel.refresh(t.flows, 0.4) == (0, 0)  # counted once


def test_a_session_that_ends_leaves_the_kernel(kernel: KernelFlows) -> None:
    t, data6, _ = established(kernel)
    ((session, *_),) = [e for _, _, e in t.flows.items(to4=True)]
    fin = raw(IPv6(src=H6, dst=R6) / TCP(sport=5000, dport=80, flags="FA"))
    assert kernel.loaded.test_run(SECTION_ETH, ETH6 + fin).retval == TC_ACT_OK  # the service's
    t.from_v6(fin, 0.5)
    assert session.state != "ESTABLISHED"
    kernel.forget_session(session)  # what the service does after such a packet
    assert kernel.loaded.maps["flows4"].keys() == [] and kernel.loaded.maps["flows6"].keys() == []
    assert kernel.loaded.test_run(SECTION_ETH, ETH6 + data6).retval == TC_ACT_OK


def test_an_expired_session_is_swept_from_the_kernel(kernel: KernelFlows) -> None:
    t, data6, _ = established(kernel)
    far = 1e9  # past any timeout
    t.expire(far)
    kernel.sweep(t.flows, far)
    assert kernel.counts == {}
    assert kernel.loaded.maps["flows4"].keys() == [] and kernel.loaded.maps["flows6"].keys() == []
    assert kernel.loaded.test_run(SECTION_ETH, ETH6 + data6).retval == TC_ACT_OK


def test_clearing_one_way_keeps_the_other(kernel: KernelFlows) -> None:
    _, _, data4 = established(kernel)
    kernel.cleared(to4=True)
    assert kernel.loaded.maps["flows4"].keys() == []
    assert len(kernel.loaded.maps["flows6"].keys()) == 1 and len(kernel.counts) == 1
    assert kernel.loaded.test_run(SECTION_ETH, ETH4 + data4).retval == TC_ACT_REDIRECT


def test_a_batched_read_of_a_map_is_what_key_by_key_reads_give() -> None:
    """``Map.items`` (BPF_MAP_LOOKUP_BATCH, which the service's per-second refresh
    uses) against the kernel's key-by-key walk: an empty map, one past a batch
    (4,096) with the last batch partial, and a per-CPU map."""
    import random

    flows = KernelFlows.load(section=SECTION_ETH)
    try:
        table = flows.loaded.maps["flows4"]
        assert table.items() == {}
        rng = random.Random(7)
        size, value = table.definition.key_size, table.definition.value_size
        for _ in range(4096 + 905):
            table.update(rng.randbytes(size), rng.randbytes(value))
        walked = {key: table.lookup(key) for key in table.keys()}  # noqa: SIM118 -- not a dict
        assert len(walked) == 4096 + 905 and table.items() == walked
        counters = flows.loaded.maps["counters"]
        assert counters.per_cpu
        per_cpu = {key: counters.lookup(key) for key in counters.keys()}  # noqa: SIM118
        assert counters.items() == per_cpu
    finally:
        flows.close()
