"""6to4cfg's planner: the seeds' manual configuration as a netsh script, its
exact undo, and the refusals (no pure I/O: facts are given)."""

from __future__ import annotations

from ipaddress import IPv4Address as A4

import pytest

from ipv6._errors import BadInput
from ipv6._kernelops import WriteSysctl
from ipv6.netsh._grammar import Command, parse_command
from ipv6.netsh._ops import AddTunnel, DeleteTunnel
from ipv6.netsh._ops import plan as netsh_plan
from ipv6.tunnel._sixto4plan import HostFacts, Options, plan, script_text

SEEDS = A4("172.31.42.239")


def cmd(text: str) -> Command:
    return parse_command(text.split())


FACTS = HostFacts(
    ipv4=(("lan0", A4("192.168.1.1")), ("wan0", SEEDS)),
    outbound=SEEDS,
    interfaces=("wan0", "lan0", "lan1"),
)


def test_the_seeds_example_host_part() -> None:
    made = plan(Options(lab=True), FACTS)
    assert str(made.site) == "2002:ac1f:2aef::/48"
    assert made.script == (
        "add v6v4tunnel tun6to4 172.31.42.239 mode=6to4 lab=yes",
        "add address tun6to4 2002:ac1f:2aef::ac1f:2aef",
        "add route 2002::/16 tun6to4",
    )
    assert made.undo == ("delete interface tun6to4",)


def test_a_gateway_numbers_its_inner_links_and_undoes_to_what_was_there() -> None:
    facts = HostFacts(
        ipv4=FACTS.ipv4,
        outbound=SEEDS,
        interfaces=FACTS.interfaces,
        forwarding=False,
        interface_forwarding={"lan1": True},
        advertising=frozenset({"lan1"}),
    )
    made = plan(Options(router=True, sitelocal=True, relay=A4("198.51.100.7"), lab=True), facts)
    assert [(n, str(p)) for n, p in made.inner] == [
        ("lan0", "2002:ac1f:2aef:1::/64"),
        ("lan1", "2002:ac1f:2aef:2::/64"),
    ]
    assert "add route ::/0 tun6to4 publish=yes" in made.script
    assert "add route 2002:ac1f:2aef:2::/64 lan1 publish=yes" in made.script
    assert "add route fec0:0:0:2::/64 lan1 publish=yes" in made.script
    assert made.script[0].endswith("relay=198.51.100.7 lab=yes")
    assert "set global forwarding=enabled" in made.script
    assert made.undo.index("set global forwarding=disabled") < made.undo.index(
        "set interface lan1 forwarding=enabled advertise=enabled"
    )
    assert "set interface lan0 forwarding=disabled advertise=disabled" in made.undo
    assert made.undo[-1] == "delete interface tun6to4"
    # every line is netsh the grammar and planner accept
    for line in made.script + made.undo:
        command = parse_command(["interface", "ipv6", *line.split()])
        ops = netsh_plan(command, {"wan0": 2, "lan0": 3, "lan1": 4, "tun6to4": 9})
        assert ops
    text = script_text(made.script, "title")
    assert text.startswith("# title\ninterface ipv6 add v6v4tunnel")


def test_private_addresses_need_lab_and_nothing_usable_is_a_clear_line() -> None:
    with pytest.raises(BadInput, match=r"(?i)add --lab"):
        plan(Options(), FACTS)
    with pytest.raises(BadInput, match=r"(?i)add --lab"):
        plan(Options(address=SEEDS), FACTS)
    with pytest.raises(BadInput, match="not an address of this host"):
        plan(Options(address=A4("198.51.100.1"), lab=True), FACTS)
    with pytest.raises(BadInput, match="link-local"):
        plan(
            Options(lab=True),
            HostFacts(ipv4=(("e", A4("169.254.3.4")),), outbound=A4("169.254.3.4"), interfaces=()),
        )
    with pytest.raises(BadInput, match="no other interface"):
        plan(
            Options(router=True, lab=True),
            HostFacts(ipv4=(("wan0", SEEDS),), outbound=SEEDS, interfaces=("wan0",)),
        )


def test_a_larger_mtu_and_a_plane_are_passed_to_the_tunnel() -> None:
    made = plan(Options(lab=True, mtu=9000, plane="userspace"), FACTS)
    assert made.script[0] == (
        "add v6v4tunnel tun6to4 172.31.42.239 mode=6to4 lab=yes plane=userspace mtu=9000"
    )


def test_a_global_address_is_found_without_lab() -> None:
    facts = HostFacts(
        ipv4=(("lan0", A4("192.168.1.1")), ("wan0", A4("198.51.99.20"))),
        outbound=A4("192.168.1.1"),  # behind a NAT: not usable, the global one is
        interfaces=("wan0", "lan0"),
    )
    made = plan(Options(), facts)
    assert made.address == A4("198.51.99.20")
    assert str(made.site) == "2002:c633:6314::/48"


def test_netsh_tunnel_commands_plan_to_tunnel_operations() -> None:
    add = parse_command(
        ["int", "ipv6", "add", "v6v4", "t1", "192.0.2.1", "198.51.100.2", "mtu=1400"]
    )
    (op,) = netsh_plan(add, {})
    assert isinstance(op, AddTunnel)
    spec = dict(op.spec)
    assert (spec["mode"], spec["remote"], spec["mtu"]) == ("6in4", "198.51.100.2", 1400)
    sixto4 = parse_command(
        ["int", "ipv6", "add", "v6v4tunnel", "t2", "192.0.2.1", "mode=6to4", "relay=192.0.2.9"]
    )
    assert dict(netsh_plan(sixto4, {})[0].spec)["relays"] == ["192.0.2.9"]  # type: ignore[union-attr]
    with pytest.raises(BadInput, match="needs remoteaddress"):
        netsh_plan(cmd("int ipv6 add v6v4tunnel t3 192.0.2.1 mode=6in4"), {})
    with pytest.raises(BadInput, match="not an IPv4 address"):
        cmd("int ipv6 add v6v4tunnel t3 2001:db8::1")
    assert netsh_plan(cmd("int ipv6 delete interface t1"), {"t1": 5}) == [DeleteTunnel("t1")]
    assert netsh_plan(cmd("int ipv6 set global forwarding=enabled"), {}) == [
        WriteSysctl("net/ipv6/conf/all/forwarding", "1")
    ]


def test_the_6to4_context_parses_windows_words() -> None:
    state = cmd("interface 6to4 set state enabled lab=yes")
    assert (state.family, state.noun, state.values["state"]) == ("6to4", "state", "enabled")
    relay = parse_command(
        ["int", "6to4", "set", "relay", "name=192.0.2.9", "state=enabled", "interval=60"]
    )
    assert relay.values == {"name": "192.0.2.9", "state": "enabled", "interval": 60}
    routing = parse_command(
        ["int", "6to4", "set", "routing", "routing=enabled", "sitelocals=disabled"]
    )
    assert routing.values == {"routing": "enabled", "sitelocals": "disabled"}
    assert cmd("int 6to4 sh rel").noun == "relay"
    with pytest.raises(BadInput, match="set and show"):
        cmd("int 6to4 add state enabled")
