"""The toolkit's NAT64 on both planes against tayga and plain IPv6 forwarding
through the same gateway, in one run.

Targets: the userspace plane's TCP throughput within 2x of tayga's (at
least 0.5x; issue: IPv6-only networks); the eBPF plane's at least 5x
tayga's and at least half of plain forwarding's (issue: kernel fast paths).
Measured in configs/lab/nat64.toml: iperf3 TCP (one stream) and UDP (one
stream, unlimited rate, 1,400-byte datagrams) from the IPv6-only host h6 to
s4 through gw, and TCP connections set up per second (connect, one byte
back, the client closes), each contender in turn, round after round: tayga,
the toolkit's translator with --plane userspace, the same with --plane
ebpf (both with the prefix 2001:db8:46::/96, which tayga takes, and the
pool 203.0.113.0/28), and plain IPv6 forwarding (s4 given an IPv6 address
for it). CPU per packet: the whole machine's busy time over a TCP run (the
sender, gw and the receiver share it) divided by the run's bytes in
1,448-byte segments (TCP's payload at MTU 1500). Medians are printed, and
the ratios against tayga (the baseline) and forwarding.

    sudo .venv/bin/python bench/nat64_throughput.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import _common
import trio

from ipv6.lab import load_config, open_lab

PREFIX, POOL = "2001:db8:46::/96", "203.0.113.0/28"
SERVER4 = "198.51.100.10"
SERVER6 = "2001:db8:46::c633:640a"
NATIVE6 = "2001:db8:99::10"  # s4's own IPv6 address, for plain forwarding
CONTENDERS = ("tayga", "userspace", "ebpf", "forwarding")
MEASURES = ("tcp", "udp", "setups", "cpu")
SEGMENT = 1448
TAYGA_CONF = """\
tun-device tayga
ipv4-addr 203.0.113.1
prefix {prefix}
dynamic-pool {pool}
data-dir {data}
"""
CONNECTOR = """\
import socket, sys, time
address, seconds = sys.argv[1], float(sys.argv[2])
done, deadline = 0, time.monotonic() + seconds
began = time.monotonic()
while time.monotonic() < deadline:
    with socket.create_connection((address, 7100), timeout=2) as s:
        s.recv(1)
    done += 1
print(done / (time.monotonic() - began))
"""
ONE_BYTE_SERVER = """\
import socket
s = socket.socket(socket.AF_INET6)  # dual-stack: translated IPv4 and forwarded IPv6
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 7100))
s.listen(1024)
while True:
    c, _ = s.accept()
    c.sendall(b"x")
    c.recv(1)  # the client closes first, so TIME_WAIT is the client's (tcp_tw_reuse there)
    c.close()
