"""The IGMP proxy's reaction time: from a member's report to the first datagram
forwarded to it, ``mcast proxy`` against igmpproxy (Debian's) in the same run.

Host s sends a steady stream (10,000 datagrams a second) to a group; r runs
the proxy, freshly started each round; m1 joins. tshark on m1's wire sees
both the report m1 sends and the datagrams r forwards, on one clock: the
reaction time is the first forwarded datagram's time less the report's. The
stream's spacing (0.1 ms) is the resolution.

    sudo .venv/bin/python bench/mcast_proxy.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import _common

from ipv6.lab import down, exec_argv, load_config, up

GROUP = "239.77.0.10"
RATE = 10_000
REPORTS = {"0x12", "0x16", "0x22"}  # IGMPv1, v2, v3 reports (igmpproxy's v2 queries make m1 v2)


def reaction(record, proxy: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Seconds from m1's first report to the first datagram of GROUP on its wire,
    with ``proxy`` started afresh on r."""
    started = subprocess.Popen(exec_argv(record, "r", proxy), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    capture = subprocess.Popen(
        exec_argv(record, "m1", ["tshark", "-i", "eth0", "-l", "-f",
                                 f"igmp or (udp and dst host {GROUP})", "-a", "duration:4",
                                 "-T", "fields", "-e", "frame.time_epoch", "-e", "igmp.type"]),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)  # the proxy up, the stream's datagrams asked about, tshark capturing
        subprocess.run(exec_argv(record, "m1", [sys.executable, "-m", "mcast", "join", GROUP,
                                                "-p", "7000", "-i", "eth0", "-t", "1", "-q"]),
                       capture_output=True, check=False)  # fmt: skip
        out, _ = capture.communicate(timeout=15)
    finally:
        started.terminate()
        started.wait(timeout=10)
    report = first = None
    for line in out.splitlines():
        stamp, _, igmp_type = line.partition("\t")
        if igmp_type.strip() in REPORTS and report is None:
            report = float(stamp)
        elif not igmp_type.strip() and report is not None and first is None:
            first = float(stamp)
    if report is None or first is None:
        raise SystemExit(f"no report or no forwarded datagram seen with {proxy[0]}:\n{out}")
    return first - report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    _common.require_root()
    lab = _common.ROOT / "configs/lab/router-chain.toml"
    config = load_config(lab, name=_common.unique("mproxy"))
    record = up(config)
    conf = _common.ROOT / "configs/igmpproxy/routed-multicast.conf"
    stream = subprocess.Popen(
        exec_argv(record, "s", [sys.executable, "-m", "mcast", "send", GROUP, "-p", "7000", "-i",
                                "eth0", "--ttl", "5", "--rate", str(RATE), "--count", "0", "-q"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    proxies = {
        "igmpproxy": ["igmpproxy", "-n", str(conf)],
        "mcast proxy": [sys.executable, "-m", "mcast", "proxy", "-u", "eth0", "-d", "eth1"],
    }
    times: dict[str, list[float]] = {name: [] for name in proxies}
    try:
        for round_number in range(1, args.rounds + 1):
            for name, argv in proxies.items():
                seconds = reaction(record, argv)
                times[name].append(seconds)
                print(f"round {round_number} {name:<11} {seconds * 1000:.2f} ms", file=sys.stderr)
    finally:
        stream.terminate()
        stream.wait(timeout=10)
        down(record.name)
    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = [
        (name, f"{medians[name] * 1000:.2f}", f"{max(times[name]) * 1000:.2f}",
         f"{medians[name] / medians['igmpproxy']:.2f}x")
        for name in proxies
    ]  # fmt: skip
    print(f"IGMP proxy reaction, report to first forwarded datagram, {args.rounds} rounds, a "
          f"stream of {RATE:,}/s")  # fmt: skip
    print(_common.table(rows, ("PROXY", "MEDIAN MS", "WORST MS", "VS IGMPPROXY")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
