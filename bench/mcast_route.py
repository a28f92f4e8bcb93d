"""Forwarding through a lab router: multicast by a static route against unicast.

iperf2 sends 100,000 1000-byte datagrams a second from host s, to a group
routed by ``mcast route`` on r, or by unicast to m1 behind r; iperf2's server
on m1 counts what arrives. Multicast goes through each plane this host has:
the kernel's multicast routing (where the kernel has it), the eBPF plane
(where the kernel runs tc programs: a tc program on r's eth0 clones each
datagram out of eth1) and the toolkit's userspace plane (always). Unicast,
forwarded by the kernel, is the baseline, measured in the same run.

Targets: the kernel plane at least 0.9 of unicast (issue: multicast across
routers). The userspace plane has none: its figure, and the CPU time r's
routing daemon spent per datagram, are recorded (issue: any Linux machine).
The eBPF plane's figure is printed against unicast and against the
userspace plane (issue: kernel fast paths); its daemon's CPU per datagram is
what Python still spends (none but the table's upkeep: the kernel forwards).
The machine's CPU per datagram received (/proc/stat, over each whole
measurement: iperf2's sender and receiver, the kernels' softirq work and the
daemon) compares the paths' total cost; it includes the senders' work, the
same on every path.

    sudo .venv/bin/python bench/mcast_route.py [--seconds 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

import _common

from ipv6.lab import down, exec_argv, load_config, up

GROUP, SOURCE, MEMBER = "239.77.0.9", "10.1.0.2", "10.2.0.2"
# The same offered load both ways, below what iperf2 can send to a group (a
# multicast send costs the sender more: its loopback copy), so that what is
# compared is what r forwards, not what s manages to send.
OFFERED = "800M"  # 100,000 datagrams of 1000 bytes a second
# The lab is configs/lab/router-chain.toml: two veth links through r, so both
# paths cross the same devices and the comparison is the forwarding alone.


def run(
    record, host: str, argv: list[str], check: bool = False
) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    argv = exec_argv(record, host, argv)
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def received_per_second(record, destination: str, port: int, seconds: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(datagrams a second iperf2 sent from s, and m1 received)."""
    server = ["iperf", "-s", "-u", "-p", str(port), "-l", "2048", "-y", "C"]
    if destination == GROUP:
        server += ["-B", f"{GROUP}%eth0"]
    receiver = subprocess.Popen(
        exec_argv(record, "m1", server), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10  # until iperf2 listens (and, for a group, has joined)
    while time.monotonic() < deadline:
        listening = run(record, "m1", ["ss", "-lunH", f"sport = :{port}"]).stdout.strip()
        joined = destination != GROUP or GROUP in run(record, "m1", ["ip", "maddr"]).stdout
        if listening and joined:
            break
        time.sleep(0.05)
    sent = run(record, "s", ["iperf", "-c", destination, "-u", "-p", str(port), "-l", "1000",
                             "-b", OFFERED, "-t", str(seconds), "-T", "5"], check=True)  # fmt: skip
    match = re.search(r"Sent (\d+) datagrams", sent.stdout)
    assert match, sent.stdout
    time.sleep(0.5)
    receiver.terminate()
    out, _ = receiver.communicate(timeout=10)
    rows = [line.split(",") for line in out.splitlines() if line.count(",") >= 13]
    assert rows, f"iperf2's server on m1 reported nothing for {destination}"
    fields = rows[-1]
    lost, total, interval = int(fields[10]), int(fields[11]), fields[6]
    start, end = (float(x) for x in interval.split("-"))
    return int(match.group(1)) / seconds, (total - lost) / max(end - start, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    _common.require_root()
    lab = _common.ROOT / "configs/lab/router-chain.toml"
    config = load_config(lab, name=_common.unique("mroute"))
    record = up(config)
    from ipv6.capabilities import has

    planes = (["kernel"] if has("ip_mroute") else []) + (["ebpf"] if has("ebpf_tc") else [])
    planes.append("userspace")
    kinds = ["unicast", *(f"multicast ({p})" for p in planes)]
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    offered: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    machine: dict[str, list[float]] = {kind: [] for kind in kinds}  # µs per datagram received
    try:
        for round_number in range(1, args.rounds + 1):
            for kind in kinds:
                plane = kind.partition("(")[2].rstrip(")")
                if plane:
                    added = run(record, "r", [sys.executable, "-m", "mcast", "route", "add",
                                              GROUP, "--source", SOURCE, "--in", "eth0", "--out",
                                              "eth1", "--plane", plane])  # fmt: skip
                    assert added.returncode == 0, added.stderr
                    found = run(record, "r", ["pgrep", "-f", "mcast.routing._routed"])
                    daemon = found.stdout.split()
                    before = _cpu_seconds(int(daemon[0]))
                destination, port = (GROUP, 5001) if plane else (MEMBER, 5002)
                busy = _common.busy_seconds()
                sent, rate = received_per_second(record, destination, port, args.seconds)
                busy = _common.busy_seconds() - busy  # the whole measurement, senders too
                machine[kind].append(busy / max(1.0, rate * args.seconds) * 1e6)
                rates[kind].append(rate)
                offered[kind].append(sent)
                if plane:
                    used = _cpu_seconds(int(daemon[0])) - before
                    cpu[kind].append(used / max(1.0, rate * args.seconds) * 1e6)
                    run(record, "r", [sys.executable, "-m", "mcast", "route", "delete", GROUP,
                                      "--source", SOURCE, "--in", "eth0"], check=True)  # fmt: skip
                print(f"round {round_number} {kind:<20} sent {sent:,.0f}/s, received "
                      f"{rate:,.0f}/s", file=sys.stderr)  # fmt: skip
    finally:
        down(record.name)
    best = {kind: max(values) for kind, values in rates.items()}
    rows = [
        (kind, f"{max(offered[kind]):,.0f}", f"{best[kind]:,.0f}",
         f"{best[kind] / best['unicast']:.2f}x",
         f"{min(cpu[kind]):.1f}" if cpu[kind] else "-", f"{min(machine[kind]):.1f}")
        for kind in kinds
    ]  # fmt: skip
    print(f"forwarding through a lab router, 1000-byte datagrams, best of {args.rounds} rounds "
          f"of {args.seconds:g} s")  # fmt: skip
    print(_common.table(rows, ("PATH", "SENT/S FROM S", "RECEIVED/S AT M1", "VS UNICAST",
                               "DAEMON CPU µs/DATAGRAM", "MACHINE CPU µs/DATAGRAM")))  # fmt: skip
    if "multicast (ebpf)" in best:
        print(f"the eBPF plane: {best['multicast (ebpf)'] / best['unicast']:.2f}x unicast, "
              f"{best['multicast (ebpf)'] / best['multicast (userspace)']:.1f}x the userspace "
              "plane")  # fmt: skip
    if "multicast (kernel)" not in best:
        print("the kernel plane: not measured, this kernel has no IPv4 multicast routing")
        return 0
    ratio = best["multicast (kernel)"] / best["unicast"]
    met = ratio >= 0.9
    print(f"target (the kernel plane at least 0.9 of unicast): "
          f"{'MET' if met else 'MISSED'} ({ratio:.2f}x)")  # fmt: skip
    return 0 if met else 1


def _cpu_seconds(pid: int) -> float:
    """User and system time of a process so far (its own, from /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
