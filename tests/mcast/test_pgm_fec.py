"""PGM's forward error correction, pure: the parity code against OpenPGM's own
encoder (an independent implementation, built here from libpgm.a), and any k
of a group's packets and parity packets rebuilding the rest, options included."""

from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
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
    Spm,
    decode_pgm_untrusted,
    encode_pgm,
)
from mcast.pgm._pgmfec import FecConfig, FecError, group_of, make_parity, parity_number, rebuild
from mcast.pgm._pgmreceiver import Receiver, ReceiverConfig
from mcast.pgm._pgmsource import Source, SourceConfig
from tests.mcast.test_pgm_machines import GROUP, GSI, SOURCE, Link, Listener, apdus

HEADER = Header(4000, 7500, bytes(range(6)))
LIBPGM = Path("/usr/lib/x86_64-linux-gnu/libpgm.a")


@pytest.fixture(scope="module")
def openpgm_rs(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (scripts/check installs it)"
    assert LIBPGM.exists(), "libpgm-dev is needed (scripts/check installs it)"
    binary: Path = tmp_path_factory.mktemp("openpgm") / "pgm_rs_oracle"
    source = Path(__file__).with_name("pgm_rs_oracle.c")
    subprocess.run([gcc, "-O1", "-o", str(binary), str(source), str(LIBPGM), "-lpthread",
                    "-lm"], check=True)  # fmt: skip
    return binary


def group(first: int, payloads: list[bytes], fragments: list[Fragment | None] | None = None
          ) -> list[Data]:  # fmt: skip
    fragments = fragments or [None] * len(payloads)
    return [Data(HEADER, first + i, first, p, options=Options(fragment=f))
            for i, (p, f) in enumerate(zip(payloads, fragments, strict=True))]  # fmt: skip


@pytest.mark.parametrize("k, n, size", [(2, 3, 1), (4, 8, 1400), (8, 255, 100), (16, 20, 7),
                                        (128, 255, 64)])  # fmt: skip
def test_the_parity_is_openpgm_s_byte_for_byte(openpgm_rs: Path, k: int, n: int,
                                               size: int) -> None:  # fmt: skip
    """OpenPGM's pgm_rs_encode (its reed_solomon.c, compiled from the distribution's
    libpgm.a) and the toolkit's parity agree on every row of the code."""
    rng = random.Random(k * 1000 + n)
    payloads = [rng.randbytes(size) for _ in range(k)]
    command = [str(openpgm_rs), str(n), str(k), str(size)]
    theirs = subprocess.run(command, input=b"".join(payloads), capture_output=True,
                            check=True).stdout  # fmt: skip
    packets = group(0, payloads)
    for h in range(n - k):
        ours = make_parity(packets, h, n, repair=False, trail=0).payload
        assert ours == theirs[h * size : (h + 1) * size], f"row {k + h}"


def test_parity_packets_are_numbered_as_rfc_3208_says() -> None:
    """Parity h of the group at 64: sequence number 64 | (h mod k), OPT_PARITY_GRP
    h div k when h >= k; the OPT_PARITY bit; ODATA proactively, RDATA on demand."""
    packets = group(64, [b"a" * 10] * 4)
    first = make_parity(packets, 1, 12, repair=False, trail=60)
    assert (first.sqn, first.options.parity_grp, first.repair) == (65, None, False)
    assert first.header.parity and not first.header.var_pktlen and first.trail == 60
    later = make_parity(packets, 6, 12, repair=True, trail=60)
    assert (later.sqn, later.options.parity_grp, later.repair) == (66, 1, True)
    assert parity_number(later, 4) == 6 and group_of(later.sqn, 4) == 64
    assert decode_pgm_untrusted(encode_pgm(later)) == later


def test_different_lengths_are_padded_and_their_lengths_appended_as_openpgm_does(
    openpgm_rs: Path,
) -> None:  # fmt: skip
    """OPT_VAR_PKTLEN: each packet padded with zeros to the longest, its length
    appended as OpenPGM's uint16_t (little-endian here): the parity is OpenPGM's
    encoding of exactly those blocks, and rebuilding gives the short packet back."""
    payloads = [b"abc", b"", b"de", b"f"]
    parity = make_parity(group(0, payloads), 0, 6, repair=False, trail=0)
    assert parity.header.var_pktlen and len(parity.payload) == 3 + 2
    blocks = b"".join(p.ljust(3, b"\0") + len(p).to_bytes(2, "little") for p in payloads)
    theirs = subprocess.run([str(openpgm_rs), "6", "4", "5"], input=blocks,
                            capture_output=True, check=True).stdout  # fmt: skip
    assert parity.payload == theirs[:5]
    packets = group(0, payloads)
    rebuilt = rebuild(4, 6, {1: packets[1], 2: packets[2], 3: packets[3]}, {0: parity})
    assert rebuilt == [Data(HEADER, 0, 0, b"abc", repair=True)]


payloads = st.lists(st.binary(max_size=40), min_size=1)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([2, 4, 8, 16]), st.integers(1, 30), st.data())
def test_any_k_of_n_rebuild_the_group(k: int, extra: int, data: st.DataObject) -> None:
    n = min(255, k + extra)
    same = data.draw(st.booleans())
    if same:
        size = data.draw(st.integers(0, 30))
        contents = [data.draw(st.binary(min_size=size, max_size=size)) for _ in range(k)]
    else:
        contents = [data.draw(st.binary(max_size=30)) for _ in range(k)]
    fragments: list[Fragment | None] = [
        data.draw(st.none() | st.builds(Fragment, st.integers(0, 2**32 - 1),
                                        st.integers(0, 99), st.integers(100, 10**6)))
        for _ in range(k)
    ]  # fmt: skip
    first = data.draw(st.integers(0, 2**26 - 1)) * k
    packets = group(first, contents, fragments)
    packets[0] = Data(HEADER, first, first, contents[0], options=Options(
        fragment=fragments[0], syn=data.draw(st.booleans())))  # fmt: skip
    lost = data.draw(st.sets(st.integers(0, k - 1), min_size=1, max_size=min(k, n - k)))
    hs = data.draw(st.lists(st.integers(0, n - k - 1), min_size=len(lost), max_size=len(lost),
                            unique=True))  # fmt: skip
    syn = packets[0].options.syn
    parity = {h: make_parity(packets, h, n, repair=True, trail=first, syn=syn) for h in hs}
    wire = {h: decode_pgm_untrusted(encode_pgm(p)) for h, p in parity.items()}
    assert wire == parity  # what crosses the wire is what was made
    have = {i: p for i, p in enumerate(packets) if i not in lost}
    rebuilt = rebuild(k, n, have, parity)
    expected = [Data(HEADER, p.sqn, first, p.payload, repair=True, options=Options(
        fragment=p.options.fragment, syn=p.options.syn)) for i, p in enumerate(packets)
        if i in lost]  # fmt: skip
    assert rebuilt == expected


