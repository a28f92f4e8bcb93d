"""The userspace tunnel plane with and without TUN offloads, in the two-hosts
lab: 50 MB over TCP across a 6to4 tunnel arrive intact (hashes compared),
tshark sees no IPv4 packet the plane sends larger than the tunnel MTU allows,
and status says which offloads are in use. Again with GRO on the receiving
host's IPv4 interface, as a NIC has it: the kernel merges the protocol-41
packets before the plane reads them, and the plane must pass them on whole."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import trio

from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

A4, B4 = "10.0.0.1", "10.0.0.2"
A6, B6 = "2002:a00:1::1", "2002:a00:2::1"
SIZE = 50 * 1024 * 1024
MTU = 1280


async def tool(host, state: Path, *words: str):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6", *words]
    result = await host.run(command, check=False)
    assert result.returncode == 0, f"ipv6 {' '.join(words)}: {result.stderr.decode()}"
    return result


async def six_to_four(host, state: Path, local: str, address: str, offload: bool) -> None:
    words = ["tunnel", "add", "tun6to4", "--mode", "6to4", "--local", local, "--lab",
             "--plane", "userspace"]  # fmt: skip
    if not offload:
        words.append("--no-offload")
    await tool(host, state, *words)
    await host.run(["ip", "-6", "addr", "add", f"{address}/16", "dev", "tun6to4", "nodad"])


async def carry(nursery: trio.Nursery, a, b, data: Path, received: Path) -> None:
    """``data`` from a to b over TCP across the tunnel, until b has all of it."""
    server = ["socat", "-u", "-T", "20", "TCP6-LISTEN:7200,reuseaddr", f"CREATE:{received}"]
    nursery.start_soon(b.run, ["timeout", "60", *server])

    async def listening() -> bool:
        return ":7200 " in (await b.run(["ss", "-lntH"])).stdout.decode()

    await wait_until(listening, "socat to listen in b", timeout=10)
    sent = await a.run(
        ["timeout", "60", "socat", "-u", f"OPEN:{data}", f"TCP6:[{B6}]:7200"], check=False
    )
    assert sent.returncode == 0, sent.stderr
    await wait_until(lambda: received.exists() and received.stat().st_size >= SIZE,
                     "the whole file in b", every=0.2)  # fmt: skip


async def kernel_gro(host) -> None:
    """GRO on the host's veth, as NICs have it. A veth merges only in NAPI, which a
    packet from a TSO-capable peer takes only with UDP GRO forwarding on too, and
    which merges a burst only when it runs in its own thread."""
    await host.run(["ethtool", "-K", "eth0", "gro", "on", "rx-udp-gro-forwarding", "on"])
    # /sys/class/net shows the reader's own namespace; a NAPI exists once GRO is on.
    await host.run(["sh", "-c", "echo 1 > /sys/class/net/eth0/threaded"])


@pytest.mark.parametrize(
    ("offload", "gro"),
    [(True, False), (False, False), (True, True), (False, True)],
    ids=["offloads", "no-offloads", "offloads-ipv4-gro", "no-offloads-ipv4-gro"],
)
async def test_50_mb_across_the_tunnel_arrive_whole_in_packets_that_fit(
    lab, tmp_path: Path, offload: bool, gro: bool
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(hashlib.shake_256(b"tunnel").digest(SIZE))
    received = tmp_path / "received.bin"
    capture, said = tmp_path / "wire.pcap", tmp_path / "tshark.err"
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        await six_to_four(a, tmp_path / "a", A4, A6, offload)
        await six_to_four(b, tmp_path / "b", B4, B6, offload)
        if gro:
            await kernel_gro(b)
        async with trio.open_nursery() as nursery:
            # Every IPv4 packet longer than the tunnel MTU plus its IPv4 header, if any,
            # that a's plane sends (b's GRO would merge what b receives).
            tshark = (
                f"tshark -i eth0 -f 'ip proto 41 and greater {MTU + 20 + 14 + 1}' "
                f"-a duration:60 -w {capture}"
            )
            nursery.start_soon(a.run, ["sh", "-c", f"exec timeout 70 {tshark} 2>{said}"])
            await wait_until(lambda: said.exists() and "Capturing on" in said.read_text(),
                             "tshark to capture", timeout=10)  # fmt: skip
            await carry(nursery, a, b, data, received)
            status = json.loads(
                (await tool(a, tmp_path / "a", "tunnel", "status", "--json")).stdout
            )
            (far,) = json.loads(
                (await tool(b, tmp_path / "b", "tunnel", "status", "--json")).stdout
            )
            nursery.cancel_scope.cancel()
        pattern = "tshark -i eth0 -f 'ip proto 41 and greater"
        await a.run(["pkill", "-INT", "-f", pattern], check=False)

        async def gone() -> bool:  # tshark has written its file and left
            return bool((await a.run(["pgrep", "-f", pattern], check=False)).returncode)

        await wait_until(gone, "tshark to finish its capture")
        oversized = await a.run(
            ["tshark", "-r", str(capture), "-T", "fields", "-e", "frame.len"], check=False
        )
    assert (
        hashlib.sha256(received.read_bytes()).digest() == hashlib.sha256(data.read_bytes()).digest()
    )
    assert oversized.stdout.strip() == b"", "IPv4 packets larger than the tunnel MTU allows"
    (row,) = status
    if offload:
        assert "gro" in row["offloads"] and "tso6" in row["offloads"], row
    else:
        assert row["offloads"] == [], row
    assert row["tx_packets"] >= SIZE // MTU
    merged = far["rx_merged_by_kernel"]
    if gro:  # the plane saw fewer, larger packets, and passed every byte on
        assert merged > 0 and far["rx_packets"] < row["tx_packets"], far
    else:
        assert merged == 0, far


@pytest.mark.needs_feature("ebpf_tc")
async def test_50_mb_across_the_tunnel_on_the_ebpf_plane(lab, tmp_path: Path) -> None:
    """The same file over the eBPF plane: it arrives whole, and the kernel's programs
    carried nearly all of it (out at a, in at b); the services saw a connection's
    first packets, before their pairs were checked."""
    data = tmp_path / "data.bin"
    data.write_bytes(hashlib.shake_256(b"tunnel").digest(SIZE))
    received = tmp_path / "received.bin"
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        for host, local, address in ((a, A4, A6), (b, B4, B6)):
            words = ["tunnel", "add", "tun6to4", "--mode", "6to4", "--local", local, "--lab",
                     "--plane", "ebpf"]  # fmt: skip
            await tool(host, tmp_path / host.name, *words)
            await host.run(["ip", "-6", "addr", "add", f"{address}/16", "dev", "tun6to4", "nodad"])
        async with trio.open_nursery() as nursery:
            await carry(nursery, a, b, data, received)
        rows = {}
        for host in (a, b):
            shown = await tool(host, tmp_path / host.name, "tunnel", "status", "--json")
            (rows[host.name],) = json.loads(shown.stdout)
    assert (
        hashlib.sha256(received.read_bytes()).digest() == hashlib.sha256(data.read_bytes()).digest()
    )
    out, into = rows["a"]["kernel_plane"], rows["b"]["kernel_plane"]
    assert rows["a"]["plane"] == "ebpf" and rows["a"]["running"], rows["a"]
    # GSO super-packets count once each in the kernel: compare packets with packets.
    assert out["encapsulated_packets"] > 50 * out["to_userspace"], out
    assert into["decapsulated_packets"] > 10 * max(
        1, rows["b"]["rx_packets"] - into["decapsulated_packets"]
    ), (rows["b"], into)
