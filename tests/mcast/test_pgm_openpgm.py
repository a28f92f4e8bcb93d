"""PGM against an independent implementation: OpenPGM (Debian's libpgm), through
a small C program built here with gcc (tests/mcast/pgm_oracle.c). OpenPGM sends
and the toolkit receives, and the reverse; raw IP protocol 113 and UDP
encapsulation; IPv4 and IPv6; with random loss on the receiver's link, so that
NAKs, NCFs and repairs cross between the two implementations too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.mcast.labs import joined

pytestmark = pytest.mark.needs_root

LAB = """
name = "pgm-openpgm"
[hosts.a]
[hosts.b]
[[links]]
name = "wire"
endpoints = [
  { host = "a", ifname = "eth0", addresses = ["10.9.1.1/24", "2001:db8:91::1/64"], dad = false },
  { host = "b", ifname = "eth0", addresses = ["10.9.1.2/24", "2001:db8:91::2/64"], dad = false },
]
"""
ADDRESS = {("a", 4): "10.9.1.1", ("b", 4): "10.9.1.2",
           ("a", 6): "2001:db8:91::1", ("b", 6): "2001:db8:91::2"}  # fmt: skip
UDP = 3055
LOSS = 0.03


@pytest.fixture(scope="module")
def oracle(tmp_path_factory) -> Path:
    """The C program, compiled against the installed libpgm (libpgm-dev)."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (scripts/check installs it)"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openpgm-5.3"],
                           check=False, capture_output=True, text=True)  # fmt: skip
    assert flags.returncode == 0, "libpgm-dev is needed (scripts/check installs it)"
    binary: Path = tmp_path_factory.mktemp("openpgm") / "pgm_oracle"
    source = Path(__file__).with_name("pgm_oracle.c")
    subprocess.run([gcc, "-O1", "-o", str(binary), str(source), *flags.stdout.split()], check=True)
    return binary


async def lose(host, fraction: float, udp: bool) -> None:
    """Drop ``fraction`` of the PGM that reaches ``host``, at random (both families)."""
    match = ["-p", "udp", "--dport", str(UDP)] if udp else ["-p", "113"]
    for tables in ("iptables", "ip6tables"):
        await host.run([tables, "-A", "INPUT", *match, "-m", "statistic", "--mode", "random",
                        "--probability", str(fraction), "-j", "DROP"])  # fmt: skip


# Raw PGM over IPv4 (a 20-byte IP header): the type at byte 24, an SPM's or
# ODATA's sequence number at byte 36.
FIRST_SPM = "24>>24=0x0 && 36=0x0"
FIRST_ODATA = "24>>24=0x4 && 36=0x0"


CASES = [(v, udp) for v in (4, 6) for udp in (False, True)]
IDS = [f"{'udp' if udp else 'raw'}-ipv{v}" for v, udp in CASES]
GROUPS = {4: "239.192.1.5", 6: "ff3e::8000:1:5"}


async def exchange(lab, tmp_path: Path, udp: bool, group: str, receiver: list[str],
                   sender: list[str], drop: tuple[str, ...] = (),
                   content: bytes | None = None) -> dict[str, Any]:  # fmt: skip
    """b runs ``receiver`` and, once it has joined ``group``, a runs ``sender`` (FILE
    in either: where the data goes, what is sent: ``content``, or 1 MiB at random),
    through LOSS on b's link (or, given ``drop``, the raw IPv4 PGM packets those u32
    matches take, and no other); their outcomes and the files."""
    sent, got = tmp_path / "sent.bin", tmp_path / "got.bin"
    sent.write_bytes(os.urandom(1 << 20) if content is None else content)
    outcome: dict[str, Any] = {}
    async with lab(LAB, text=True) as running:
        if drop:
            for match in drop:
                await running.host("b").run(["iptables", "-A", "INPUT", "-p", "113", "-m", "u32",
                                             "--u32", match, "-j", "DROP"])  # fmt: skip
        else:
            await lose(running.host("b"), LOSS, udp)

        async def receive() -> None:
            argv = [str(got) if word == "FILE" else word for word in receiver]
            outcome["recv"] = await running.host("b").run(argv, check=False)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await joined(running.host("b"), group)
            argv = [str(sent) if word == "FILE" else word for word in sender]
            outcome["send"] = await running.host("a").run(argv, check=False)
    outcome["sent"], outcome["got"] = sent.read_bytes(), got.read_bytes() if got.exists() else b""
    return outcome


