"""What a lab file declares for multicast, brought up by the lab itself:
static multicast routes and a proxy on a host, a snooping bridge's querier
and router ports. No command is run by hand before the traffic is checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from ipv6 import LabStepFailed
from ipv6.lab import parse_config
from ipv6.lab._netns import list_names
from ipv6.lab._state import state_dir
from tests.conftest import unique_lab_name
from tests.mcast.labs import arrivals, mcast
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

LAB = Path(__file__).parents[2] / "configs/lab/routed-multicast.toml"


def routed(r_adds: str, lan2_adds: str = "") -> str:
    """The routed-multicast lab with more keys for r and for lan2."""
    text = LAB.read_text()
    text = text.replace("[hosts.r]\n", f"[hosts.r]\n{r_adds}\n", 1)
    return text.replace('name = "lan2"\n', f'name = "lan2"\n{lan2_adds}\n', 1)


async def test_declared_static_routes_forward_from_the_start(lab, plane) -> None:
    routes = ('multicast_routes = [{ group = "239.9.9.9", in = "eth0", out = ["eth1"] },\n'
              '  { group = "ff1e::9", in = "eth0", out = ["eth1"] }]')  # fmt: skip
    async with lab(routed(routes), text=True) as running:
        assert await arrivals(running, "239.9.9.9", ttl=5) == [4, 4, 4]
        assert await arrivals(running, "ff1e::9", ttl=5) == [4, 4, 4]
        shown = json.loads((await mcast(running.host("r"), "route", "show", "--json")).stdout)
        assert {(row["group"], row["installed"]) for row in shown} == {
            ("239.9.9.9", True), ("ff1e::9", True)}  # fmt: skip
        assert {row["plane"] for row in shown} == {plane}


async def test_a_declared_proxy_runs_while_the_lab_is_up(lab, plane) -> None:
    proxy = 'proxy = { upstream = "eth0", downstream = ["eth1"] }'
    async with lab(routed(proxy), text=True) as running:
        log = state_dir() / f"{running.record.hosts['r']}-proxy.log"
        assert running.record.logs == [log.name] and log.exists()
        assert await arrivals(running, "239.9.9.8", ttl=5) == [4, 4, 4]
        assert await arrivals(running, "ff3e::9:8", ttl=5) == [4, 4, 4]
        said = log.read_text()
        assert "join: 239.9.9.8 upstream" in said and "route: (10.1.0.2, 239.9.9.8)" in said
        # lan2 snoops, and the proxy is its querier: the bridge learnt m1's ports
        # and r's router port.
        shown = await trio.run_process(
            [sys.executable, "-m", "ipv6.lab._nsexec", running.record.bridges["lan2"],
             sys.executable, "-m", "mcast", "show", "mdb", "--json"],
            capture_stdout=True, check=True,
        )  # fmt: skip
        (bridge,) = json.loads(shown.stdout)
        assert "r" in {port["port"] for port in bridge["router_ports"]}
    assert not log.exists()  # lab down removed what the lab's programs wrote


async def test_a_bridge_declares_its_querier_and_router_ports(lab) -> None:
    async with lab(routed("", "querier = true"), text=True) as running:
        bridge_ns: Any = running.record.bridges["lan2"]

        async def router_port_known() -> Any:
            shown = await trio.run_process(
                [sys.executable, "-m", "ipv6.lab._nsexec", bridge_ns, sys.executable, "-m",
                 "mcast", "show", "mdb", "--json"], capture_stdout=True, check=True,
            )  # fmt: skip
            return shown if json.loads(shown.stdout)[0]["router_ports"] else None

        shown: Any = await wait_until(router_port_known, "the bridge to list its router port")
        oracle = await trio.run_process(
            [sys.executable, "-m", "ipv6.lab._nsexec", bridge_ns, "ip", "-d", "-j", "link",
             "show", "r"], capture_stdout=True, check=True,
        )  # fmt: skip
    (bridge,) = json.loads(shown.stdout)
    assert bridge["snooping"] is True and bridge["querier"] is True
    assert [p["port"] for p in bridge["router_ports"]] == ["r"]
    (port,) = json.loads(oracle.stdout)
    assert port["linkinfo"]["info_slave_data"]["multicast_router"] == 2  # iproute2: permanent


async def test_a_program_that_fails_to_start_fails_the_lab_and_leaves_nothing() -> None:
    from ipv6.lab import open_lab

    # lan2's end of r has neither IPv4 nor IPv6: the proxy has nothing to query from.
    text = routed('proxy = { upstream = "eth0", downstream = ["eth1"] }').replace(
        '{ host = "r", ifname = "eth1", addresses = ["10.2.0.1/24", "2001:db8:2::1/64"], '
        "dad = false }",
        '{ host = "r", ifname = "eth1", sysctls = { "ipv6.disable_ipv6" = 1 } }',
    )
    name = unique_lab_name()
    config = parse_config(text, source="<test>", name=name)
    with pytest.raises(LabStepFailed) as failed:
        async with open_lab(config):
            pass
    assert "neither an IPv4 address nor a link-local IPv6 address" in str(failed.value)
    assert not [ns for ns in list_names() if ns.startswith(f"{name}-")]
    assert not list(state_dir().glob(f"{name}-*"))