"""


async def iperf3(lab, address: str, seconds: float, *, udp: bool = False) -> tuple[float, float]:
    """(bits per second received, CPU microseconds per 1,448-byte segment)."""
    h6, s4 = lab.host("h6"), lab.host("s4")
    bind = SERVER4 if address != NATIVE6 else NATIVE6
    extra = ["-u", "-b", "0", "-l", "1400"] if udp else []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(s4.run, ["iperf3", "-s", "-1", "-B", bind])
        await trio.sleep(0.5)  # the server's start: iperf3 says nothing when it listens
        before = _common.busy_seconds()
        out = await h6.run(["iperf3", "-J", "-c", address, "-t", str(seconds), *extra])
        busy = _common.busy_seconds() - before
    report = json.loads(out.stdout)["end"]
    if udp:
        return float(report["sum"]["bits_per_second"]) * (
            1 - report["sum"]["lost_percent"] / 100
        ), 0.0
    received = report["sum_received"]
    segments = received["bytes"] / SEGMENT
    return float(received["bits_per_second"]), busy / segments * 1e6


async def setups(lab, address: str, seconds: float) -> float:
    out = await lab.host("h6").run([sys.executable, "-c", CONNECTOR, address, str(seconds)])
    return float(out.stdout)


@contextlib.asynccontextmanager
async def tayga(lab, work: Path) -> AsyncIterator[str]:
    gw = lab.host("gw")
    conf = work / "tayga.conf"
    conf.write_text(TAYGA_CONF.format(prefix=PREFIX, pool=POOL, data=work))
    await gw.run(["tayga", "-c", str(conf), "--mktun"])
    await gw.run(["ip", "link", "set", "tayga", "up"])
    await gw.run(["ip", "route", "add", POOL, "dev", "tayga"])
    await gw.run(["ip", "route", "add", PREFIX, "dev", "tayga"])
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gw.run, ["tayga", "-c", str(conf), "-n"])
            await trio.sleep(0.5)  # tayga's start: it says nothing when it runs
            yield SERVER6
            nursery.cancel_scope.cancel()
    finally:
        await gw.run(["ip", "link", "del", "tayga"])


def toolkit(plane: str) -> Any:
    @contextlib.asynccontextmanager
    async def run(lab, work: Path) -> AsyncIterator[str]:
        gw = lab.host("gw")
        env = ["env", f"NETSH_STATE_DIR={work}", sys.executable, "-m", "ipv6", "nat64"]
        await gw.run([*env, "add", "nat64", "--prefix", PREFIX, "--pool", POOL, "--plane", plane])
        try:
            status = await gw.run([*env, "status", "--json"])
            (row,) = json.loads(status.stdout)
            if row["plane_running"] != plane:
                raise SystemExit(f"the {plane} plane does not run: {row['plane_reason']}")
            yield SERVER6
        finally:
            await gw.run([*env, "delete", "nat64"])

    return run


@contextlib.asynccontextmanager
async def forwarding(lab, work: Path) -> AsyncIterator[str]:
    yield NATIVE6


async def native_ipv6(lab) -> None:
    """s4 gets IPv6 (the lab has it off) for the plain forwarding contender."""
    gw, s4 = lab.host("gw"), lab.host("s4")
    await s4.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0",
                  "net.ipv6.conf.eth0.disable_ipv6=0"])  # fmt: skip
    await s4.run(["ip", "-6", "addr", "add", f"{NATIVE6}/64", "dev", "eth0", "nodad"])
    await s4.run(["ip", "-6", "route", "add", "default", "via", "2001:db8:99::1"])
    await gw.run(["ip", "-6", "addr", "add", "2001:db8:99::1/64", "dev", "wan0", "nodad"])


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    compileall.compile_dir(_common.ROOT / "ipv6", quiet=1)
    config = load_config(_common.ROOT / "configs/lab/nat64.toml", name=_common.unique("n64b"))
    runs = {"tayga": tayga, "userspace": toolkit("userspace"), "ebpf": toolkit("ebpf"),
            "forwarding": forwarding}  # fmt: skip
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with open_lab(config) as lab, trio.open_nursery() as servers:
            await native_ipv6(lab)
            servers.start_soon(lab.host("s4").run, [sys.executable, "-c", ONE_BYTE_SERVER])
            # Thousands of connections a round: the client reuses ports in TIME_WAIT.
            await lab.host("h6").run(["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"])
            for round_ in range(args.rounds):
                for name in CONTENDERS:
                    async with runs[name](lab, work) as address:
                        tcp, cpu = await iperf3(lab, address, args.seconds)
                        udp, _ = await iperf3(lab, address, args.seconds, udp=True)
                        made = await setups(lab, address, args.seconds)
                    for what, value in zip(MEASURES, (tcp, udp, made, cpu), strict=True):
                        results.setdefault((name, what), []).append(value)
                    print(f"round {round_ + 1}: {name} TCP {tcp / 1e6:,.0f} Mbit/s, UDP "
                          f"{udp / 1e6:,.0f} Mbit/s, {made:,.0f} setups/s, {cpu:.2f} µs CPU "
                          "a segment", file=sys.stderr)  # fmt: skip
            servers.cancel_scope.cancel()
    median = {key: statistics.median(values) for key, values in results.items()}

    def ratio(name: str, what: str, base: str) -> str:
        return f"{median[(name, what)] / median[(base, what)]:.2f}x"

    rows = []
    for name in CONTENDERS:
        tcp, udp, made, cpu = (median[(name, what)] for what in MEASURES)
        rows.append((
            name, f"{tcp / 1e6:,.0f}", f"{udp / 1e6:,.0f}", f"{made:,.0f}", f"{cpu:.2f}",
            ratio(name, "tcp", "tayga"), ratio(name, "tcp", "forwarding"),
            ratio(name, "setups", "tayga"),
        ))  # fmt: skip
    print(_common.table(rows, ("MEDIAN OF ROUNDS", "TCP MBIT/S", "UDP MBIT/S", "SETUPS/S",
                               "CPU µS/SEGMENT", "TCP/TAYGA", "TCP/FORWARDING",
                               "SETUPS/TAYGA")))  # fmt: skip
    user = median[("userspace", "tcp")] / median[("tayga", "tcp")]
    ebpf = median[("ebpf", "tcp")] / median[("tayga", "tcp")]
    share = median[("ebpf", "tcp")] / median[("forwarding", "tcp")]
    targets = (
        ("userspace plane within 2x of tayga's TCP (>= 0.50x)", user >= 0.5),
        ("eBPF plane at least 5x tayga's TCP", ebpf >= 5),
        ("eBPF plane at least half of plain forwarding's TCP", share >= 0.5),
    )
    for what, met in targets:
        print(f"target: {what}: {'MET' if met else 'NOT MET'}")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    sys.exit(trio.run(main, parser.parse_args()))
