"""netsh at scale: 1,000 addresses and 1,000 routes as one script.

Target (issue: netsh-like configuration): within 2x of ``ip -batch`` given the
same changes. Measured in the same run, each in a fresh lab host of its own:
``ip -batch`` (the baseline), one pyroute2 call per change, and
``netsh -f`` (the whole command: start-up, parsing, planning, applying as a
transaction). Every method must leave all 2,000 changes in the kernel.

    sudo .venv/bin/python bench/netsh_apply.py [--count 1000]
"""

from __future__ import annotations

import argparse
import compileall
import ipaddress
import sys
import tempfile
import time
from pathlib import Path

import _common
import trio

from ipv6.lab import load_config, open_lab

GATEWAY = "2001:db8:0:1::2"


def changes(count: int) -> tuple[list[str], list[str]]:
    """The addresses and route prefixes every method adds."""
    base = int(ipaddress.IPv6Address("2001:db8:10::1"))
    addresses = [f"{ipaddress.IPv6Address(base + i)}/64" for i in range(count)]
    routes = [f"2001:db8:{0x1000 + i:x}::/48" for i in range(count)]
    return addresses, routes


def ip_batch(addresses: list[str], routes: list[str]) -> str:
    lines = [f"addr add {a} dev eth0 nodad" for a in addresses]
    lines += [f"route add {r} via {GATEWAY} dev eth0" for r in routes]
    return "\n".join(lines) + "\n"


def netsh_script(addresses: list[str], routes: list[str]) -> str:
    lines = ["pushd interface ipv6"]
    lines += [f"add address eth0 {a}" for a in addresses]
    lines += [f"add route {r} eth0 {GATEWAY}" for r in routes]
    return "\n".join([*lines, "popd"]) + "\n"


def pyroute2_each(addresses: list[str], routes: list[str]) -> None:
    """One pyroute2 call per change: the obvious way to script netlink."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname="eth0")
        for a in addresses:
            address, length = a.split("/")
            ipr.addr("add", index=index, address=address, prefixlen=int(length))
        for r in routes:
            prefix, length = r.split("/")
            ipr.route("add", dst=prefix, dst_len=int(length), gateway=GATEWAY, oif=index)


def count_in_kernel(addresses: list[str], routes: list[str]) -> int:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        have = {m.get_attr("IFA_ADDRESS") for m in ipr.get_addr(family=10)}
        dsts = {f"{m.get_attr('RTA_DST')}/{m['dst_len']}" for m in ipr.get_routes(family=10)}
    return sum(a.split("/")[0] in have for a in addresses) + sum(r in dsts for r in routes)


async def timed(lab, method: str, addresses: list[str], routes: list[str], work: Path) -> float:
    host = lab.host("a")
    started = time.perf_counter()
    if method == "ip -batch":
        path = work / "changes.ip"
        path.write_text(ip_batch(addresses, routes))
        await host.run(["ip", "-batch", str(path)])
    elif method == "pyroute2, one call per change":
        await trio.to_thread.run_sync(host.call, pyroute2_each, addresses, routes)
    else:
        path = work / "changes.netsh"
        path.write_text(netsh_script(addresses, routes))
        netsh = [sys.executable, "-m", "ipv6.cli.netsh", "-f", str(path)]
        await host.run(["env", f"NETSH_STATE_DIR={work}", *netsh])
    elapsed = time.perf_counter() - started
    found = await trio.to_thread.run_sync(host.call, count_in_kernel, addresses, routes)
    if found != len(addresses) + len(routes):
        raise SystemExit(f"{method}: only {found} of the changes are in the kernel")
    return elapsed


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    # Byte-compiled first, as an installed package is (start-up is part of the time).
    compileall.compile_dir(_common.ROOT / "ipv6", quiet=1)
    addresses, routes = changes(args.count)
    methods = ["ip -batch", "pyroute2, one call per change", "netsh -f"]
    results = {}
    for method in methods:
        config = load_config(
            _common.ROOT / "configs/lab/two-hosts.toml", name=_common.unique("nbench")
        )
        with tempfile.TemporaryDirectory(prefix="netsh-bench-") as work:
            async with open_lab(config) as lab:
                results[method] = await timed(lab, method, addresses, routes, Path(work))
    base = results["ip -batch"]
    rows = [(m, f"{t:.3f} s", f"{t / base:.2f}x") for m, t in results.items()]
    print(f"netsh apply: {args.count} addresses and {args.count} routes, all found in the kernel")
    print(_common.table(rows, ("METHOD", "TIME", "RATIO TO ip -batch")))
    ok = results["netsh -f"] <= 2 * base
    print("target (netsh -f within 2x of ip -batch):", "MET" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000)
    sys.exit(trio.run(main, parser.parse_args()))