def test_too_few_packets_rebuild_nothing() -> None:
    packets = group(0, [b"x"] * 4)
    parity = {0: make_parity(packets, 0, 8, repair=True, trail=0)}
    with pytest.raises(ValueError, match="2 packets and 1 parity"):
        rebuild(4, 8, {0: packets[0], 1: packets[1]}, parity)


def test_parity_a_peer_garbled_is_refused_not_believed() -> None:
    packets = group(0, [b"abc", b"d", b"ef", b"g"])
    good = make_parity(packets, 0, 8, repair=True, trail=0)
    other = make_parity(packets, 1, 8, repair=True, trail=0)
    short = Data(other.header, other.sqn, 0, other.payload[:-1], repair=True)
    with pytest.raises(FecError, match="differ in length"):
        rebuild(4, 8, {0: packets[0], 1: packets[1]}, {0: good, 1: short})
    garbled = Data(good.header, good.sqn, 0, good.payload[:-2] + b"\xff\xff", repair=True)
    with pytest.raises(FecError, match="rebuilt length"):
        rebuild(4, 8, {1: packets[1], 2: packets[2], 3: packets[3]}, {0: garbled})
    same = Data(HEADER, 0, 0, b"toolong", repair=True)
    with pytest.raises(FecError):
        rebuild(4, 8, {0: same, 1: packets[1], 2: packets[2]}, {0: good})


