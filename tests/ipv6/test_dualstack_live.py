"""Dual-stack behaviour on the real kernel: the probe for both bindv6only
values, replies from the address reached, and Happy Eyeballs falling back."""

from __future__ import annotations

import json
import socket
import sys

import pytest
import trio

from tests.conftest import run_cli
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

LAB = """
[hosts.v4]
sysctls = { disable_ipv6 = true }
[hosts.v6]
[hosts.dual]
[hosts.client]
[[links]]
name = "lan"
[[links.endpoints]]
host = "v4"
addresses = ["10.6.0.4/24"]
[[links.endpoints]]
host = "v6"
addresses = ["2001:db8:6::6/64"]
dad = false
[[links.endpoints]]
host = "dual"  # two addresses of each family
addresses = ["10.6.0.1/24", "10.6.0.2/24", "2001:db8:6::1/64", "2001:db8:6::2/64"]
dad = false
[[links.endpoints]]
host = "client"
addresses = ["10.6.0.9/24", "2001:db8:6::9/64"]
dad = false
"""


def expected(listener: str, client: str, bindv6only: int) -> bool:
    """Linux's rules, written independently of the probe."""
    v6only_default = bindv6only == 1
    if listener == "system default":
        listener = "v6-only" if v6only_default else "dual-stack"
    on_the_wire = "IPv6" if client == "IPv6" else "IPv4"
    if client == "v4-mapped" and v6only_default:
        return False  # the client's own AF_INET6 socket is v6-only: ENETUNREACH
    return {"dual-stack": True, "v6-only": on_the_wire == "IPv6", "v4-only": on_the_wire == "IPv4"}[
        listener
    ]


def test_the_probe_table_matches_the_kernel_for_both_bindv6only_values() -> None:
    result = run_cli("ipv6", "dualstack", "probe", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {r["bindv6only"] for r in rows} == {0, 1} and len(rows) == 2 * 2 * 4 * 3
    for row in rows:
        want = expected(row["listener"], row["client"], row["bindv6only"])
        assert row["reached"] == want, row
        if row["reached"]:
            # A dual-stack listener sees IPv4 clients as mapped addresses; a v4-only one as IPv4.
            if row["client"] != "IPv6" and row["listener"] in ("dual-stack", "system default"):
                assert row["server_saw"] == "::ffff:127.0.0.1", row
            if row["listener"] == "v4-only":
                assert row["server_saw"] == "127.0.0.1", row


async def _udp_ask(family: int, target: str, port: int) -> tuple[bytes, str]:
    sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    with sock:
        await sock.sendto(b"hello", (target, port))
        with trio.fail_after(3):
            data, peer = await sock.recvfrom(100)
    return data, str(peer[0])


async def test_replies_leave_from_the_address_each_request_reached(lab) -> None:
    async with lab(LAB, text=True) as running:
        dual = running.host("dual")
        async with trio.open_nursery() as nursery:
            outputs: dict[str, bytes] = {}

            async def serve() -> None:
                done = await dual.run(
                    [
                        sys.executable,
                        "-m",
                        "ipv6",
                        "dualstack",
                        "serve",
                        "7007",
                        "--json",
                        "--duration",
                        "4",
                    ],
                    check=False,
                )
                outputs["serve"] = done.stdout

            nursery.start_soon(serve)
            await wait_until(lambda: tcp_and_udp_bound(dual, 7007), "the echo service's port")
            asked = []
            for host, family, target in (
                ("v4", socket.AF_INET, "10.6.0.2"),
                ("v4", socket.AF_INET, "10.6.0.1"),
                ("v6", socket.AF_INET6, "2001:db8:6::2"),
                ("v6", socket.AF_INET6, "2001:db8:6::1"),
            ):
                data, source = await running.host(host).run_trio(_udp_ask, family, target, 7007)
                assert data == b"hello"
                assert source == target, f"asked {target}, the answer came from {source}"
                asked.append(target)
            # TCP from an IPv4-only host: the service says how it saw the peer.
            line = await running.host("v4").run(
                [
                    sys.executable,
                    "-c",
                    (
                        "import socket; s=socket.create_connection(('10.6.0.2', 7007)); "
                        "print(s.recv(200).decode().strip())"
                    ),
                ]
            )
            assert (
                line.stdout.decode().strip()
                == "you are IPv4 10.6.0.4 port "
                + (line.stdout.decode().split("port ")[1].split(",")[0])
                + ", reached 10.6.0.2"
            )
        events = [json.loads(x) for x in outputs["serve"].decode().splitlines()]
        udp = [e for e in events if e["event"] == "peer" and e["protocol"] == "UDP"]
        assert [e["local"] for e in udp] == asked
        assert {e["family"] for e in udp} == {"IPv4", "IPv6"}
        assert any(e["peer_raw"] == "::ffff:10.6.0.4" and e["peer"] == "10.6.0.4" for e in udp)


async def test_check_against_an_ipv4_only_service_shows_the_race_falling_back(lab) -> None:
    async with lab(LAB, text=True) as running:
        dual, client = running.host("dual"), running.host("client")
        with dual.inside():
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("0.0.0.0", 7008))
            listener.listen(8)
        with listener:
            done = await client.run(
                [
                    sys.executable,
                    "-m",
                    "ipv6",
                    "dualstack",
                    "check",
                    "2001:db8:6::1,10.6.0.1",
                    "7008",
                    "--json",
                ],
                check=False,
            )
            text = await client.run(
                [
                    sys.executable,
                    "-m",
                    "ipv6",
                    "dualstack",
                    "check",
                    "2001:db8:6::1,10.6.0.1",
                    "7008",
                ],
                check=False,
            )
        report = json.loads(done.stdout)
        assert done.returncode == 0, done.stderr
        assert report["IPv6"]["attempts"][0]["outcome"] == "refused"
        assert report["IPv4"]["attempts"][0]["outcome"] == "connected"
        race = report["race"]
        assert [a["family"] for a in race["attempts"]] == ["IPv6", "IPv4"]  # IPv6 first
        assert race["winner"]["family"] == "IPv4" and race["winner"]["address"] == "10.6.0.1"
        # The refusal let IPv4 start at once instead of after the 250 ms attempt delay.
        assert race["attempts"][1]["started_ms"] < 250
        assert "Happy Eyeballs: IPv4 10.6.0.1 won" in text.stdout.decode()


async def tcp_and_udp_bound(host, port: int) -> bool:
    """Whether the service in ``host`` listens on ``port`` over TCP and UDP."""
    shown = (await host.run(["ss", "-H", "-ltun", f"sport = :{port}"])).stdout.decode()
    return {line.split()[0] for line in shown.splitlines() if line.strip()} >= {"tcp", "udp"}
