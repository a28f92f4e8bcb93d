"""Goodput of a PGM transfer to three receivers on one lab LAN, with 0 % and 1 %
random loss on the receivers' links: the toolkit (mcast pgm) against OpenPGM
(Debian's libpgm, through the tests' C program) at the same rate setting, and
both against the LAN's UDP multicast capacity that iperf2 measures in the same
run.

One lab (s sends; r1, r2, r3 receive; one bridge), one run. Each round, in
turn: iperf2 UDP multicast at full speed for --seconds; then for each loss,
the toolkit and OpenPGM each move a file of --size MB from s to the three
receivers. Goodput is the file's size over the time from the sender's start to
the last octet at the last receiver; every received file is checked against
the sent one. Medians of the rounds; ratios to the capacity and to OpenPGM.

    sudo .venv/bin/python bench/pgm_goodput.py [--size 100] [--rate 50M] [--rounds 2]
"""

from __future__ import annotations

import argparse
import compileall
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
from pathlib import Path

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
                   digest: str) -> float:  # fmt: skip
    """Seconds from the sender's start to the last receiver's last octet (CLOCK_MONOTONIC,
    which every namespace shares)."""
    ends: dict[str, float] = {}
    bits = int(float(rate[:-1]) * {"k": 1e3, "M": 1e6, "G": 1e9}[rate[-1]])

    async def receive(name: str) -> None:
        out = work / f"{name}.bin"
        if oracle is None:
            done = await lab.host(name).run([
                sys.executable, "-m", "mcast", "pgm", "recv", GROUP, "-p", "7500", "-i", "eth0",
                "-o", str(out), "--timeout", "60"], check=False)  # fmt: skip
            ends[name] = time.monotonic()
        else:
            done = await lab.host(name).run(
                [str(oracle), "recv", f"{ADDRESS[name]};{GROUP}", "7500", str(out)], check=False
            )
            ends[name] = float(done.stdout.split()[1]) if done.returncode == 0 else 0.0
        assert done.returncode == 0, f"{name}: {done.stderr.decode()}"
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest, f"{name}: not the file"
        out.unlink()

    async with trio.open_nursery() as nursery:
        for name in RECEIVERS:
            nursery.start_soon(receive, name)
        await trio.sleep(1.5)
        started = time.monotonic()
        if oracle is None:
            sender = [sys.executable, "-m", "mcast", "pgm", "send", GROUP, str(sent), "-p",
                      "7500", "-i", "eth0", "--rate", rate, "--window", WINDOW, "--linger", "5"
                      ]  # fmt: skip
        else:
            sender = [str(oracle), "send", f"{ADDRESS['s']};{GROUP}", "7500", str(sent), "0",
                      str(bits // 8)]  # fmt: skip
        nursery.start_soon(lambda: lab.host("s").run(sender))
    return max(ends.values()) - started


async def attempt(lab, work: Path, oracle: Path | None, sent: Path, *, rate: str,
                  digest: str) -> float | str:  # fmt: skip
    """The transfer's seconds, or why it failed."""
    why = ""
    try:
        return await transfer(lab, work, oracle, sent, rate=rate, digest=digest)
    except* AssertionError as failed:
        why = str(failed.exceptions[0])
    return why


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    assert shutil.which("iperf") and shutil.which("gcc"), "iperf (iperf2) and gcc are needed"
    compileall.compile_dir(_common.ROOT / "mcast", quiet=1)
    config = load_config(_common.ROOT / "configs/lab/pgm-lan.toml", name=_common.unique("pgmbench"))
    size = int(args.size * 1_000_000)
    samples: dict[str, list[float]] = {}
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pgm-bench-") as work_dir:
        work = Path(work_dir)
        oracle = build_oracle(work)
        sent = work / "sent.bin"
        sent.write_bytes(os.urandom(size))
        digest = hashlib.sha256(sent.read_bytes()).hexdigest()
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
    sys.exit(trio.run(main, parser.parse_args()))