def toolkit(verb: str, version: int, udp: bool, *words: str) -> list[str]:
    encapsulation = ["--udp", str(UDP)] if udp else []
    return [sys.executable, "-m", "mcast", "pgm", verb, GROUPS[version], *words, "-p", "7500",
            "-i", "eth0", *encapsulation, "--json"]  # fmt: skip


def openpgm(oracle: Path, verb: str, host: str, version: int, udp: bool, *words: str
            ) -> list[str]:  # fmt: skip
    network = f"{ADDRESS[host, version]};{GROUPS[version]}"
    return [str(oracle), verb, network, "7500", "FILE", str(UDP if udp else 0), *words]


@pytest.mark.parametrize(("version", "udp"), CASES, ids=IDS)
async def test_openpgm_sends_and_the_toolkit_receives(lab, tmp_path, oracle, version, udp) -> None:
    got = await exchange(
        lab, tmp_path, udp, GROUPS[version],
        toolkit("recv", version, udp, "-o", "FILE", "--timeout", "30", "--expiry", "20"),
        openpgm(oracle, "send", "a", version, udp, str(4_000_000)),
    )  # fmt: skip
    assert got["send"].returncode == 0, got["send"].stderr.decode()
    assert got["recv"].returncode == 0, got["recv"].stderr.decode()
    assert got["got"] == got["sent"]
    statistics = json.loads(got["recv"].stdout)
    assert statistics["naks_sent"] > 0 and statistics["repairs_received"] > 0


@pytest.mark.parametrize(("version", "udp"), CASES, ids=IDS)
async def test_the_toolkit_sends_and_openpgm_receives(lab, tmp_path, oracle, version, udp) -> None:
    got = await exchange(
        lab, tmp_path, udp, GROUPS[version],
        openpgm(oracle, "recv", "b", version, udp),
        toolkit("send", version, udp, "FILE", "--rate", "32M", "--linger", "3"),
    )  # fmt: skip
    assert got["send"].returncode == 0, got["send"].stderr.decode()
    assert got["recv"].returncode == 0, got["recv"].stderr.decode()
    assert got["got"] == got["sent"]
    assert int(got["recv"].stdout.split()[0]) == len(got["sent"])
    statistics = json.loads(got["send"].stdout)
    assert statistics["naks_received"] > 0 and statistics["repairs_sent"] > 0


async def test_openpgm_recovers_what_it_lost_before_the_sources_spm_reached_it(
    lab, tmp_path, oracle
) -> None:
    """The session's first SPM and first ODATA lost: a receiver that has had no SPM
    cannot NAK, and OpenPGM gives such data up at once (a reset, once in about 30
    runs of the random-loss tests above). The toolkit's source sends an SPM before
    each of its first ODATA, so OpenPGM still learns where the window begins and
    asks for what it lost."""
    got = await exchange(
        lab, tmp_path, False, GROUPS[4],
        openpgm(oracle, "recv", "b", 4, False),
        toolkit("send", 4, False, "FILE", "--rate", "32M", "--linger", "3"),
        drop=(FIRST_SPM, FIRST_ODATA),
    )  # fmt: skip
    assert got["recv"].returncode == 0, got["recv"].stderr.decode()
    assert got["got"] == got["sent"]
    statistics = json.loads(got["send"].stdout)
    assert statistics["naks_received"] >= 1 and statistics["repairs_sent"] >= 1


