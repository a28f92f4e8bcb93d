"""Join scale: 10,000 any-source groups and 1,000 SSM channels by one process.

Target (issue: multicast membership): each set joined in under one second
and every membership visible in the kernel's tables afterwards. The baseline,
measured in the same run, is the kernel's own cost: the same joins as bare
setsockopt calls with pre-encoded arguments on pre-opened sockets.

    sudo .venv/bin/python bench/mcast_join_scale.py [--groups 10000] [--channels 1000]
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
import time

import _common
import trio

from ipv6.lab import load_config, open_lab
from ipv6.sockopts import LINUX, encode
from mcast import open_receiver, read_host_joins

SOURCE = "10.0.0.2"


def asm_groups(count: int) -> list[str]:
    base = int(ipaddress.IPv4Address("239.16.0.1"))
    return [str(ipaddress.IPv4Address(base + i)) for i in range(count)]


def ssm_groups(count: int) -> list[str]:
    base = int(ipaddress.IPv4Address("232.16.0.1"))
    return [str(ipaddress.IPv4Address(base + i)) for i in range(count)]


def baseline(groups: list[str], channels: list[str], limit: int) -> tuple[float, float]:
    """Bare setsockopt joins: the kernel's cost for the same memberships."""
    index = socket.if_nametoindex("eth0")
    encoded = [
        encode(LINUX, "group_req", {"gr_interface": index, "gr_group": ipaddress.ip_address(g)})
        for g in groups
    ]
    encoded_ssm = [
        encode(
            LINUX,
            "group_source_req",
            {
                "gsr_interface": index,
                "gsr_group": ipaddress.ip_address(g),
                "gsr_source": ipaddress.ip_address(SOURCE),
            },
        )
        for g in channels
    ]  # fmt: skip
    socks = [
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(len(groups) // limit + len(channels) // limit + 2)
    ]
    try:
        started = time.perf_counter()
        for i, value in enumerate(encoded):
            socks[i // limit].setsockopt(socket.IPPROTO_IP, 42, value)
        asm = time.perf_counter() - started
        offset = len(groups) // limit + 1
        started = time.perf_counter()
        for i, value in enumerate(encoded_ssm):
            socks[offset + i // limit].setsockopt(socket.IPPROTO_IP, 46, value)
        ssm = time.perf_counter() - started
    finally:
        for sock in socks:
            sock.close()
    return asm, ssm


async def main(args: argparse.Namespace) -> int:
    _common.require_root()
    groups, channels = asm_groups(args.groups), ssm_groups(args.channels)
    config = load_config(_common.ROOT / "configs/lab/two-hosts.toml", name=_common.unique("jscale"))
    async with open_lab(config) as lab:
        a = lab.host("a")
        with a.inside():
            with open("/proc/sys/net/ipv4/igmp_max_memberships") as sysctl:
                limit = int(sysctl.read())
            base_asm, base_ssm = baseline(groups, channels, limit)
        async with open_receiver(5001) as rx:
            with a.inside():
                started = time.perf_counter()
                for group in groups:
                    rx.join(group, "eth0")
                asm = time.perf_counter() - started
                started = time.perf_counter()
                for group in channels:
                    rx.join(group, "eth0", source=SOURCE)
                ssm = time.perf_counter() - started
                joined = {str(j.group): j for j in read_host_joins() if j.interface == "eth0"}
            missing_asm = [g for g in groups if g not in joined]
            missing_ssm = [
                g for g in channels
                if g not in joined or joined[g].mode != "include"
                or [str(s) for s in joined[g].filter_sources] != [SOURCE]
            ]  # fmt: skip
            sockets = rx.sockets
    rows = [
        (f"{len(groups)} any-source groups", f"{asm:.3f} s", f"{base_asm:.3f} s",
         f"{asm / base_asm:.2f}x", "yes" if not missing_asm else f"{len(missing_asm)} missing"),
        (f"{len(channels)} SSM channels", f"{ssm:.3f} s", f"{base_ssm:.3f} s",
         f"{ssm / base_ssm:.2f}x", "yes" if not missing_ssm else f"{len(missing_ssm)} missing"),
    ]  # fmt: skip
    print(f"join scale (igmp_max_memberships {limit}: the receiver used {sockets} sockets)")
    print(_common.table(rows, ("JOINED", "TOOLKIT", "BARE SETSOCKOPT", "RATIO", "ALL IN KERNEL")))
    ok = asm < 1.0 and ssm < 1.0 and not missing_asm and not missing_ssm
    print("target (each under 1 s, all visible in the kernel):", "MET" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=1_000)
    sys.exit(trio.run(main, parser.parse_args()))