@pytest.mark.parametrize("config, words", [
    (dict(group_size=6, block_size=10, ondemand=True), "2, 4, 8"),
    (dict(group_size=256, ondemand=True), "2, 4, 8"),
    (dict(group_size=8, block_size=8, ondemand=True), "9 to 255"),
    (dict(group_size=8, block_size=10, proactive=3), "at most 2"),
    (dict(group_size=8, block_size=10), "proactively, on demand"),
])  # fmt: skip
def test_rm_fec_info_is_checked(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FecConfig(**config)


# -- the machines, on the simulated lossy link of test_pgm_machines ----------------


def fec_session(fec: FecConfig | None, *, loss: float, receivers: int, seed: int,
                need_syn: bool = False) -> Link:  # fmt: skip
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, rate=10**7, fec=fec), now=0.0)
    listeners = []
    for index in range(receivers):
        rng = random.Random(seed * 100 + index)
        config = ReceiverConfig(GROUP, 7500, need_syn=need_syn)  # no FEC setting: it follows
        listeners.append(Listener(Receiver(config, (GSI, 4000), rng.random), loss))
    return Link(source, listeners, seed)


def repairs(link: Link) -> int:
    s = link.source.statistics
    return s.repairs_sent + s.parity_repairs_sent + s.parity_sent


@pytest.mark.parametrize("seed", [1, 2])
def test_on_demand_parity_repairs_different_losses_with_fewer_packets(seed: int) -> None:
    """The seeds' promise: eight receivers each losing 2 % of packets independently
    are made whole with at most half the repair packets selective repair needs,
    because one parity packet repairs a different loss at each receiver."""
    data = [n.to_bytes(4, "big") + bytes(600) for n in range(2000)]
    runs = {}
    for name, fec in (("selective", None), ("fec", FecConfig(32, 255, ondemand=True))):
        link = fec_session(fec, loss=0.02, receivers=8, seed=seed)
        link.run(data, until=600.0)
        for listener in link.listeners:
            assert listener.delivered == data and not listener.lost, name
        runs[name] = link
    fec_link = runs["fec"]
    assert repairs(fec_link) * 2 <= repairs(runs["selective"]), (
        repairs(fec_link), repairs(runs["selective"]))  # fmt: skip
    assert fec_link.source.statistics.parity_repairs_sent > 0
    rebuilt = sum(x.receiver.statistics.fec_rebuilt for x in fec_link.listeners)
    assert rebuilt > 0 and all(x.receiver.fec is not None for x in fec_link.listeners)
    assert sum(x.receiver.statistics.parity_naks_sent for x in fec_link.listeners) > 0
    stats = fec_link.listeners[0].receiver.rm_statistics(fec_link.now)
    assert stats.TotalParityNaksSent == fec_link.listeners[0].receiver.statistics.parity_naks_sent


