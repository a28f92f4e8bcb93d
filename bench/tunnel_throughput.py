"""The userspace 6to4 plane against native IPv6 over the same veth path.

Target (issue: 6to4 and 6in4 tunnels): TCP throughput through the userspace
tunnel at least 30 % of native IPv6's. Measured in the same run, in one lab
(two-hosts: a and b on one veth link): iperf3 TCP from a to b, and ping rtt,
first native (2001:db8:0:1::/64 on the link), then through a 6to4 tunnel at
each end made by `ipv6 tunnel add` on the userspace plane (a's and b's
2002:: addresses, 10.0.0.0/24 outside under --lab): once with the default
MTU of 1280 and once with a large MTU, whose packets IPv4 carries as
fragments (DF is clear, RFC 4213 3.2). Both ratios are printed; the exit
status is the large MTU's verdict.

    sudo .venv/bin/python bench/tunnel_throughput.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import compileall
import json
import re
import statistics
import sys
import tempfile
from ipaddress import IPv4Address
from pathlib import Path

import _common
import trio

from ipv6._derive import sixto4_address
from ipv6.lab import load_config, open_lab

ENDS = {"a": IPv4Address("10.0.0.1"), "b": IPv4Address("10.0.0.2")}


async def toolkit(host, work: Path, *words: str) -> None:
    module = "ipv6.cli.netsh" if words[0] == "netsh" else "ipv6"
    await host.run(["env", f"NETSH_STATE_DIR={work}", sys.executable, "-m", module, *words[1:]])


async def iperf3(client, server, address: str, seconds: float) -> float:
    """Bits per second, a to b, one TCP stream."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.run, ["iperf3", "-s", "-1", "-B", address])
        await trio.sleep(0.5)
        out = await client.run(["iperf3", "-J", "-c", address, "-t", str(seconds)])
    report = json.loads(out.stdout)
    return float(report["end"]["sum_received"]["bits_per_second"])


async def rtt(client, address: str) -> float:
    """Average ping rtt in milliseconds over 20 echoes."""
    out = await client.run(["ping", "-c", "20", "-i", "0.05", "-q", address])
    found = re.search(r"= [\d.]+/([\d.]+)/", out.stdout.decode())
    assert found, out.stdout
    return float(found.group(1))


async def tunnels(lab, work: Path, mtu: int) -> None:
    """A 6to4 tunnel at each end, on the userspace plane, with this MTU."""
    for name, v4 in ENDS.items():
        host = lab.host(name)
        await toolkit(
            host, work, "ipv6", "tunnel", "add", "tun6to4", "--mode", "6to4",
            "--local", str(v4), "--lab", "--plane", "userspace", "--mtu", str(mtu),
        )  # fmt: skip
        address = ["netsh", "int", "ipv6", "add", "address", "tun6to4", str(sixto4_address(v4))]
        await toolkit(host, work, *address)
        await toolkit(host, work, "netsh", "int", "ipv6", "add", "route", "2002::/16", "tun6to4")


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    compileall.compile_dir(_common.ROOT / "ipv6", quiet=1)
    config = load_config(_common.ROOT / "configs/lab/two-hosts.toml", name=_common.unique("tbench"))
    far = str(sixto4_address(ENDS["b"]))
    samples: dict[str, list[tuple[float, float]]] = {}  # path -> [(bits/s, rtt ms)] per round

    async def measure(path: str, client, server, address: str) -> None:
        got = (await iperf3(client, server, address, args.seconds), await rtt(client, address))
        samples.setdefault(path, []).append(got)

    with tempfile.TemporaryDirectory(prefix="tunnel-bench-") as work_dir:
        work = Path(work_dir)
        async with open_lab(config) as lab:
            a, b = lab.host("a"), lab.host("b")
            for _ in range(args.rounds):  # the paths take turns, so drift hits each alike
                await measure("native IPv6 (veth)", a, b, "2001:db8:0:1::2")
                for mtu in (1280, args.large_mtu):
                    await tunnels(lab, work, mtu)
                    await measure(f"6to4, userspace plane, MTU {mtu}", a, b, far)
                    for host in (a, b):
                        await toolkit(host, work, "ipv6", "tunnel", "delete", "tun6to4")
    results = {
        path: {
            "throughput": statistics.median(bits for bits, _ in got),
            "low": min(bits for bits, _ in got),
            "high": max(bits for bits, _ in got),
            "rtt": statistics.median(ms for _, ms in got),
        }
        for path, got in samples.items()
    }
    native = results["native IPv6 (veth)"]
    rows = [
        (
            path,
            f"{r['throughput'] / 1e6:,.0f} Mbit/s ({r['low'] / 1e6:,.0f}-{r['high'] / 1e6:,.0f})",
            f"{r['rtt']:.3f} ms",
            f"{r['throughput'] / native['throughput']:.3f}",
        )
        for path, r in results.items()
    ]
    print(
        f"iperf3 TCP a -> b for {args.seconds} s and ping rtt over 20 echoes, each path "
        f"{args.rounds} times in turn, same lab, same run: medians (throughput range)"
    )
    print(_common.table(rows, ("PATH", "THROUGHPUT", "RTT", "THROUGHPUT RATIO")))
    verdicts = []
    for mtu in (1280, args.large_mtu):
        ratio = results[f"6to4, userspace plane, MTU {mtu}"]["throughput"] / native["throughput"]
        verdicts.append((mtu, ratio, ratio >= 0.30))
    print("target (tunnel throughput >= 30 % of native):")
    for mtu, ratio, ok in verdicts:
        why = " (the default, the seeds')" if mtu == 1280 else " (IPv4 fragments, RFC 4213 3.2)"
        print(f"  MTU {mtu}{why}: {ratio:.1%} {'MET' if ok else 'MISSED'}")
    return 0 if verdicts[-1][2] else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--large-mtu", type=int, default=65000, help="the second round's tunnel MTU"
    )
    sys.exit(trio.run(main, parser.parse_args()))
