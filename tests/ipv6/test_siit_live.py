"""The translators in the lab (configs/lab/nat64.toml), for what a real kernel
adds to the pure core's cases: the routes each configuration puts into the
device, and what a loop would cost. A stateless translator with explicit
mappings for the two IPv6 hosts (the usual topology: those hosts behind it)
carries the IPv4 server's pings to them and theirs to it, hairpins them to
each other, answers pings to its own address instead of looping them, and
refuses what it cannot translate with an ICMPv6 error the host's socket
reports. A NAT64 answers its own address likewise, from both sides."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.ipv6.probes import UDP_ERROR_PROBE
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

PREFIX = "64:ff9b:1::/96"
H6, C6, SERVER4 = "2001:db8:64::10", "2001:db8:64::20", "198.51.100.10"
H4, C4, OWN4 = "192.0.2.10", "192.0.2.20", "192.0.2.1"


def embed(v4: str) -> str:
    net = ipaddress.IPv6Network(PREFIX)
    return str(ipaddress.IPv6Address(int(net.network_address) | int(ipaddress.IPv4Address(v4))))


async def tool(host: Any, state: Path, *words: str) -> Any:
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6", *words]
    result = await host.run(command, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result


async def pings(host: Any, address: str, *extra: str) -> str:
    done = await host.run(["ping", "-c", "2", "-i", "0.2", "-W", "3", *extra, address], check=False)
    return str(done.stdout.decode())


async def status(gw: Any, state: Path) -> dict[str, Any]:
    (row,) = json.loads((await tool(gw, state, "nat64", "status", "--json")).stdout)
    return dict(row)


async def test_a_stateless_translator_with_mappings_carries_hairpins_and_never_loops(
    lab, tmp_path: Path
) -> None:
    async with lab("nat64") as running:
        gw, h6, s4 = running.host("gw"), running.host("h6"), running.host("s4")
        pairs = ["--map", f"{H4}={H6}", "--map", f"{C4}={C6}"]
        await tool(gw, tmp_path, "nat64", "add", "siit", "--stateless", "--prefix", PREFIX,
                   "--ipv4-address", OWN4, *pairs)  # fmt: skip
        routes = (await gw.run(["ip", "-6", "route", "show", "dev", "siit"])).stdout.decode()
        assert PREFIX in routes and H6 not in routes and C6 not in routes, routes
        row = await status(gw, tmp_path)
        assert row["ipv4_side"] == []  # both pairs are IPv6 hosts behind the translator

        # The IPv4 server reaches the IPv6 hosts by their pairs' addresses, and back.
        assert " 0% packet loss" in await pings(s4, H4)
        assert " 0% packet loss" in await pings(h6, embed(SERVER4))
        # One IPv6 host reaches the other through its pair, hairpinned in the translator,
        # and hears the answer from the pair it asked: its hop limit falls by 4 (the
        # kernel into the device, the translator out and back in, the kernel onto the LAN).
        hairpin = await pings(h6, embed(C4))
        assert " 0% packet loss" in hairpin and "ttl=60" in hairpin, hairpin
        assert "DIFFERENT ADDRESS" not in hairpin, hairpin
        # The translator's own address in the prefix is answered (hop limit 64, less the
        # kernel's one hop onto the LAN), not looped until the hop limit runs out.
        own = await pings(h6, embed(OWN4))
        assert " 0% packet loss" in own and "ttl=63" in own, own
        # Link-local IPv4 is never translated: the host hears "administratively prohibited".
        probe = [sys.executable, "-c", UDP_ERROR_PROBE, embed("169.254.1.1")]
        refused = await h6.run(probe, check=False)
        assert refused.stdout.decode().strip() == "PermissionError", refused

        row = await status(gw, tmp_path)
        assert row["drops"]["to_translator_echo"] == 2, row["drops"]
        assert row["drops"]["destination_unmapped"] == 1, row["drops"]
        assert row["drops"].get("hop_limit_exceeded", 0) == 0, row["drops"]
        assert row["icmp_errors"]["sent"] == 1, row["icmp_errors"]


async def test_a_nat64_answers_its_own_address_from_both_sides(lab, tmp_path: Path) -> None:
    async with lab("nat64") as running:
        gw, h6, s4 = running.host("gw"), running.host("h6"), running.host("s4")
        await tool(gw, tmp_path, "nat64", "add", "nat64", "--prefix", PREFIX, "--pool",
                   "203.0.113.0/28")  # fmt: skip
        own4 = "203.0.113.0"  # the pool's first: the translator's own, never handed out
        from_v6 = await pings(h6, embed(own4))
        from_v4 = await pings(s4, own4)
        assert " 0% packet loss" in from_v6 and " 0% packet loss" in from_v4, (from_v6, from_v4)
        # A UDP datagram to it is refused with port unreachable, not translated.
        probe = await h6.run([sys.executable, "-c", UDP_ERROR_PROBE, embed(own4)], check=False)
        assert probe.stdout.decode().strip() == "ConnectionRefusedError", probe
        row = await status(gw, tmp_path)
        assert row["drops"]["to_translator_echo"] == 4 and row["drops"]["to_translator"] == 1
        assert row["session_count"] == 0  # nothing made a binding


async def kernel_share(host: Any, state: Path, command: str) -> tuple[str, int, int]:
    """(the plane running, packets the kernel's program translated, packets it left
    to the service) of the one translator or CLAT ``command`` shows."""
    (row,) = json.loads((await tool(host, state, command, "status", "--json")).stdout)
    k = row.get("kernel_plane") or {}
    return (
        row["plane_running"],
        k.get("to_ipv4_packets", 0) + k.get("to_ipv6_packets", 0),
        k.get("to_userspace", 0),
    )


@pytest.mark.needs_feature("ebpf_tc")
async def test_a_stateless_translator_and_a_clat_carry_tcp_in_the_kernel(
    lab, tmp_path: Path
) -> None:
    """The eBPF plane (auto finds it) under SIIT's explicit mapping and under a
    CLAT behind a NAT64: 10 MB each way arrive whole, and the kernel's programs,
    not the services, carried nearly all of them."""
    payload = os.urandom(10 * 1000 * 1000)
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()

    async def both_ways(client: Any, server: Any, address: str, tag: str, listen: str) -> None:
        """10 MB from ``client`` to ``server`` (which listens with socat's ``listen``,
        TCP4-LISTEN or TCP6-LISTEN), then 10 MB back, over IPv4 to ``address``."""
        up, down = tmp_path / f"{tag}-up.bin", tmp_path / f"{tag}-down.bin"
        serve_up = ["socat", "-u", f"{listen}:7200,reuseaddr", f"CREATE:{up}"]
        serve_down = ["socat", "-u", f"OPEN:{source}", f"{listen}:7201,reuseaddr"]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run, ["timeout", "60", *serve_up])
            await listening(server, "7200")
            send = ["socat", "-u", f"OPEN:{source}", f"TCP4:{address}:7200"]
            await client.run(["timeout", "60", *send])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run, ["timeout", "60", *serve_down])
            await listening(server, "7201")
            fetch = ["socat", "-u", f"TCP4:{address}:7201", f"CREATE:{down}"]
            await client.run(["timeout", "60", *fetch])
        for got in (up, down):
            assert hashlib.sha256(got.read_bytes()).hexdigest() == digest, f"{got.name} corrupted"

    async with lab("nat64") as running:
        gw, h6, s4, c6 = (running.host(n) for n in ("gw", "h6", "s4", "c6"))
        # SIIT: s4 (IPv4) reaches h6 as H4, h6 reaches s4 in the prefix; TCP from s4.
        await tool(gw, tmp_path, "nat64", "add", "siit", "--stateless", "--prefix", PREFIX,
                   "--ipv4-address", OWN4, "--map", f"{H4}={H6}")  # fmt: skip
        await both_ways(s4, h6, H4, "siit", "TCP6-LISTEN")
        plane, carried, left = await kernel_share(gw, tmp_path, "nat64")
        assert plane == "ebpf" and carried > 100 * left, (plane, carried, left)
        await tool(gw, tmp_path, "nat64", "delete", "siit")

        # A CLAT on c6 behind the NAT64 on gw: an IPv4 program on c6 reaches s4.
        await tool(gw, tmp_path, "nat64", "add", "nat64", "--prefix", PREFIX, "--pool",
                   "203.0.113.0/28")  # fmt: skip
        clat_state = tmp_path / "c6"
        await tool(c6, clat_state, "clat", "add", "clat", "--prefix", PREFIX)
        await both_ways(c6, s4, SERVER4, "clat", "TCP4-LISTEN")
        for host, state, command in ((c6, clat_state, "clat"), (gw, tmp_path, "nat64")):
            plane, carried, left = await kernel_share(host, state, command)
            assert plane == "ebpf" and carried > 100 * left, (command, plane, carried, left)
        await tool(c6, clat_state, "clat", "delete", "clat")
        await tool(gw, tmp_path, "nat64", "delete", "nat64")


async def listening(host: Any, port: str) -> None:
    async def bound() -> bool:
        shown = await host.run(["ss", "-lnHt"], check=False)
        return f":{port} " in shown.stdout.decode()

    await wait_until(bound, f"port {port} to listen in {host.name}", timeout=10)
