"""Send rate: `mcast send` against iperf2's sender and a plain blocking Python
sendto loop, 100-byte datagrams out of a veth pair, and `mcast send`'s pacing.

Targets (issue: measurable streams): unpaced, at least iperf2's rate; paced
at --rate 10000 for 5 s, within 2 % of 10,000/s. All measured in this run,
each sender in lab host a, one after another, --rounds times.

    sudo .venv/bin/python bench/mcast_send.py [--seconds 3] [--rounds 2]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import _common

from ipv6.lab import down
from ipv6.lab._lab import exec_argv

GROUP, PORT = "239.77.0.2", 5002
MODES = ("blocking", "iperf2", "toolkit")

BLOCKING = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.0.0.1"))
payload, target, sent = bytearray(100), (sys.argv[1], int(sys.argv[2])), 0
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    for _ in range(1000):
        payload[:8] = sent.to_bytes(8, "big")
        s.sendto(payload, target)
        sent += 1
print(sent)
"""


def run_once(record, mode: str, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Datagrams a second that ``mode`` sent."""
    if mode == "blocking":
        argv = [sys.executable, "-c", BLOCKING, GROUP, str(PORT), str(seconds)]
        out = subprocess.run(
            exec_argv(record, "a", argv), capture_output=True, text=True, check=True
        )
        return int(out.stdout) / seconds
    if mode == "iperf2":
        argv = ["iperf", "-c", GROUP, "-u", "-p", str(PORT), "-l", "100", "-b", "10G",
                "-t", str(seconds), "-T", "1"]  # fmt: skip
        out = subprocess.run(
            exec_argv(record, "a", argv), capture_output=True, text=True, check=True
        )
        match = re.search(r"Sent (\d+) datagrams", out.stdout)
        assert match, out.stdout
        return int(match.group(1)) / seconds
    report = send(record, ["--rate", "0", "--duration", str(seconds)])
    return float(report["rate_pps"])


def _run(record, argv: list[str]) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(exec_argv(record, "a", argv), capture_output=True, text=True, check=True)


def send(record, options: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    argv = [sys.executable, "-m", "mcast", "send", GROUP, "-p", str(PORT), "-i", "eth0",
            "--size", "100", "-q", "--json", *options]  # fmt: skip
    return dict(json.loads(_run(record, argv).stdout))


def main() -> int:
    args, record = _common.rounds_and_lab(__doc__, "txbench")
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    try:
        for round_number in range(1, args.rounds + 1):
            for mode in MODES:
                rate = run_once(record, mode, args.seconds)
                rates[mode].append(rate)
                print(f"round {round_number} {mode:<8} {rate:>12,.0f}/s", file=sys.stderr)
        paced = send(record, ["--rate", "10000", "--duration", "5"])
    finally:
        down(record.name)
    best = {m: max(rates[m]) for m in MODES}
    rows = [
        (
            m,
            f"{best[m]:,.0f}",
            f"{best[m] / best['iperf2']:.2f}x",
            f"{best[m] / best['blocking']:.2f}x",
        )
        for m in MODES
    ]
    print(
        "send rate, 100-byte datagrams over a veth pair, "
        f"best of {args.rounds} x {args.seconds:g} s"
    )
    print(_common.table(rows, ("SENDER", "DATAGRAMS/S", "VS IPERF2", "VS BLOCKING")))
    achieved = float(paced["rate_pps"])
    off = abs(achieved - 10000) / 100
    print(f"paced: --rate 10000 --duration 5 sent {int(paced['sent'])} at {achieved:,.1f}/s "
          f"({off:.2f} % off)")  # fmt: skip
    ok = best["toolkit"] >= best["iperf2"] and off <= 2
    verdict = "MET" if ok else "MISSED"
    ratio = best["toolkit"] / best["iperf2"]
    print(f"target (unpaced at least iperf2's rate; paced within 2 %): "
          f"{verdict} ({ratio:.2f}x, {off:.2f} %)")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
