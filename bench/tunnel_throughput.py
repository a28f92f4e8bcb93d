"""The 6to4 planes (userspace with and without TUN offloads, and eBPF) against
native IPv6 over the same veth path.

Targets:
- issue: a faster userspace plane. At MTU 1280, at least 2 Gbit/s with
  offloads, and at least 3x the plane without them.
- issue: kernel fast paths. The eBPF plane at least half of native, and at
  least 5x the userspace plane (with offloads).
All are measured in the same run.

In one lab (two-hosts: a and b on one veth link), iperf3 sends TCP from a
to b, and ping measures the rtt, over each path in turn, round after round:
- native (2001:db8:0:1::/64 on the link);
- a 6to4 tunnel at each end made by `ipv6 tunnel add` (a's and b's 2002::
  addresses, 10.0.0.0/24 outside under --lab), at MTU 1280, on the
  userspace plane with offloads (TSO in, GRO out, sendmmsg);
- the same without them (--no-offload);
- the same on the eBPF plane.

CPU per packet, two ways. The services' CPU time over the run, divided by
the packets they carried, is µs of CPU per packet on the wire. The whole
machine's busy time (/proc/stat: the kernel's work is softirq, which no
process's times show), divided by the TCP payload in 1,208-byte segments,
is µs per segment.

    sudo .venv/bin/python bench/tunnel_throughput.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
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

SEGMENT = 1208  # TCP's payload in a 1,280-byte IPv6 packet with timestamps
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


async def tunnels(
    lab, work: Path, mtu: int, offload: bool = True, plane: str = "userspace"
) -> None:
    """A 6to4 tunnel at each end, on ``plane`` (userspace or ebpf), with this MTU."""
    for name, v4 in ENDS.items():
        host = lab.host(name)
        await toolkit(
            host, work, "ipv6", "tunnel", "add", "tun6to4", "--mode", "6to4",
            "--local", str(v4), "--lab", "--plane", plane, "--mtu", str(mtu),
            *([] if offload else ["--no-offload"]),
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

    cpu: dict[str, list[float]] = {}  # path -> µs of service CPU per packet on the wire
    machine: dict[str, list[float]] = {}  # path -> µs of the machine's CPU per segment

    async def measure(path: str, client, server, address: str, work: Path | None = None) -> None:
        before = _service_cpu(work) if work else None
        busy = _common.busy_seconds()
        bits = await iperf3(client, server, address, args.seconds)
        busy = _common.busy_seconds() - busy
        got = (bits, await rtt(client, address))
        samples.setdefault(path, []).append(got)
        segments = bits * args.seconds / 8 / SEGMENT
        machine.setdefault(path, []).append(1e6 * busy / max(1.0, segments))
        if work is not None and before is not None:
            seconds, packets = _service_cpu(work), _packets(work)
            cpu.setdefault(path, []).append(1e6 * (seconds[0] - before[0]) / max(1, packets))

    with tempfile.TemporaryDirectory(prefix="tunnel-bench-") as work_dir:
        work = Path(work_dir)
        async with open_lab(config) as lab:
            a, b = lab.host("a"), lab.host("b")
            for _ in range(args.rounds):  # the paths take turns, so drift hits each alike
                await measure("native IPv6 (veth)", a, b, "2001:db8:0:1::2")
                for plane, offload in (("userspace", True), ("userspace", False), ("ebpf", True)):
                    await tunnels(lab, work, 1280, offload, plane)
                    path = f"6to4, {plane} plane, MTU 1280, {'offloads' if offload else 'none'}"
                    await measure(path, a, b, far, work)
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
    plain = results["6to4, userspace plane, MTU 1280, none"]
    rows = [
        (
            path,
            f"{r['throughput'] / 1e6:,.0f} Mbit/s ({r['low'] / 1e6:,.0f}-{r['high'] / 1e6:,.0f})",
            f"{r['rtt']:.3f} ms",
            f"{r['throughput'] / native['throughput']:.3f}",
            f"{r['throughput'] / plain['throughput']:.2f}x",
            f"{statistics.median(cpu[path]):.1f}" if path in cpu else "-",
            f"{statistics.median(machine[path]):.2f}",
        )
        for path, r in results.items()
    ]
    print(
        f"iperf3 TCP a -> b for {args.seconds} s and ping rtt over 20 echoes, each path "
        f"{args.rounds} times in turn, same lab, same run: medians (throughput range)"
    )
    header = ("PATH", "THROUGHPUT", "RTT", "VS NATIVE", "VS NO OFFLOADS", "SERVICE CPU µs/PACKET",
              "MACHINE CPU µs/SEGMENT")  # fmt: skip
    print(_common.table(rows, header))
    fast = results["6to4, userspace plane, MTU 1280, offloads"]["throughput"]
    ratio = fast / plain["throughput"]
    met = fast >= 2e9 and ratio >= 3
    print(
        f"target (MTU 1280, offloads: >= 2 Gbit/s and >= 3x without): {fast / 1e9:.2f} Gbit/s, "
        f"{ratio:.2f}x: {'MET' if met else 'MISSED'}"
    )
    kernel = results["6to4, ebpf plane, MTU 1280, offloads"]["throughput"]
    of_native, of_user = kernel / native["throughput"], kernel / fast
    ebpf_met = of_native >= 0.5 and of_user >= 5
    print(
        f"target (eBPF plane, MTU 1280: >= half of native and >= 5x the userspace plane): "
        f"{of_native:.2f} of native, {of_user:.2f}x: {'MET' if ebpf_met else 'MISSED'}"
    )
    return 0 if met and ebpf_met else 1


def _service_cpu(work: Path) -> tuple[float, int]:
    """CPU seconds (user and system) of the tunnel services of both ends, now."""
    import psutil

    total = 0.0
    for registry in work.glob("tunnels-*[0-9].json"):
        pid = json.loads(registry.read_text()).get("service")
        if pid:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
    return total, 0


def _packets(work: Path) -> int:
    """Packets on the wire both ends' services have carried so far (status files)."""
    total = 0
    for status in work.glob("tunnels-*.status.json"):
        for row in json.loads(status.read_text()).get("tunnels", {}).values():
            total += row["tx_packets"] + row["rx_packets"]
    return total


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    sys.exit(trio.run(main, parser.parse_args()))
