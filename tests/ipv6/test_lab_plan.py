"""The plan: what a lab's steps are, and in which order, without a kernel."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest

from ipv6._kernelops import AddAddress, AddRoute, SetLinkState, WriteSysctl
from ipv6.lab import load_config, parse_config, plan_up
from ipv6.lab._plan import (
    AttachToBridge,
    CreateBridge,
    CreateNamespace,
    CreateVeth,
    InNamespace,
    Plan,
    RunInHost,
    SetRouterPort,
    StartInHost,
    WaitForAddresses,
)

LABS = Path(__file__).resolve().parents[2] / "configs" / "lab"


KERNEL_OPS = (AddAddress, AddRoute, SetLinkState, WriteSysctl)
Op = TypeVar("Op")


def positions(plan, kind) -> list[int]:
    """Where steps of ``kind`` are: a lab step, or a kernel operation in a namespace."""
    if kind in KERNEL_OPS:
        return [i for i, s in enumerate(plan.steps) if isinstance(getattr(s, "op", None), kind)]
    return [i for i, s in enumerate(plan.steps) if isinstance(s, kind)]


def in_namespaces(plan: Plan, kind: type[Op]) -> list[tuple[str, Op]]:
    """(namespace, operation) of each kernel operation of ``kind``, in order."""
    return [
        (s.namespace, s.op)
        for s in plan.steps
        if isinstance(s, InNamespace) and isinstance(s.op, kind)
    ]


@pytest.mark.parametrize("lab", ["two-hosts", "lan", "link-local", "6to4-two-sites"])
def test_every_name_carries_the_tag_and_every_step_is_in_a_made_namespace(lab: str) -> None:
    plan = plan_up(load_config(LABS / f"{lab}.toml"), "tagX-1a2b")
    made: set[str] = set()
    for step in plan.steps:
        if isinstance(step, CreateNamespace):
            assert step.namespace.startswith("tagX-1a2b-")
            made.add(step.namespace)
        elif isinstance(step, WaitForAddresses):
            assert set(step.namespaces) <= made
        else:
            assert step.namespace in made, f"{step.describe()} before its namespace exists"
            if isinstance(step, CreateVeth):
                assert step.peer_namespace in made
    assert len(plan.namespaces) == len(set(plan.namespaces))


def test_a_two_host_link_is_one_veth_and_a_lan_is_a_bridge_with_ports() -> None:
    plan = plan_up(load_config(LABS / "two-hosts.toml"), "t")
    assert len(positions(plan, CreateVeth)) == 1
    assert not positions(plan, CreateBridge)

    plan = plan_up(load_config(LABS / "lan.toml"), "t")
    (bridge,) = [s for s in plan.steps if isinstance(s, CreateBridge)]
    assert bridge.namespace == plan.bridges["lan"] == "t-lan"
    assert not bridge.snooping
    veths = [s for s in plan.steps if isinstance(s, CreateVeth)]
    assert {(v.namespace, v.ifname, v.peer_namespace, v.peer_ifname) for v in veths} == {
        ("t-a", "eth0", "t-lan", "a"),
        ("t-b", "eth0", "t-lan", "b"),
        ("t-c", "eth0", "t-lan", "c"),
    }
    attached = {s.ifname for s in plan.steps if isinstance(s, AttachToBridge)}
    assert attached == {"a", "b", "c"}
    # The switch stays silent on the LAN: no IPv6 of its own.
    silenced = [op for ns, op in in_namespaces(plan, WriteSysctl) if ns == "t-lan"]
    assert {op.path.rsplit("/", 2)[-2] for op in silenced} == {"all", "default"}


def test_order_settings_then_links_then_addresses_then_up_then_routes() -> None:
    plan = plan_up(load_config(LABS / "6to4-two-sites.toml"), "t")
    first_veth = min(positions(plan, CreateVeth))
    early = [
        i
        for i, s in enumerate(plan.steps)
        if isinstance(s, InNamespace) and "/conf/default/" in getattr(s.op, "path", "")
    ]
    assert early and max(early) < first_veth  # inherited by interfaces made later
    assert max(positions(plan, CreateVeth)) < min(positions(plan, AddAddress))
    host_ups = [
        i
        for i, s in enumerate(plan.steps)
        if isinstance(s, InNamespace)
        and isinstance(s.op, SetLinkState)
        and s.op.interface != "lo"
        and not s.namespace.endswith("lan")
    ]
    assert max(positions(plan, AddAddress)) < max(host_ups)
    assert max(host_ups) < min(positions(plan, AddRoute))
    assert isinstance(plan.steps[-1], WaitForAddresses)


def test_host_settings_reach_all_default_and_each_interface() -> None:
    config = parse_config(
        """
        [hosts.a]
        sysctls = { accept_ra = 2, bindv6only = true, "net.ipv6.conf.eth1.mtu" = 1400 }
        [hosts.b]
        [[links]]
        name = "l1"
        endpoints = [{ host = "a" }, { host = "b" }]
        [[links]]
        name = "l2"
        endpoints = [{ host = "a" }, { host = "b", sysctls = { "ipv6.hop_limit" = 9 } }]
        """
    )
    plan = plan_up(config, "t")
    writes = {(ns, op.path, op.value) for ns, op in in_namespaces(plan, WriteSysctl)}
    for where in ("all", "default", "eth0", "eth1"):
        assert ("t-a", f"net/ipv6/conf/{where}/accept_ra", "2") in writes
    assert ("t-a", "net/ipv6/bindv6only", "1") in writes
    assert ("t-a", "net/ipv6/conf/eth1/mtu", "1400") in writes
    assert ("t-b", "net/ipv6/conf/eth1/hop_limit", "9") in writes
    assert not any(ns == "t-b" and "accept_ra" in path for ns, path, _ in writes)


def test_no_dad_is_a_flag_on_each_address_and_accept_dad_off() -> None:
    plan = plan_up(load_config(LABS / "two-hosts.toml"), "t")
    addresses = [
        s for s in plan.steps if isinstance(s, InNamespace) and isinstance(s.op, AddAddress)
    ]
    assert addresses and not any(op.dad for _, op in in_namespaces(plan, AddAddress))
    assert any(
        op.path.endswith("/eth0/accept_dad") and op.value == "0"
        for _, op in in_namespaces(plan, WriteSysctl)
    )
    assert "(no DAD)" in next(s for s in addresses if "::" in s.describe()).describe()


def test_a_hosts_programs_start_after_every_address_is_ready() -> None:
    config = parse_config(
        """
        [hosts.s]
        [hosts.r]
        multicast_routes = [{ group = "239.1.1.1", in = "eth0", out = ["eth1"] }]
        [hosts.p]
        proxy = { upstream = "eth0", downstream = ["eth1"] }
        [hosts.m]
        [[links]]
        name = "l1"
        endpoints = [{ host = "s" }, { host = "r" }]
        [[links]]
        name = "l2"
        snooping = true
        querier = true
        router_ports = ["r"]
        endpoints = [{ host = "r", ifname = "eth1" }, { host = "m" }, { host = "p" }]
        [[links]]
        name = "l3"
        endpoints = [{ host = "p", ifname = "eth1" }, { host = "s", ifname = "eth1" }]
        """
    )
    plan = plan_up(config, "t-0001")
    ready = positions(plan, WaitForAddresses)[0]
    (run,) = [s for s in plan.steps if isinstance(s, RunInHost)]
    (start,) = [s for s in plan.steps if isinstance(s, StartInHost)]
    assert plan.steps.index(run) > ready and plan.steps.index(start) > ready
    assert run.namespace == "t-0001-r" and run.argv == ("mcast", "route", "load", "-")
    assert run.stdin == "239.1.1.1 --in eth0 --out eth1:1\n"
    assert start.namespace == "t-0001-p" and start.argv[:2] == ("mcast", "proxy")
    assert start.log == "t-0001-p-proxy.log" and start.ready == "proxy: upstream"
    (bridge,) = [s for s in plan.steps if isinstance(s, CreateBridge)]
    assert bridge.snooping and bridge.querier
    (port,) = [s for s in plan.steps if isinstance(s, SetRouterPort)]
    attached = [s for s in plan.steps if isinstance(s, AttachToBridge) and s.ifname == "r"]
    assert port.port == "r" and plan.steps.index(port) > plan.steps.index(attached[0])