def lines(count: int) -> bytes:
    """Lines of many lengths: as messages, each group's parity covers packets of
    different sizes (OPT_VAR_PKTLEN)."""
    return b"".join(b"%d " % n + os.urandom(n * 37 % 400).hex().encode() + b"\n"
                    for n in range(count))  # fmt: skip


@pytest.mark.parametrize(("version", "udp"), [(4, False), (6, True)], ids=["raw-ipv4", "udp-ipv6"])
async def test_openpgm_takes_the_toolkits_fec_session_and_repairs_it_selectively(
    lab, tmp_path, oracle, version, udp
) -> None:
    """The toolkit's on-demand FEC to Debian's OpenPGM (5.3.128): OpenPGM reads the
    SPMs' OPT_PARITY_PRM without complaint but never sends a parity NAK; it asks
    selectively, the toolkit's source answers so, and the file arrives whole."""
    sent = lines(3000)
    got = await exchange(
        lab, tmp_path, udp, GROUPS[version],
        openpgm(oracle, "recv", "b", version, udp),
        toolkit("send", version, udp, "FILE", "--rate", "32M", "--linger", "3",
                "--message-mode", "--fec", "8/16", "--ondemand"),
        content=sent,
    )  # fmt: skip
    assert got["send"].returncode == 0, got["send"].stderr.decode()
    assert got["recv"].returncode == 0, got["recv"].stderr.decode()
    assert got["got"] == sent
    statistics = json.loads(got["send"].stdout)
    assert statistics["naks_received"] > 0 and statistics["repairs_sent"] > 0, statistics
    assert statistics["parity_naks_received"] == 0, statistics


async def test_what_debians_openpgm_does_with_fec(lab, tmp_path, oracle) -> None:
    """Where OpenPGM 5.3.128 (libpgm-dev) does not work with FEC, what it does, as
    docs/multicast.md says: its receiver aborts at the first loss once proactive
    parity arrives (an assertion in rxw.c). Its sender with FEC (on demand, or
    proactive) sends its parity RDATA with a wrong PGM checksum (the toolkit drops
    them as malformed; on demand, it answers parity NAKs with parity NCFs, and the
    toolkit gives up parity for those groups and asks selectively) and leaves most
    selective NAKs unrepaired, so the session cannot complete."""
    proactive = await exchange(
        lab, tmp_path, False, GROUPS[4],
        openpgm(oracle, "recv", "b", 4, False),
        toolkit("send", 4, False, "FILE", "--rate", "32M", "--linger", "3",
                "--fec", "8/16", "--proactive", "1"),
    )  # fmt: skip
    assert proactive["send"].returncode == 0, proactive["send"].stderr.decode()
    said = proactive["recv"].stdout + proactive["recv"].stderr
    assert proactive["recv"].returncode == -6 and b"Fatal: file rxw.c" in said, said  # SIGABRT
    for fec, parity_naks in (("8/16/0/1", True), ("8/16/2/0", False)):
        # OpenPGM's FEC sender: on demand, then proactive
        sent = await exchange(
            lab, tmp_path, False, GROUPS[4],
            toolkit("recv", 4, False, "-o", "FILE", "--timeout", "30", "--expiry", "10"),
            ["env", f"PGM_ORACLE_FEC={fec}", *openpgm(oracle, "send", "a", 4, False,
                                                      str(4_000_000))],
        )  # fmt: skip
        assert sent["send"].returncode == 0, (fec, sent["send"].stderr.decode())
        assert sent["recv"].returncode == 5, (fec, sent["recv"].stderr.decode())
        statistics = json.loads(sent["recv"].stdout)
        assert statistics["parity_received"] == 0, (fec, statistics)
        assert statistics["faults"]["malformed"] > 0, (fec, statistics)  # its parity RDATA
        assert statistics["naks_sent"] > statistics["repairs_received"], (fec, statistics)
        if parity_naks:
            assert statistics["parity_naks_sent"] > 0 and statistics["ncfs_received"] > 0
            assert statistics["parity_timeouts"] > 0, statistics
