"""The seeds' Configuration 3 on the userspace plane against the same link in
the clear: TCP throughput and ping rtt between two link-local hosts.

One lab (link-local: a and b on link1), one run. The paths take turns each
round: in the clear; then with ipsec6 a on both hosts (AH, HMAC-MD5, the
seeds' files); then the same with HMAC-SHA-256; each removed again with
ipsec6 d before the next. iperf3, one TCP stream a to b, and 20 pings.
Medians of the rounds, and each protected path's ratio to the clear one.

    sudo .venv/bin/python bench/ipsec_ah.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import compileall
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

import _common
import trio

from ipv6.lab import load_config, open_lab

A, B = "fe80::210:5aff:feaa:20a2", "fe80::260:97ff:fe02:6ea5"  # a's and b's eth0
SPD = """Security Policy List

Policy RemoteIPAddr LocalIPAddr RemotePort Protocol LocalPort IPSecProtocol IPSecMode RemoteGWIPAddr SABundleIndex Direction Action InterfaceIndex
__________________________________________________________________________
2 {peer} * * * * AH TRANSPORT * NONE BIDIRECT APPLY 0 ;
1 * * * * * NONE NONE * NONE BIDIRECT BYPASS 0 ;
"""  # noqa: E501
SAD = """Security Association List

SAEntry SPI SADestIPAddr DestIPAddr SrcIPAddr Protocol DestPort SrcPort AuthAlg KeyFile Direction SecPolicyIndex
__________________________________________________________________________
2 3001 {host2} POLICY POLICY POLICY POLICY POLICY {alg} Test.key {out} 2 ;
1 3000 {host1} POLICY POLICY POLICY POLICY POLICY {alg} Test.key {into} 2 ;
"""  # noqa: E501

PATHS = (
    ("in the clear (baseline)", None),
    ("AH HMAC-MD5, userspace plane", "HMAC-MD5"),
    ("AH HMAC-SHA-256, userspace plane", "HMAC-SHA-256"),
)


async def ipsec6(host, work: Path, *words: str) -> None:
    await host.run(["env", f"NETSH_STATE_DIR={work}", sys.executable, "-m", "ipv6.cli.ipsec6",
                    *words])  # fmt: skip


async def protect(lab, work: Path, algorithm: str) -> None:
    """The seeds' Configuration 3 on a (Host 1) and b (Host 2)."""
    for name, peer in (("a", B), ("b", A)):
        folder = work / f"{name}-{algorithm}"
        folder.mkdir(exist_ok=True)
        first = name == "a"
        (folder / "test.spd").write_text(SPD.format(peer=peer))
        (folder / "test.sad").write_text(SAD.format(
            host1=A, host2=B, alg=algorithm, out="OUTBOUND" if first else "INBOUND",
            into="INBOUND" if first else "OUTBOUND"))  # fmt: skip
        (folder / "Test.key").write_text('"This is a test"\n')
        await ipsec6(lab.host(name), work, "a", str(folder / "test"))


async def clear(lab, work: Path) -> None:
    for name in ("a", "b"):
        for words in (("sa", "2"), ("sa", "1"), ("sp", "2"), ("sp", "1")):
            await ipsec6(lab.host(name), work, "d", f"type={words[0]}", words[1])


async def iperf3(client, server, seconds: float) -> float:
    """Bits per second, a to b, one TCP stream."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.run, ["iperf3", "-s", "-1"])
        await trio.sleep(0.5)
        out = await client.run(["iperf3", "-J", "-c", f"{B}%eth0", "-t", str(seconds)])
    return float(json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"])


async def rtt(client) -> float:
    out = await client.run(["ping", "-c", "20", "-i", "0.05", "-q", f"{B}%eth0"])
    found = re.search(r"= [\d.]+/([\d.]+)/", out.stdout.decode())
    assert found, out.stdout
    return float(found.group(1))


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    compileall.compile_dir(_common.ROOT / "ipv6", quiet=1)
    config = load_config(_common.ROOT / "configs/lab/link-local.toml",
                         name=_common.unique("ahbench"))  # fmt: skip
    samples: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="ipsec-bench-") as work_dir:
        work = Path(work_dir)
        async with open_lab(config) as lab:
            a, b = lab.host("a"), lab.host("b")
            for round_number in range(1, args.rounds + 1):
                for path, algorithm in PATHS:
                    if algorithm:
                        await protect(lab, work, algorithm)
                    got = (await iperf3(a, b, args.seconds), await rtt(a))
                    samples.setdefault(path, []).append(got)
                    print(f"round {round_number} {path}: {got[0] / 1e6:,.0f} Mbit/s, "
                          f"{got[1]:.3f} ms", file=sys.stderr)  # fmt: skip
                    if algorithm:
                        await clear(lab, work)
    base = statistics.median(bits for bits, _ in samples["in the clear (baseline)"])
    base_rtt = statistics.median(ms for _, ms in samples["in the clear (baseline)"])
    rows = []
    for path, got in samples.items():
        bits = statistics.median(b for b, _ in got)
        ms = statistics.median(m for _, m in got)
        rows.append((path, f"{bits / 1e6:,.0f} Mbit/s ({min(b for b, _ in got) / 1e6:,.0f}-"
                           f"{max(b for b, _ in got) / 1e6:,.0f})", f"{bits / base:.3f}",
                     f"{ms:.3f} ms", f"{ms / base_rtt:.1f}x"))  # fmt: skip
    print(f"iperf3 TCP a -> b for {args.seconds} s and ping rtt over 20 echoes, link-local "
          f"lab, each path {args.rounds} times in turn, same run: medians (range)")  # fmt: skip
    print(_common.table(rows, ("PATH", "THROUGHPUT", "VS CLEAR", "RTT", "RTT VS CLEAR")))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    sys.exit(trio.run(main, parser.parse_args()))