def test_proactive_parity_repairs_without_asking() -> None:
    """Two proactive parity packets a group of 8: a receiver losing at most two of a
    group (packets dropped on purpose, no random loss) never NAKs."""
    data = [n.to_bytes(4, "big") + bytes(100) for n in range(64)]
    link = fec_session(FecConfig(8, 12, proactive=2), loss=0.0, receivers=2, seed=3)
    link.listeners[0].drops = {1, 2, 9, 17, 23, 40, 47}
    link.listeners[1].drops = {0, 31, 30}
    link.run(data)
    for listener in link.listeners:
        assert listener.delivered == data and not listener.lost
        assert listener.receiver.statistics.naks_sent == 0
    assert link.source.statistics.parity_sent == 2 * (65 // 8)  # whole groups (FIN's too)
    assert link.listeners[0].receiver.statistics.fec_rebuilt == 7


def test_messages_in_fragments_and_the_first_packet_come_back_from_parity() -> None:
    """APDUs of up to 9 KB (OPT_FRAGMENT in most packets) and the session's first
    packet (OPT_SYN, which a receiver that needs the beginning checks) lost by every
    receiver: rebuilt from parity with their options."""
    data = apdus(120)
    link = fec_session(FecConfig(4, 8, proactive=1, ondemand=True), loss=0.03, receivers=3,
                       seed=5, need_syn=True)  # fmt: skip
    for listener in link.listeners:
        listener.drops = {0, 1}
    link.run(data, until=600.0)
    for listener in link.listeners:
        assert listener.delivered == data and not listener.lost
        assert listener.receiver.statistics.fec_rebuilt > 0


def test_loss_in_a_group_not_yet_whole_is_repaired_selectively() -> None:
    """The session's last group is short (the source makes parity of whole groups
    only): its loss is NAKed selectively, never with a parity NAK."""
    data = [bytes([n]) * 50 for n in range(10)]  # 10 packets and FIN: groups of 8, then 3
    link = fec_session(FecConfig(8, 16, ondemand=True), loss=0.0, receivers=1, seed=1)
    link.listeners[0].drops = {9}
    link.run(data)
    listener = link.listeners[0]
    assert listener.delivered == data
    assert listener.receiver.statistics.parity_naks_sent == 0
    assert link.source.statistics.repairs_sent == 1


def test_a_parity_nak_the_source_cannot_answer_is_counted() -> None:
    header = Header(7500, 4000, GSI, parity=True)
    plain = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE), now=0.0)
    assert plain.receive(Nak(header, PgmType.NAK, 3, SOURCE, GROUP), 0.0) == []
    assert plain.statistics.parity_naks_refused == 1
    fec = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, fec=FecConfig(
        4, 8, ondemand=True)), now=0.0)  # fmt: skip
    for n in range(6):
        fec.send(bytes([n]))
    fec.tick(1.0)
    assert fec.receive(Nak(header, PgmType.NAK, 4 | 1, SOURCE, GROUP), 1.0) == []  # not whole
    assert fec.statistics.naks_outside_window == 1
    (ncf,) = fec.receive(Nak(header, PgmType.NAK, 0 | 1, SOURCE, GROUP), 1.0)
    assert isinstance(ncf.packet, Nak) and ncf.packet.header.parity and ncf.packet.sqn == 1
    sent = [t.packet for t in fec.tick(1.1)]
    parity = [p for p in sent if isinstance(p, Data) and p.header.parity]
    assert [(p.sqn, p.repair) for p in parity] == [(0, True), (1, True)]  # h 0 and 1, RDATA
    with pytest.raises(ValueError, match="begins a group of 4"):
        SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, first_sqn=6, fec=FecConfig(4, 8, 1))


def test_parity_a_peer_forged_falls_back_to_selective_repair() -> None:
    """Parity packets garbled on the way (a length no packet had) rebuild nothing;
    the group is counted as failed and repaired selectively, and all arrives."""
    data = [bytes([n]) * (n + 1) for n in range(40)]
    link = fec_session(FecConfig(8, 12, proactive=1), loss=0.0, receivers=1, seed=2)
    link.listeners[0].drops = {3, 12}
    carry = link.carry

    def garble(packet: Any, to: Listener) -> Any:
        if isinstance(packet, Data) and packet.header.parity:
            packet = dataclasses.replace(packet, payload=packet.payload[:-2] + b"\xff\xff")
        return carry(packet, to)

    link.carry = garble  # type: ignore[method-assign]
    link.run(data)
    listener = link.listeners[0]
    assert listener.delivered == data and not listener.lost
    assert listener.receiver.statistics.fec_failures == 2
    assert link.source.statistics.repairs_sent == 2


def test_parity_that_never_comes_falls_back_to_selective_repair() -> None:
    """A source that confirms parity NAKs but whose parity never arrives (lost, or
    broken on the way: Debian's OpenPGM sends it with bad checksums): after
    PARITY_TRIES parity NAKs for a group its loss is asked for selectively."""
    data = [bytes([n]) * 80 for n in range(40)]
    link = fec_session(FecConfig(8, 16, ondemand=True), loss=0.0, receivers=1, seed=4)
    link.listeners[0].drops = {3, 20}
    carry = link.carry

    def no_parity(packet: Any, to: Listener) -> Any:
        if isinstance(packet, Data) and packet.header.parity:
            return None
        return carry(packet, to)

    link.carry = no_parity  # type: ignore[method-assign]
    link.run(data)
    listener = link.listeners[0]
    assert listener.delivered == data and not listener.lost
    statistics = listener.receiver.statistics
    assert statistics.parity_timeouts == 2 and statistics.parity_naks_sent == 2 * 3
    assert link.source.statistics.repairs_sent == 2


