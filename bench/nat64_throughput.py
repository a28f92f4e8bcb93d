"""The toolkit's NAT64 against tayga on the same lab path, in one run.

Target (issue: IPv6-only networks): TCP throughput through the toolkit's
translator within 2x of tayga's (a ratio of at least 0.5). Measured in
configs/lab/nat64.toml: iperf3 TCP from the IPv6-only host h6 to the
IPv4-only server s4 through gw, and TCP connection setup (connect, one byte
back, the client closes) per second from h6, each translator in turn, in rounds, both
with the prefix 2001:db8:46::/96 (tayga refuses 64:ff9b:1::/96) and the pool
203.0.113.0/28. Medians are printed, and the ratio ours/tayga.

    sudo .venv/bin/python bench/nat64_throughput.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import sys
import tempfile
from pathlib import Path

import _common
import trio

from ipv6.lab import load_config, open_lab

PREFIX, POOL = "2001:db8:46::/96", "203.0.113.0/28"
SERVER4 = "198.51.100.10"
SERVER6 = "2001:db8:46::c633:640a"
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
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7100))
s.listen(1024)
while True:
    c, _ = s.accept()
    c.sendall(b"x")
    c.recv(1)  # the client closes first, so TIME_WAIT is the client's (tcp_tw_reuse there)
    c.close()
"""


async def iperf3(lab, seconds: float) -> float:
    h6, s4 = lab.host("h6"), lab.host("s4")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(s4.run, ["iperf3", "-s", "-1", "-B", SERVER4])
        await trio.sleep(0.5)
        out = await h6.run(["iperf3", "-J", "-c", SERVER6, "-t", str(seconds)])
    return float(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"])


async def setups(lab, seconds: float) -> float:
    out = await lab.host("h6").run([sys.executable, "-c", CONNECTOR, SERVER6, str(seconds)])
    return float(out.stdout)


async def with_tayga(lab, work: Path, measure) -> float:
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
            await trio.sleep(0.5)
            result = float(await measure())
            nursery.cancel_scope.cancel()
    finally:
        await gw.run(["ip", "link", "del", "tayga"])
    return result


async def with_ours(lab, work: Path, measure) -> float:
    gw = lab.host("gw")
    env = ["env", f"NETSH_STATE_DIR={work}", sys.executable, "-m", "ipv6", "nat64"]
    await gw.run([*env, "add", "nat64", "--prefix", PREFIX, "--pool", POOL])
    try:
        return float(await measure())
    finally:
        await gw.run([*env, "delete", "nat64"])


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    compileall.compile_dir(_common.ROOT / "ipv6", quiet=1)
    config = load_config(_common.ROOT / "configs/lab/nat64.toml", name=_common.unique("n64b"))
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with open_lab(config) as lab, trio.open_nursery() as servers:
            servers.start_soon(lab.host("s4").run, [sys.executable, "-c", ONE_BYTE_SERVER])
            # Thousands of connections a round: the client reuses ports in TIME_WAIT.
            await lab.host("h6").run(["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"])
            for round_ in range(args.rounds):
                for name, run in (("tayga", with_tayga), ("toolkit", with_ours)):
                    for what, measure in (
                        ("throughput", lambda: iperf3(lab, args.seconds)),
                        ("setups", lambda: setups(lab, args.seconds)),
                    ):
                        value = await run(lab, work, measure)
                        results.setdefault((name, what), []).append(value)
                        print(f"round {round_ + 1}: {name} {what} {value:,.0f}", file=sys.stderr)
            servers.cancel_scope.cancel()
    median = {key: statistics.median(values) for key, values in results.items()}
    throughput = median[("toolkit", "throughput")] / median[("tayga", "throughput")]
    rate = median[("toolkit", "setups")] / median[("tayga", "setups")]
    rows = [
        ("TCP throughput (Mbit/s)", f"{median[('tayga', 'throughput')] / 1e6:,.0f}",
         f"{median[('toolkit', 'throughput')] / 1e6:,.0f}", f"{throughput:.2f}x"),
        ("TCP connections set up per second", f"{median[('tayga', 'setups')]:,.0f}",
         f"{median[('toolkit', 'setups')]:,.0f}", f"{rate:.2f}x"),
    ]  # fmt: skip
    print(_common.table(rows, ("MEDIAN OF ROUNDS", "TAYGA", "TOOLKIT", "TOOLKIT/TAYGA")))
    met = throughput >= 0.5
    print(f"target: throughput within 2x of tayga's (ratio >= 0.50): {'MET' if met else 'NOT MET'}")
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    sys.exit(trio.run(main, parser.parse_args()))
