"""The seeds' walkthroughs, run as the seeds print them (Ipv6.exe's words), only
the interface numbers replaced by the lab's: Configuration 1 (two hosts on one
link, EUI-64 link-local addresses, ping with a zone) and Configuration 2 (6to4
between two sites: a gateway set up by hand with ipv6 rtu/adu/ifc, the other by
6to4cfg, hosts autoconfiguring behind them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ipv6.test_tunnel_live import global_6to4, ping, tool

pytestmark = pytest.mark.needs_root


async def index_of(host, name: str) -> int:
    shown = json.loads((await host.run(["ip", "-j", "link", "show", "dev", name])).stdout)
    return int(shown[0]["ifindex"])


def eui64_link_local(mac: str) -> str:
    """The seeds' recipe, worked independently: ff-fe in the middle, U/L bit flipped."""
    import ipaddress

    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    identifier = bytes([*octets[:3], 0xFF, 0xFE, *octets[3:]])
    return str(ipaddress.IPv6Address(bytes.fromhex("fe80000000000000") + identifier))


async def test_configuration_1_link_local_hosts_ping_with_a_zone(lab, tmp_path: Path) -> None:
    async with lab("link-local") as running:
        a, b = running.host("a"), running.host("b")
        found = {}
        for host, mac in ((a, "00:10:5a:aa:20:a2"), (b, "00:60:97:02:6e:a5")):
            number = await index_of(host, "eth0")
            # "Use ipv6 if on Host A to obtain the link-local address"
            shown = await tool(host, tmp_path, "ipv6", "if", str(number), "--json")
            (interface,) = json.loads(shown.stdout)
            assert interface["lladdr"] == mac
            local = [x.split("/")[0] for x in interface["addresses"] if x.startswith("fe80:")]
            assert local == [eui64_link_local(mac)]
            found[host.name] = (number, local[0])
        assert found["a"][1] == "fe80::210:5aff:feaa:20a2"  # the seeds' Host A
        assert found["b"][1] == "fe80::260:97ff:fe02:6ea5"  # the seeds' Host B
        number, mine = found["a"]
        theirs = found["b"][1]
        # "ping6 fe80::260:97ff:fe02:6ea5%4", and "-s" (the toolkit's -S) for the source
        for extra in ([], ["-S", f"{mine}%{number}"]):
            done = await tool(a, tmp_path, "ipv6", "ping", "-c", "2", *extra, f"{theirs}%{number}")
            assert b"2 received" in done.stdout or b" 0% " in done.stdout, done.stdout
        # Without a zone, on a host with two links, the destination is ambiguous.
        vague = await tool(a, tmp_path, "ipv6", "ping", "-c", "1", theirs, check=False)
        assert vague.returncode == 2 and vague.stderr.decode().count("\n") == 1


async def test_configuration_2_with_the_seeds_ipv6_commands(lab, tmp_path: Path) -> None:
    async with lab("6to4-two-sites") as running:
        gw1, gw2, h1, h2 = (running.host(n) for n in ("gw1", "gw2", "h1", "h2"))
        # Linux has no tunnel pseudo-interface 2: the 6to4 interface is made first.
        await tool(gw1, tmp_path, "netsh", "int", "ipv6", "add", "v6v4tunnel", "t6to4",
                   "172.31.42.239", "mode=6to4", "lab=yes")  # fmt: skip
        two, three = str(await index_of(gw1, "t6to4")), str(await index_of(gw1, "lan0"))
        for words in (
            ["rtu", "2002::/16", two],
            ["adu", f"{two}/2002:ac1f:2aef::ac1f:2aef"],
            # the default route to a 6to4 relay, the seeds' "2::131.107.152.32" form with
            # the lab's relay: published, it makes gw1 its hosts' default router
            ["rtu", "::/0", f"{two}::172.30.9.2", "pub", "life", "1800"],
            ["rtu", "2002:ac1f:2aef:1::/64", three, "pub", "life", "1800"],
            ["ifc", two, "forw"],
            ["ifc", three, "forw", "adv"],
        ):
            await tool(gw1, tmp_path, "ipv6", *words)
        # The other site with the seeds' 6to4cfg.
        await tool(gw2, tmp_path, "ipv6", "6to4cfg", "-r", "--lab", "--plane", "userspace")
        a1, a2 = await global_6to4(h1), await global_6to4(h2)
        assert a1.startswith("2002:ac1f:2aef:1:") and a2.startswith("2002:ac1e:70a:1:")
        # rdisc6, the oracle: what gw1 advertises on its LAN.
        said = (await h1.run(["rdisc6", "-1", "-w", "3000", "eth0"], check=False)).stdout
        assert b"2002:ac1f:2aef:1::/64" in said and b"1800 (0x00000708)" in said, said
        assert b"Router lifetime           :         1800" in said, said
        assert " 0% packet loss" in await ping(h1, a2)
        assert " 0% packet loss" in await ping(h2, a1)
        # The seeds' debugging step 3: a 2002::/16 -> 2 route, and a 6to4 address on 2.
        routes = json.loads((await tool(gw1, tmp_path, "ipv6", "rt", "--json")).stdout)
        assert any(r["prefix"] == "2002::/16" and r["interface"] == "t6to4" for r in routes)
        (shown,) = json.loads((await tool(gw1, tmp_path, "ipv6", "if", two, "--json")).stdout)
        assert "2002:ac1f:2aef::ac1f:2aef/128 preferred" in shown["addresses"]
        kernel = (await gw1.run(["ip", "-6", "route", "show", "2002::/16"])).stdout
        assert b"dev t6to4" in kernel
        default = (await gw1.run(["ip", "-6", "route", "show", "default"])).stdout
        assert b"via ::172.30.9.2 dev t6to4" in default and b"onlink" in default
