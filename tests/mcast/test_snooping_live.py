"""A snooping bridge: with a querier on the LAN, a group's traffic reaches only
the ports with a member, and ``mcast show mdb`` lists exactly those; with
snooping off, every port gets it. tshark on the non-member's interface is the
witness (a host's IP layer would drop what it did not join, so a listener
cannot be)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import trio

from tests.mcast.labs import frames_at, joined
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

GROUP = "239.9.8.7"


def snooping_lan(snooping: bool) -> str:
    return f"""
    name = "snoop"
    [hosts.a]
    [hosts.b]
    [hosts.c]
    [[links]]
    name = "lan"
    snooping = {"true" if snooping else "false"}
    endpoints = [
      {{ host = "a", ifname = "eth0", addresses = ["10.0.9.1/24"] }},
      {{ host = "b", ifname = "eth0", addresses = ["10.0.9.2/24"] }},
      {{ host = "c", ifname = "eth0", addresses = ["10.0.9.3/24"] }},
    ]
    """


async def frames_at_c(running: Any, during: Any) -> int:
    """Frames to GROUP on c's wire while ``during`` runs."""
    return len(await frames_at(running.host("c"), f"udp and dst host {GROUP}", during))


@pytest.mark.parametrize("snooping", [True, False], ids=["snooping", "flooding"])
async def test_a_group_goes_only_where_it_was_joined(lab, snooping: bool) -> None:
    async with lab(snooping_lan(snooping), text=True) as running:
        a, b = running.host("a"), running.host("b")
        querier = await trio.lowlevel.open_process(
            # A short response time: the bridge floods for that long after the first
            # query, until members have had the time to answer.
            a.argv([sys.executable, "-m", "mcast", "querier", "-i", "eth0",
                    "--response-interval", "1"]),
            stdout=-1, stderr=-1,
        )  # fmt: skip
        member = await trio.lowlevel.open_process(
            b.argv([sys.executable, "-m", "mcast", "join", GROUP, "-p", "7000", "-i", "eth0",
                    "-t", "12", "--each", "--json"]),
            stdout=-1, stderr=-1,
        )  # fmt: skip
        try:
            bridge_ns = running.record.bridges["lan"]

            async def show_mdb() -> Any:
                return await trio.run_process(
                    [sys.executable, "-m", "ipv6.lab._nsexec", bridge_ns, sys.executable, "-m",
                     "mcast", "show", "mdb", "--json"],
                    capture_stdout=True, capture_stderr=True, check=False,
                )  # fmt: skip

            async def learnt() -> bool:
                (table,) = json.loads((await show_mdb()).stdout)
                return any(e["group"] == GROUP for e in table["entries"]) and any(
                    r["port"] == "a" for r in table["router_ports"])  # fmt: skip

            await joined(b, GROUP)
            if snooping:  # queries answered: the bridge has learnt the member and the querier
                await wait_until(learnt, "the bridge's member and router ports")
                # Time under test: after the first query it sees, the bridge floods for
                # one response interval (its own timer, which no tool shows).
                await trio.sleep(1.0)
            shown = await show_mdb()
            assert shown.returncode == 0, shown.stderr
            oracle = await trio.run_process(
                [sys.executable, "-m", "ipv6.lab._nsexec", bridge_ns, "bridge", "-j", "mdb"],
                capture_stdout=True, capture_stderr=True, check=False,
            )  # fmt: skip

            async def send() -> None:
                done = await a.run(
                    [sys.executable, "-m", "mcast", "send", GROUP, "-p", "7000", "-i", "eth0",
                     "--count", "5", "--interval", "0.1", "-q"], check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr

            at_c = await frames_at_c(running, send)
        finally:
            for process in (querier, member):
                process.terminate()
            for process in (querier, member):
                await process.wait()
        received = [
            line
            for line in (await member.stdout.receive_some(1 << 20)).decode().splitlines()  # type: ignore[union-attr]
            if '"group"' in line
        ]
    (bridge,) = json.loads(shown.stdout)
    assert bridge["bridge"] == "br0" and bridge["snooping"] is snooping
    # iproute2's bridge tool reads the same table: the same entries, port by port.
    (theirs,) = json.loads(oracle.stdout) if oracle.stdout.strip() else [{"mdb": []}]
    assert {(e["port"], e["group"]) for e in bridge["entries"]} == {
        (e["port"], e["grp"]) for e in theirs["mdb"]
    }
    assert len(received) == 5  # the member gets every datagram either way
    if snooping:
        ports = {e["port"] for e in bridge["entries"] if e["group"] == GROUP}
        assert ports == {"b"}  # the bridge's ports are named after the hosts
        assert "a" in {r["port"] for r in bridge["router_ports"]}  # where the queries come from
        assert at_c == 0
    else:
        assert [e for e in bridge["entries"] if e["group"] == GROUP] == []
        assert at_c == 5
