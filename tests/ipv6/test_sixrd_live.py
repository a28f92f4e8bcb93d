"""6rd (RFC 5969) in configs/lab/6rd.toml on the userspace plane: two customer
edges reach each other straight and a native IPv6 host through the border
relay; spoofed protocol-41 packets are dropped and counted by the checks of
RFC 5969 section 12, and a perfect spoof passes (as RFC 3964 5.2 says of 6to4)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ipv6.test_tunnel_live import SPOOFER
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

PREFIX = "2001:db8::/32"
CE1, CE2, BR = "10.64.1.1", "10.64.2.1", "10.64.0.1"
CE1_6, CE2_6, BR_6 = "2001:db8:4001:100::1", "2001:db8:4002:100::1", "2001:db8:4000:100::1"
NATIVE = "3fff:0:99::10"
SPOOFER_4 = "10.64.1.66"

# (reason counted, outer source, outer destination, inner source, inner destination)
AT_CE1 = [
    ("inner_src_6rd_mismatch", SPOOFER_4, CE1, CE2_6, CE1_6),
    ("inner_src_native_not_from_relay", SPOOFER_4, CE1, NATIVE, CE1_6),
    ("inner_dst_not_own_6rd", CE2, CE1, CE2_6, "2001:db8:4002:100::5"),
    ("inner_src_link_local", CE2, CE1, "fe80::1", CE1_6),
    ("inner_dst_multicast", CE2, CE1, CE2_6, "ff02::1"),
    ("outer_src_private", "192.168.7.7", CE1, CE2_6, CE1_6),
]
AT_BR = [
    ("inner_src_not_6rd", SPOOFER_4, BR, NATIVE, BR_6),
    ("inner_src_6rd_mismatch", SPOOFER_4, BR, CE2_6, NATIVE),
]
PASSES = [("delivered", CE2, CE1, CE2_6, CE1_6)]


async def tool(host, state: Path, *words: str):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6", *words]
    result = await host.run(command, check=False)
    assert result.returncode == 0, f"ipv6 {' '.join(words)}: {result.stderr.decode()}"
    return result


async def status(host, state: Path) -> dict[str, Any]:
    (row,) = json.loads((await tool(host, state, "tunnel", "status", "--json")).stdout)
    return dict(row)


async def ping(host, address: str) -> str:
    result = await host.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", address], check=False)
    return str(result.stdout.decode())


async def test_6rd_edges_reach_each_other_and_native_ipv6_and_spoofs_drop(
    lab, tmp_path: Path
) -> None:
    async with lab("6rd") as running:
        ce1, ce2, br = running.host("ce1"), running.host("ce2"), running.host("br")
        v6, spoofer = running.host("v6"), running.host("spoofer")
        common = ["--6rd-prefix", PREFIX, "--ipv4-mask-length", "8", "--lab"]
        for host, local in ((ce1, CE1), (ce2, CE2)):
            made = await tool(
                host, tmp_path / host.name, "tunnel", "add", "6rd", "--mode", "6rd",
                "--local", local, "--relay", BR, "--plane", "userspace", *common,
            )  # fmt: skip
            assert b"customer edge" in made.stdout
            await host.run(["ip", "-6", "route", "add", "default", "dev", "6rd"])
        await tool(
            br, tmp_path / "br", "tunnel", "add", "6rd", "--mode", "6rd", "--local", BR, "--br",
            "--plane", "userspace", *common,
        )  # fmt: skip
        shown = await status(ce1, tmp_path / "ce1")
        assert shown["addresses"] == [CE1_6] and shown["remote"] == PREFIX

        assert " 0% packet loss" in await ping(ce1, CE2_6)  # edge to edge, straight
        assert " 0% packet loss" in await ping(ce1, NATIVE)  # through the border relay
        assert " 0% packet loss" in await ping(v6, CE2_6)  # native to an edge
        relayed = await status(br, tmp_path / "br")
        assert relayed["rx_packets"] >= 2 and relayed["tx_packets"] >= 2

        ce1_before = await status(ce1, tmp_path / "ce1")
        br_before = await status(br, tmp_path / "br")

        async def send(vectors: list[tuple[str, str, str, str, str]]) -> None:
            await spoofer.run(
                [sys.executable, "-c", SPOOFER, json.dumps([list(v[1:]) for v in vectors])]
            )

        await send(AT_CE1 + AT_BR + PASSES)
        want_ce1: dict[str, int] = {}
        for reason, *_ in AT_CE1:
            want_ce1[reason] = want_ce1.get(reason, 0) + 1
        want_br = {reason: 1 for reason, *_ in AT_BR}

        def grew(now: dict[str, Any], before: dict[str, Any], want: dict[str, int]) -> bool:
            return all(
                now["drops"].get(k, 0) - before["drops"].get(k, 0) >= n for k, n in want.items()
            )

        async def counted() -> tuple[dict[str, Any], dict[str, Any]] | None:
            ce1_now, br_now = await status(ce1, tmp_path / "ce1"), await status(br, tmp_path / "br")
            if grew(ce1_now, ce1_before, want_ce1) and grew(br_now, br_before, want_br):
                return ce1_now, br_now
            return None

        ce1_now, br_now = await wait_until(counted, "the drops counted", timeout=10, every=0.2)
        for reason, n in want_ce1.items():
            got = ce1_now["drops"].get(reason, 0) - ce1_before["drops"].get(reason, 0)
            assert got == n, f"ce1 {reason}: {got} (all: {ce1_now['drops']})"
        for reason, n in want_br.items():
            got = br_now["drops"].get(reason, 0) - br_before["drops"].get(reason, 0)
            assert got == n, f"br {reason}: {got} (all: {br_now['drops']})"
        assert ce1_now["rx_packets"] > ce1_before["rx_packets"]  # the perfect spoof passed
