"""Goodput of a PGM transfer to three receivers on one lab LAN, with 0 % and 1 %
random loss on the receivers' links: the toolkit (mcast pgm) against OpenPGM
(Debian's libpgm, through the tests' C program) at the same rate setting, and
both against the LAN's UDP multicast capacity that iperf2 measures in the same
run. Then FEC (--part fec): eight receivers each losing 2 % independently, the
repair packets sent and the goodput of the toolkit with on-demand parity, of
the toolkit with selective repairs only, and of OpenPGM (selective: its FEC
does not work, docs/multicast.md).

One lab (s sends; r1, r2, r3 receive; one bridge), one run. Each round, in
turn: iperf2 UDP multicast at full speed for --seconds; then for each loss,
the toolkit and OpenPGM each move a file of --size MB from s to the three
receivers. Goodput is the file's size over the time from the sender's start to
the last octet at the last receiver; every received file is checked against
the sent one. Medians of the rounds; ratios to the capacity and to OpenPGM.

    sudo .venv/bin/python bench/pgm_goodput.py [--size 100] [--rate 50M] [--rounds 2]
    sudo .venv/bin/python bench/pgm_goodput.py --part fec [--fec-size 20] [--fec-rate 20M]

FEC part: one lab of s and r1..r8 (configs/lab/pgm-lan8.toml), each round the
three senders in turn to the eight receivers; repair packets are the RDATA
(selective and parity) r1's iptables counted arriving, before its loss rule, so
every sender's are counted the same way. Targets: with FEC at most half the
repair packets of selective repair, goodput no lower, and at least OpenPGM's.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common
import trio

from ipv6.lab import load_config, open_lab

RECEIVERS = ("r1", "r2", "r3")
ADDRESS = {"s": "10.9.0.1", "r1": "10.9.0.2", "r2": "10.9.0.3", "r3": "10.9.0.4"}
GROUP, IPERF_GROUP = "239.192.2.5", "239.192.2.6"
WINDOW = "65536"  # packets, as the C program's OpenPGM transmit window
ORACLE_SOURCE = _common.ROOT / "tests" / "mcast" / "pgm_oracle.c"


def build_oracle(work: Path) -> Path:
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openpgm-5.3"], check=True,
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    binary = work / "pgm_oracle"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(ORACLE_SOURCE), *flags], check=True)
    return binary


@contextlib.contextmanager
def prepared(size: int) -> Iterator[tuple[Path, Path, Path, str]]:
    """A work directory with the C program built, a file of ``size`` random octets to
    send and its digest; the toolkit byte-compiled, so that no run pays for it."""
    assert shutil.which("gcc"), "gcc is needed"
    compileall.compile_dir(_common.ROOT / "mcast", quiet=1)
    with tempfile.TemporaryDirectory(prefix="pgm-bench-") as work_dir:
        work = Path(work_dir)
        oracle = build_oracle(work)
        sent = work / "sent.bin"
        sent.write_bytes(os.urandom(size))
        yield work, oracle, sent, hashlib.sha256(sent.read_bytes()).hexdigest()


async def capacity(lab, seconds: float) -> float:
    """UDP multicast bits a second that iperf2 gets to r1 (r2 and r3 joined too)."""
    reports: dict[str, str] = {}

    async def server(name: str) -> None:
        done = await lab.host(name).run(
            ["iperf", "-s", "-u", "-B", IPERF_GROUP, "-y", "C", "-t", str(seconds + 3)]
        )
        reports[name] = done.stdout.decode()

    async with trio.open_nursery() as nursery:
        for name in RECEIVERS:
            nursery.start_soon(server, name)
        await trio.sleep(1.0)
        await lab.host("s").run(["iperf", "-c", IPERF_GROUP, "-u", "-b", "10G", "-l", "1400",
                                 "-T", "1", "-t", str(seconds)])  # fmt: skip
    rates = []
    for text in reports.values():
        rows = [r.split(",") for r in text.splitlines() if r.count(",") >= 8]
        assert rows, f"no iperf2 report: {text!r}"
        rates.append(float(rows[-1][8]))
    return min(rates)


async def lose(lab, fraction: float) -> None:
    for name in RECEIVERS:
        await lab.host(name).run(["iptables", "-F", "INPUT"])
        if fraction:
            await lab.host(name).run([
                "iptables", "-A", "INPUT", "-p", "113", "-m", "statistic", "--mode", "random",
                "--probability", str(fraction), "-j", "DROP"])  # fmt: skip


async def transfer(lab, work: Path, oracle: Path | None, sent: Path, *, rate: str,
                   digest: str, receivers: tuple[str, ...] = RECEIVERS,
                   extra: tuple[str, ...] = ()) -> float:  # fmt: skip
    """Seconds from the sender's start to the last receiver's last octet (CLOCK_MONOTONIC,
    which every namespace shares); ``extra``: more of the toolkit sender's options. The
    toolkit receivers' statistics go to RECEIVED."""
    ends: dict[str, float] = {}
    seen = RECEIVED
    seen.clear()
    bits = int(float(rate[:-1]) * {"k": 1e3, "M": 1e6, "G": 1e9}[rate[-1]])

    async def receive(name: str) -> None:
        out = work / f"{name}.bin"
        if oracle is None:
            done = await lab.host(name).run([
                sys.executable, "-m", "mcast", "pgm", "recv", GROUP, "-p", "7500", "-i", "eth0",
                "-o", str(out), "--timeout", "60", "--json"], check=False)  # fmt: skip
            ends[name] = time.monotonic()
            if done.returncode == 0:
                seen.append(json.loads(done.stdout))
        else:
            done = await lab.host(name).run(
                [str(oracle), "recv", f"{ADDRESS[name]};{GROUP}", "7500", str(out)], check=False
            )
            ends[name] = float(done.stdout.split()[1]) if done.returncode == 0 else 0.0
        assert done.returncode == 0, f"{name}: {done.stderr.decode()}"
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest, f"{name}: not the file"
        out.unlink()

    async with trio.open_nursery() as nursery:
        for name in receivers:
            nursery.start_soon(receive, name)
        await trio.sleep(1.5)
        started = time.monotonic()
        if oracle is None:
            sender = [sys.executable, "-m", "mcast", "pgm", "send", GROUP, str(sent), "-p",
                      "7500", "-i", "eth0", "--rate", rate, "--window", WINDOW, "--linger", "5",
                      *extra]  # fmt: skip
        else:
            sender = [str(oracle), "send", f"{ADDRESS['s']};{GROUP}", "7500", str(sent), "0",
                      str(bits // 8)]  # fmt: skip
        nursery.start_soon(lambda: lab.host("s").run(sender))
    return max(ends.values()) - started


async def attempt(lab, work: Path, oracle: Path | None, sent: Path, *, rate: str,
                  digest: str, **more: Any) -> float | str:  # fmt: skip
    """The transfer's seconds, or why it failed."""
    why = ""
    try:
        return await transfer(lab, work, oracle, sent, rate=rate, digest=digest, **more)
    except* AssertionError as failed:
        why = str(failed.exceptions[0])
    return why


RECEIVED: list[dict[str, Any]] = []  # the last transfer's toolkit receivers' statistics
EIGHT = tuple(f"r{n}" for n in range(1, 9))
ADDRESS.update({name: f"10.9.0.{n + 1}" for n, name in enumerate(EIGHT, 1)})
RDATA = "24>>24=0x5"  # raw PGM over IPv4 (a 20-byte header): the type octet is RDATA


async def lose_counting(lab, fraction: float) -> None:
    """Each of the eight loses ``fraction`` at random; r1 first counts the RDATA."""
    for name in EIGHT:
        await lab.host(name).run(["iptables", "-F", "INPUT"])
        if name == "r1":
            await lab.host(name).run(["iptables", "-A", "INPUT", "-p", "113", "-m", "u32",
                                      "--u32", RDATA])  # fmt: skip
        await lab.host(name).run([
            "iptables", "-A", "INPUT", "-p", "113", "-m", "statistic", "--mode", "random",
            "--probability", str(fraction), "-j", "DROP"])  # fmt: skip


async def rdata_counted(lab) -> int:
    shown = (await lab.host("r1").run(["iptables", "-nvxL", "INPUT"])).stdout.decode()
    row = next(line for line in shown.splitlines() if "u32" in line)
    return int(row.split()[0])


async def fec_part(args: argparse.Namespace) -> int:
    config = load_config(_common.ROOT / "configs/lab/pgm-lan8.toml",
                         name=_common.unique("pgmfec"))  # fmt: skip
    size = int(args.fec_size * 1_000_000)
    runs = {"toolkit, selective": (None, ()),
            "toolkit, FEC on demand": (None, ("--fec", args.fec, "--ondemand")),
            "OpenPGM, selective": ("oracle", ())}  # fmt: skip
    goodput: dict[str, list[float]] = {k: [] for k in runs}
    repairs: dict[str, list[int]] = {k: [] for k in runs}
    failures: dict[str, str] = {}
    with prepared(size) as (work, oracle, sent, digest):
        async with open_lab(config) as lab:
            for round_number in range(1, args.rounds + 1):
                for name, (which, extra) in runs.items():
                    await lose_counting(lab, args.fec_loss)
                    seconds = await attempt(lab, work, oracle if which else None, sent,
                                            rate=args.fec_rate, digest=digest, receivers=EIGHT,
                                            extra=extra)  # fmt: skip
                    if isinstance(seconds, str):
                        failures[name] = seconds
                        print(f"round {round_number} {name}: failed: {seconds}", file=sys.stderr)
                        continue
                    goodput[name].append(size * 8 / seconds)
                    repairs[name].append(await rdata_counted(lab))
                    print(f"round {round_number} {name}: {size * 8 / seconds / 1e6:,.1f} Mbit/s,"
                          f" {repairs[name][-1]} repair packets", file=sys.stderr)  # fmt: skip
                    if RECEIVED:  # what the toolkit's receivers did, summed
                        keys = ("naks_sent", "nak_sqns_sent", "parity_naks_sent",
                                "parity_received", "fec_rebuilt", "parity_timeouts",
                                "fec_failures", "repairs_received", "duplicates")  # fmt: skip
                        summed = {k: sum(r.get(k, 0) for r in RECEIVED) for k in keys}
                        print(f"  receivers: {summed}", file=sys.stderr)
    median = {k: statistics.median(v) if v else math.nan for k, v in goodput.items()}
    fixed = {k: statistics.median(v) if v else math.nan for k, v in repairs.items()}
    base = "toolkit, selective"
    rows = [(k, f"{median[k] / 1e6:,.1f} Mbit/s", f"{median[k] / median[base]:.2f}",
             f"{fixed[k]:,.0f}", f"{fixed[k] / fixed[base]:.2f}") for k in runs]  # fmt: skip
    print(f"{args.fec_size:g} MB from s to r1..r8 (raw PGM, IPv4), each losing "
          f"{args.fec_loss:.0%}, rate setting {args.fec_rate}, FEC {args.fec} on demand, "
          f"{args.rounds} rounds, same run: medians")  # fmt: skip
    print(_common.table(rows, ("SENDER", "GOODPUT", "VS SELECTIVE", "REPAIR PACKETS",
                               "VS SELECTIVE")))  # fmt: skip
    for key, why in failures.items():
        print(f"{key}: a run failed: {why.splitlines()[0]}")
    fec = "toolkit, FEC on demand"
    checks = {
        "at most half the repair packets of selective repair": fixed[fec] <= fixed[base] / 2,
        "goodput no lower than selective repair's": median[fec] >= median[base],
        "goodput at least OpenPGM's": median[fec] >= median["OpenPGM, selective"],
        "every toolkit run moved the file": base not in failures and fec not in failures,
    }  # fmt: skip
    for words, met in checks.items():
        print(f"target ({words}): {'MET' if met else 'MISSED'}")
    return 0 if all(checks.values()) else 1


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    if args.part == "fec":
        return await fec_part(args)
    assert shutil.which("iperf"), "iperf (iperf2) is needed"
    config = load_config(_common.ROOT / "configs/lab/pgm-lan.toml", name=_common.unique("pgmbench"))
    size = int(args.size * 1_000_000)
    samples: dict[str, list[float]] = {}
    failures: dict[str, str] = {}
    with prepared(size) as (work, oracle, sent, digest):
        async with open_lab(config) as lab:
            for round_number in range(1, args.rounds + 1):
                got = await capacity(lab, args.seconds)
                samples.setdefault("capacity", []).append(got)
                print(f"round {round_number} iperf2 UDP: {got / 1e6:,.0f} Mbit/s", file=sys.stderr)
                for loss in (0.0, 0.01):
                    await lose(lab, loss)
                    for who, binary in (("toolkit", None), ("OpenPGM", oracle)):
                        seconds = await attempt(
                            lab, work, binary, sent, rate=args.rate, digest=digest
                        )
                        if isinstance(seconds, str):  # a receiver said unrecoverable, or worse
                            failures[f"{who} {loss:.0%}"] = seconds
                            print(f"round {round_number} {who} at {loss:.0%} loss: failed: "
                                  f"{seconds}", file=sys.stderr)  # fmt: skip
                            continue
                        bits = size * 8 / seconds
                        samples.setdefault(f"{who} {loss:.0%}", []).append(bits)
                        print(f"round {round_number} {who} at {loss:.0%} loss: {bits / 1e6:,.1f}"
                              f" Mbit/s ({seconds:.2f} s)", file=sys.stderr)  # fmt: skip
                await lose(lab, 0.0)
    base = statistics.median(samples["capacity"])
    rows = [("iperf2 UDP multicast (capacity)", f"{base / 1e6:,.0f} Mbit/s", "1.000", "")]
    for loss in (0.0, 0.01):
        theirs = statistics.median(samples.get(f"OpenPGM {loss:.0%}") or [math.nan])
        for who in ("OpenPGM", "toolkit"):
            key = f"{who} {loss:.0%}"
            value = statistics.median(samples.get(key) or [math.nan])
            failed = f" ({args.rounds - len(samples.get(key, []))} failed)" if (
                key in failures) else ""  # fmt: skip
            rows.append((f"{who}, {loss:.0%} loss{failed}", f"{value / 1e6:,.1f} Mbit/s",
                         f"{value / base:.3f}", f"{value / theirs:.2f}"))  # fmt: skip
    print(f"{args.size:g} MB from s to r1, r2 and r3 (raw PGM, IPv4), rate setting {args.rate}, "
          f"{args.rounds} rounds, same run: medians")  # fmt: skip
    print(_common.table(rows, ("PATH", "GOODPUT", "VS CAPACITY", "VS OPENPGM")))
    print(json.dumps({k: [round(v) for v in vs] for k, vs in samples.items()}), file=sys.stderr)
    for key, why in failures.items():
        print(f"{key}: a run failed: {why.splitlines()[0]}")
    ours, theirs = samples.get("toolkit 1%"), samples.get("OpenPGM 1%")
    if not ours or not theirs or "toolkit 1%" in failures:
        print("target (within 2x of OpenPGM's goodput at 1 % loss): MISSED, a run failed")
        return 1
    ratio = statistics.median(ours) / statistics.median(theirs)
    met = ratio >= 0.5
    print(f"target (within 2x of OpenPGM's goodput at 1 % loss): {'MET' if met else 'MISSED'}"
          f" ({ratio:.2f}x)")  # fmt: skip
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=100.0, help="MB to move (default 100)")
    parser.add_argument("--rate", default="50M", help="both senders' rate setting (50M)")
    parser.add_argument("--seconds", type=float, default=3.0, help="iperf2's run (3 s)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--part",
        choices=("three", "fec"),
        default="three",
        help="three receivers against OpenPGM (default), or FEC to eight",
    )
    parser.add_argument("--fec-size", type=float, default=20.0, help="MB, FEC part (20)")
    parser.add_argument("--fec-rate", default="20M", help="rate setting, FEC part (20M)")
    parser.add_argument("--fec-loss", type=float, default=0.02, help="each receiver's (0.02)")
    parser.add_argument("--fec", default="64/128", help="the toolkit's --fec K/N (64/128)")
    sys.exit(trio.run(main, parser.parse_args()))