def test_naks_for_a_repair_on_its_way_get_an_ncf_only() -> None:
    """Several receivers NAK one loss within their back-off: the repair that went
    less than nak_elimination ago serves them all (NCF only); a NAK after that is a
    receiver that lost the repair too, and gets another. Selective and parity."""
    header = Header(7500, 4000, GSI)
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, nak_elimination=0.02,
                                 fec=FecConfig(4, 8, ondemand=True)), now=0.0)  # fmt: skip
    for n in range(4):
        source.send(bytes([n]) * 10)
    source.tick(0.0)

    def answers(nak: Nak, at: float) -> tuple[int, list[Data]]:
        ncfs = source.receive(nak, at)
        return len(ncfs), [t.packet for t in source.tick(at) if isinstance(t.packet, Data)]

    selective = Nak(header, PgmType.NAK, 2, SOURCE, GROUP)
    assert [p.sqn for p in answers(selective, 1.0)[1]] == [2]
    assert answers(selective, 1.01) == (1, [])  # on its way: an NCF, no second repair
    assert [p.sqn for p in answers(selective, 1.05)[1]] == [2]
    parity = Nak(dataclasses.replace(header, parity=True), PgmType.NAK, 0 | 1, SOURCE, GROUP)
    assert len(answers(parity, 2.0)[1]) == 2  # two parity packets for two lost
    assert answers(parity, 2.01) == (1, [])
    one_more = Nak(parity.header, PgmType.NAK, 0 | 2, SOURCE, GROUP)  # three: one more
    assert [p.sqn & 3 for p in answers(one_more, 2.015)[1]] == [2]
    assert source.statistics.naks_eliminated == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), st.binary(max_size=60),
                          st.booleans(), st.none() | st.integers(0, 2**32 - 1),
                          st.none() | st.binary(min_size=13, max_size=13)),
                max_size=40))  # fmt: skip
def test_forged_parity_never_breaks_a_receiver(forged: list[Any]) -> None:
    """Parity a peer makes up (any sequence number, length, variable-length bit,
    OPT_PARITY_GRP, encoded fragment), mixed into a real session: the receiver
    neither raises nor holds more than its bounds, and whatever it counts as
    rebuilt or failed it counts."""
    packets = group(0, [bytes([n]) * 20 for n in range(16)])
    receiver = Receiver(ReceiverConfig(GROUP, 7500, max_buffered=64), (GSI, 4000),
                        random.Random(1).random)  # fmt: skip
    spm = Spm(Header(4000, 7500, GSI), 0, 0, 15, SOURCE, Options(
        parity_prm=ParityPrm(4, False, True)))  # fmt: skip
    receiver.receive(spm, 0.0)
    for index, (sqn, grp, payload, var, parity_grp, fragment) in enumerate(forged):
        if index < len(packets) and index % 3:
            receiver.receive(dataclasses.replace(packets[index], header=Header(4000, 7500, GSI)),
                             0.1)  # fmt: skip
        header = Header(4000, 7500, GSI, parity=True, var_pktlen=var)
        fake = Data(header, sqn + grp, 0, payload, repair=True,
                    options=Options(parity_grp=parity_grp, encoded_fragment=fragment))  # fmt: skip
        receiver.receive(decode_pgm_untrusted(encode_pgm(fake)), 0.2)
        receiver.tick(0.3)
    assert sum(len(p) for p in receiver.parity.values()) <= 64
    assert len(receiver.buffer) <= 64


def test_a_loss_waits_for_its_group_then_one_parity_nak_asks() -> None:
    """A slow source (a group of 8 takes about a quarter of a second to send): two
    losses early in a group wait past their NAK back-off for the group to be sent
    whole, then one parity NAK asks for both; no selective NAK goes."""
    data = [bytes([n]) * 100 for n in range(20)]
    source = Source(SourceConfig(GSI, 4000, 7500, GROUP, SOURCE, rate=5_000,
                                 fec=FecConfig(8, 16, ondemand=True)), now=0.0)  # fmt: skip
    config = ReceiverConfig(GROUP, 7500)
    listener = Listener(Receiver(config, (GSI, 4000), random.Random(1).random), 0.0)
    listener.drops = {1, 2}
    link = Link(source, [listener], 1)
    link.run(data)
    statistics = listener.receiver.statistics
    assert listener.delivered == data and not listener.lost
    assert statistics.nak_sqns_sent == 0 and statistics.parity_naks_sent == 2
    assert statistics.fec_rebuilt == 2 and link.source.statistics.repairs_sent == 0
