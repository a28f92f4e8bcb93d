"""Start-up time of the pure commands, against bare Python in the same run.

Target (issue: the house, second step): pure commands (``ipv6 addr ...``)
start and finish within 3x bare Python (``python -c pass``), measured in the
same run: a command builds only its own parser. Each command runs --runs
times, interleaved with the baseline; the medians are compared. The packages
are byte-compiled first, as an installed package is. No root needed.

    .venv/bin/python bench/cli_startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_RATIO = 3.0
PURE = [
    ["ipv6", "addr", "explain", "fe80::260:8ff:fe52:f9d8%eth0", "2002:ac1f:2aef::ac1f:2aef"],
    ["ipv6", "addr", "eui64", "00-60-08-52-f9-d8"],
    ["ipv6", "addr", "6to4", "172.31.42.239", "--subnet", "1"],
    ["ipv6", "addr", "nat64", "192.0.2.33"],
]
OTHERS = [["ipv6", "--help"], ["mcast", "--help"], ["ipv6", "interfaces"]]


def median_ms(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    env_note = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    # An installed package has bytecode (pip compiles it); an editable install
    # under PYTHONDONTWRITEBYTECODE would compile every module on every run.
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "ipv6"), str(root / "mcast")],
        check=True,
    )
    base = median_ms([sys.executable, "-c", "pass"], args.runs)
    rows = [("python -c pass (baseline)", f"{base:.1f}", "1.00x", "")]
    ok = True
    for command in PURE + OTHERS:
        ms = median_ms([str(BIN / command[0]), *command[1:]], args.runs)
        pure = command in PURE
        within = ms / base <= TARGET_RATIO
        verdict = ("ok" if within else "SLOW") if pure else "(not pure)"
        ok = ok and (within or not pure)
        rows.append((" ".join(command), f"{ms:.1f}", f"{ms / base:.2f}x", verdict))
    width = max(len(r[0]) for r in rows)
    print(f"command start-up, median of {args.runs} runs ({env_note})")
    print(f"{'COMMAND':<{width}}  {'MS':>6}  {'VS PYTHON':>9}  TARGET <={TARGET_RATIO:g}X")
    for name, ms, ratio, verdict in rows:
        print(f"{name:<{width}}  {ms:>6}  {ratio:>9}  {verdict}")
    print(
        f"target (pure commands within {TARGET_RATIO:g}x bare Python):", "MET" if ok else "MISSED"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
