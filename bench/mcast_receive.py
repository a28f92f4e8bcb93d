"""Receive rate: the toolkit's receiver against a plain blocking recv loop,
a Trio loop that awaits each datagram, and iperf2's own receiver, fed by
iperf2 at its highest rate over a veth pair.

Target (issue: multicast membership): at most 0.1 % loss, and at most 1.5x
the CPU time per datagram of the blocking loop, both measured in this run.
Each receiver runs in its own process in lab host a; iperf2 sends 100-byte
datagrams from host b for --seconds, as fast as it can, once per receiver
and round.

    sudo .venv/bin/python bench/mcast_receive.py [--seconds 3] [--rounds 2]

Then a burst (issue: tests): 20,000 datagrams of 100 bytes at about 100,000
a second (iperf2 -l 100 -n 2000000 -b 80M), received by iperf2's receiver as
a user starts it (its own buffer) and by ``mcast join --json --quiet`` as a
user runs it. Target: the toolkit's command loses at most what iperf2's
receiver does, and says which of its losses were its own kernel's drops.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import _common

from ipv6.lab import down
from ipv6.lab._lab import exec_argv

GROUP, PORT, RCVBUF = "239.77.0.1", 5001, 8 * 1024 * 1024
MODES = ("blocking", "toolkit", "measuring", "awaiting", "iperf2")


def run_once(record, mode: str, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    receiver = subprocess.Popen(
        exec_argv(record, "a", [sys.executable, str(_common.ROOT / "bench/_receivers.py"), mode,
                                GROUP, str(PORT), str(seconds), str(RCVBUF)]),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert receiver.stdout is not None
    assert receiver.stdout.readline().strip() == "ready", f"{mode} receiver did not start"
    sender = subprocess.run(
        exec_argv(record, "b", ["iperf", "-c", GROUP, "-u", "-p", str(PORT), "-l", "100",
                                "-b", "10G", "-t", str(seconds), "-T", "1"]),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    sent_match = re.search(r"Sent (\d+) datagrams", sender.stdout)
    assert sent_match, sender.stdout
    result = json.loads(receiver.stdout.readline())
    receiver.wait()
    # iperf2 sends one last datagram to say the test is over; it is not data.
    result["sent"] = int(sent_match.group(1)) - 1
    if mode == "iperf2":
        result["sent"] = result.get("reported_total", result["sent"]) or result["sent"]
    return result


BURST = ["-l", "100", "-n", "2000000", "-b", "80M"]
BURST_MODES = ("iperf2-default", "join-command")


def burst_once(record, mode: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    receiver = subprocess.Popen(
        exec_argv(record, "a", [sys.executable, str(_common.ROOT / "bench/_receivers.py"), mode,
                                GROUP, str(PORT), "6", "0"]),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert receiver.stdout is not None
    assert receiver.stdout.readline().strip() == "ready", f"{mode} receiver did not start"
    sender = subprocess.run(
        exec_argv(record, "b", ["iperf", "-c", GROUP, "-u", "-p", str(PORT), *BURST, "-T", "1"]),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    sent_match = re.search(r"Sent (\d+) datagrams", sender.stdout)
    assert sent_match, sender.stdout
    result = json.loads(receiver.stdout.readline())
    receiver.wait()
    result["sent"] = int(sent_match.group(1)) - 1  # less the datagram that ends the test
    return result


def bursts(record, rounds: int) -> bool:  # type: ignore[no-untyped-def]
    loss: dict[str, list[float]] = {m: [] for m in BURST_MODES}
    for number in range(1, rounds + 1):
        for mode in BURST_MODES:
            result = burst_once(record, mode)
            lost = max(0.0, 1 - result["received"] / max(1.0, result["sent"])) * 100
            loss[mode].append(lost)
            own = (f", of which this host's kernel dropped {int(result['dropped'])} "
                   f"(buffer {int(result.get('buffer') or 0):,} bytes)"
                   if mode == "join-command" else "")  # fmt: skip
            got = int(result["received"])
            print(f"burst {number} {mode:<15} sent {int(result['sent'])} received {got}: "
                  f"lost {lost:.2f} %{own}", file=sys.stderr)  # fmt: skip
    median = {m: sorted(v)[len(v) // 2] for m, v in loss.items()}
    print("burst: 20,000 datagrams of 100 bytes at about 100,000/s, median loss of "
          f"{rounds} rounds")  # fmt: skip
    print(_common.table([(m, f"{median[m]:.2f} %") for m in BURST_MODES], ("RECEIVER", "LOSS")))
    met = median["join-command"] <= median["iperf2-default"]
    print(f"target (mcast join loses at most what iperf2's receiver loses): "
          f"{'MET' if met else 'MISSED'}")  # fmt: skip
    return met


def main() -> int:
    args, record = _common.rounds_and_lab(__doc__, "rxbench")
    totals = {m: {"sent": 0.0, "received": 0.0, "cpu": 0.0} for m in MODES}
    try:
        for round_number in range(1, args.rounds + 1):
            for mode in MODES:
                result = run_once(record, mode, args.seconds)
                for key in totals[mode]:
                    totals[mode][key] += result[key]
                sent, got = int(result["sent"]), int(result["received"])
                print(
                    f"round {round_number} {mode:<8} sent {sent:>8} received {got:>8} "
                    f"cpu {result['cpu']:.2f} s",
                    file=sys.stderr,
                )
        burst_met = bursts(record, args.rounds)
    finally:
        down(record.name)
    per = {m: totals[m]["cpu"] / max(1.0, totals[m]["received"]) * 1e6 for m in MODES}
    loss = {
        m: max(0.0, 1 - totals[m]["received"] / max(1.0, totals[m]["sent"])) * 100 for m in MODES
    }
    rows = [
        (m, int(totals[m]["sent"]), int(totals[m]["received"]), f"{loss[m]:.3f} %",
         f"{per[m]:.2f}", f"{per[m] / per['blocking']:.2f}x")
        for m in MODES
    ]  # fmt: skip
    print(
        f"receive rate, 100-byte datagrams, {args.rounds} rounds of {args.seconds:g} s per receiver"
    )
    print(
        _common.table(rows, ("RECEIVER", "SENT", "RECEIVED", "LOSS", "CPU us/DGRAM", "VS BLOCKING"))
    )
    ok = True
    for mode in ("toolkit", "measuring"):  # without and with per-stream statistics
        ratio = per[mode] / per["blocking"]
        met = loss[mode] <= 0.1 and ratio <= 1.5
        ok = ok and met
        print(f"target ({mode} loss <= 0.1 %, CPU per datagram <= 1.5x the blocking loop): "
              f"{'MET' if met else 'MISSED'} ({loss[mode]:.3f} %, {ratio:.2f}x)")  # fmt: skip
    return 0 if ok and burst_met else 1


if __name__ == "__main__":
    sys.exit(main())
