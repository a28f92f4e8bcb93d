"""The seeds' Ipv6.exe subcommands on real interfaces, in a lab: each verb, read
back from the kernel with iproute2 (not with the toolkit's own show), each display
against iproute2's, and bad input changing nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ipv6.test_tunnel_live import tool

pytestmark = pytest.mark.needs_root


async def ipj(host, *args: str) -> list[dict[str, Any]]:
    out = (await host.run(["ip", "-j", *args])).stdout
    return json.loads(out) if out.strip() else []


async def addresses(host) -> dict[str, dict[str, Any]]:
    (eth0,) = await ipj(host, "-6", "addr", "show", "dev", "eth0")
    return {f"{a['local']}/{a['prefixlen']}": a for a in eth0["addr_info"]}


def _prefix(dst: str) -> str:
    """iproute2 writes a host route without its length."""
    return dst if "/" in dst else f"{dst}/128"


async def ipv6(host, state: Path, *words: str) -> Any:
    return json.loads((await tool(host, state, "ipv6", *words, "--json")).stdout)


async def test_each_verb_does_what_the_kernel_then_holds(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        eth0 = str((await ipj(a, "link", "show", "dev", "eth0"))[0]["ifindex"])

        # adu: lifetimes, an update, anycast, and lifetime 0 removing
        await tool(a, tmp_path, "ipv6", "adu", f"{eth0}/2001:db8:5::1", "life", "3600/1800")
        held = (await addresses(a))["2001:db8:5::1/128"]
        assert 3500 < held["valid_life_time"] <= 3600 and 1700 < held["preferred_life_time"] <= 1800
        await tool(a, tmp_path, "ipv6", "adu", f"{eth0}/2001:db8:5::1", "lifetime", "7200")
        held = (await addresses(a))["2001:db8:5::1/128"]
        assert 7100 < held["valid_life_time"] <= 7200 and held["preferred_life_time"] > 7100
        await tool(a, tmp_path, "ipv6", "adu", f"{eth0}/2001:db8:7::7", "anycast")
        local = await ipj(a, "-6", "route", "show", "table", "local", "type", "anycast")
        assert any(r["dst"] == "2001:db8:7::7" for r in local)
        for address in ("2001:db8:5::1", "2001:db8:7::7"):
            await tool(a, tmp_path, "ipv6", "adu", f"eth0/{address}", "life", "0")
        assert not {"2001:db8:5::1/128", "2001:db8:7::7/128"} & set(await addresses(a))

        # an update of an address the lab gave (a /64): its lifetimes, not its length
        await tool(a, tmp_path, "ipv6", "adu", f"{eth0}/2001:db8:0:1::1", "life", "900")
        held = (await addresses(a))["2001:db8:0:1::1/64"]
        assert 800 < held["valid_life_time"] <= 900
        # ...and its subnet stays reachable (Linux would give the prefix route a passed
        # expiry, were the permanent address merely replaced by a finite one)
        (subnet,) = await ipj(a, "-6", "route", "show", "2001:db8:0:1::/64")
        assert 800 < subnet["expires"] <= 900

        # if: the addresses iproute2 sees, the link-layer address and MTU
        (shown,) = await ipv6(a, tmp_path, "if", eth0)
        (link,) = await ipj(a, "-d", "link", "show", "dev", "eth0")
        assert {x.split()[0] for x in shown["addresses"]} == set(await addresses(a))
        assert shown["lladdr"] == link["address"] and shown["link_mtu"] == link["max_mtu"]

        # rtu: a next hop and preference, a route that ages, a published one that does not
        await tool(a, tmp_path, "ipv6", "rtu", "2001:db8:99::/48", f"{eth0}/2001:db8:0:1::2",
                   "pref", "7")  # fmt: skip
        await tool(a, tmp_path, "ipv6", "rtu", "2001:db8:98::/48", "eth0", "life", "600")
        await tool(a, tmp_path, "ipv6", "rtu", "2001:db8:97::/64", "eth0", "pub", "life", "1800",
                   "spl", "48")  # fmt: skip
        routes = {_prefix(r["dst"]): r for r in await ipj(a, "-6", "route", "show")}
        assert routes["2001:db8:99::/48"]["gateway"] == "2001:db8:0:1::2"
        assert routes["2001:db8:99::/48"]["metric"] == 7
        assert 500 < routes["2001:db8:98::/48"]["expires"] <= 600
        assert "expires" not in routes["2001:db8:97::/64"]  # published: it does not age
        shown_routes = await ipv6(a, tmp_path, "rt")
        assert {r["prefix"] for r in shown_routes} == set(routes)
        published = next(r for r in shown_routes if r["prefix"] == "2001:db8:97::/64")
        assert published["publish"] == "yes" and published["validlifetime"] == "30m"
        site = await ipv6(a, tmp_path, "spt")
        assert [(s["prefix"], s["interface"]) for s in site] == [("2001:db8:97::/48", "eth0")]
        for prefix in ("2001:db8:99::/48", "2001:db8:98::/48", "2001:db8:97::/64"):
            target = f"{eth0}/2001:db8:0:1::2" if prefix.startswith("2001:db8:99") else eth0
            await tool(a, tmp_path, "ipv6", "rtu", prefix, target, "life", "0")
        assert not {"2001:db8:99::/48", "2001:db8:98::/48", "2001:db8:97::/64"} & {
            _prefix(r["dst"]) for r in await ipj(a, "-6", "route", "show")
        }

        # ifc: forwarding (the namespace's too) and the MTU, then off again
        await tool(a, tmp_path, "ipv6", "ifc", eth0, "forw", "mtu", "1400")
        conf = "/proc/sys/net/ipv6/conf"
        read = ["cat", f"{conf}/eth0/forwarding", f"{conf}/eth0/mtu", f"{conf}/all/forwarding"]
        assert (await a.run(read)).stdout.split() == [b"1", b"1400", b"1"]
        await tool(a, tmp_path, "ipv6", "ifc", eth0, "-forwards")
        assert (await a.run(read)).stdout.split()[0] == b"0"

        # nc and ncf: a neighbour iproute2 made, shown and flushed
        await a.run(["ip", "-6", "neigh", "add", "2001:db8:0:1::44", "lladdr",
                     "02:00:00:00:00:44", "dev", "eth0", "nud", "permanent"])  # fmt: skip
        seen = await ipv6(a, tmp_path, "nc", eth0, "2001:db8:0:1::44")
        assert [(n["address"], n["lladdr"]) for n in seen] == [
            ("2001:db8:0:1::44", "02:00:00:00:00:44")]  # fmt: skip
        await tool(a, tmp_path, "ipv6", "ncf", eth0, "2001:db8:0:1::44")
        assert not await ipj(a, "-6", "neigh", "show", "to", "2001:db8:0:1::44")

        # rc, rcf and bc
        assert isinstance(await ipv6(a, tmp_path, "rc"), list)
        await tool(a, tmp_path, "ipv6", "rcf")
        said = await tool(a, tmp_path, "ipv6", "bc")
        assert b"no binding cache" in said.stdout and await ipv6(a, tmp_path, "bc") == []

        # ifd: a tunnel made with netsh goes
        await tool(a, tmp_path, "netsh", "int", "ipv6", "add", "v6v4tunnel", "tun9",
                   "10.0.0.1", "10.0.0.2", "lab=yes")  # fmt: skip
        tun9 = str((await ipj(a, "link", "show", "dev", "tun9"))[0]["ifindex"])
        await tool(a, tmp_path, "ipv6", "ifd", tun9)
        assert "tun9" not in {link["ifname"] for link in await ipj(a, "link", "show")}


async def test_bad_input_is_one_line_exit_2_and_changes_nothing(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        before = (await addresses(a), await ipj(a, "-6", "route", "show"))
        for words, expected in (
            (["adu", "99/2001:db8::1"], "no interface '99'"),
            (["adu", "eth0/2001:db8::1", "life", "60/120"], "preferred lifetime is longer"),
            (["adu", "eth0/2001:db8::1", "anycast", "life", "60"], "0 (remove it) or infinite"),
            (["rtu", "2001:db8::/129", "eth0"], "not an IPv6 prefix"),
            (["rtu", "2001:db8::/64", "99"], "no interface '99'"),
            (["ifc", "eth0", "site", "2"], "no site identifiers"),
        ):
            done = await tool(a, tmp_path, "ipv6", *words, check=False)
            err = done.stderr.decode()
            assert done.returncode == 2 and expected in err and err.count("\n") == 1, err
        assert (await addresses(a), await ipj(a, "-6", "route", "show")) == before
