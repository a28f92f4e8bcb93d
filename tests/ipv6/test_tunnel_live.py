"""The seeds' Configuration 2 in configs/lab/6to4-two-sites.toml, end to end
on the userspace plane: gateways set up by `ipv6 6to4cfg -r --lab`, hosts
autoconfigured from their advertisements, ping and TCP (socat) across
2002::/16, a relay reached by 6to4 (-R) and by a configured 6in4 tunnel, the
outer header checked by tshark, -u putting both gateways back; and spoofed
protocol-41 packets from a third host, one per RFC 3964 rule, dropped and
counted."""

from __future__ import annotations

import json
import re
import sys
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import trio

from ipv6.capabilities import has
from ipv6.netsh._sixto4 import fastest
from ipv6.tunnel._control import kernel_has_sit
from tests.waiting import bound, wait_until

pytestmark = pytest.mark.needs_root

RELAY = "172.30.9.2"
GW1, GW2 = "172.31.42.239", "172.30.7.10"
GW1_6TO4 = "2002:ac1f:2aef::ac1f:2aef"
NATIVE_HOST = "2001:db8:99::10"
RELAY_SCRIPT = """\
pushd interface ipv6
add v6v4tunnel to-gw1 172.30.9.2 172.31.42.239 lab=yes
add route 2002:ac1f:2aef::/48 to-gw1
add v6v4tunnel to-gw2 172.30.9.2 172.30.7.10 lab=yes
add route 2002:ac1e:70a::/48 to-gw2
popd
"""


async def tool(host, state: Path, *words: str, check: bool = True):
    """A toolkit command in a lab host: `ipv6 ...` or `netsh ...`."""
    module = "ipv6.cli.netsh" if words[0] == "netsh" else "ipv6"
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", module, *words[1:]]
    result = await host.run(command, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(words)}: {result.stderr.decode()}")
    return result


async def text(host, *command: str) -> str:
    return str((await host.run(list(command), check=False)).stdout.decode())


async def snapshot(host) -> dict[str, str]:
    """What -u must give back: addresses, routes, links and forwarding."""
    return {
        "addr": await text(host, "ip", "-6", "-o", "addr", "show", "scope", "global"),
        "route": await text(host, "ip", "-6", "route", "show", "table", "all"),
        "links": re.sub(r"^\d+: ", "", await text(host, "ip", "-o", "link")),
        "forwarding": await text(host, "sysctl", "-n", "net.ipv6.conf.all.forwarding"),
        "lan0": await text(host, "sysctl", "-n", "net.ipv6.conf.lan0.forwarding"),
    }


async def global_6to4(host) -> str:
    """The 2002:: address the host autoconfigured (waits for the advertisement)."""

    async def configured() -> str | None:
        out = await text(host, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
        found = re.search(r"inet6 (2002:[0-9a-f:]+)/64", out)
        default = await text(host, "ip", "-6", "route", "show", "default")
        if found and "tentative" not in out and "via fe80" in default:
            return found.group(1)
        return None

    return await wait_until(configured, f"{host.name} to autoconfigure a 6to4 address and "
                            "default route", timeout=20, every=0.2)  # fmt: skip


async def ping(host, address: str, *extra: str) -> str:
    result = await host.run(
        ["ping", "-c", "2", "-i", "0.2", "-W", "2", *extra, address], check=False
    )
    return str(result.stdout.decode())


async def status(host, state: Path) -> dict[str, Any]:
    result = await tool(host, state, "ipv6", "tunnel", "status", "--json")
    return {row["name"]: row for row in json.loads(result.stdout)}


async def test_configuration_2_over_the_userspace_plane(lab, tmp_path: Path) -> None:
    async with lab("6to4-two-sites") as running:
        gw1, gw2, h1, h2 = (running.host(n) for n in ("gw1", "gw2", "h1", "h2"))
        relay, v6, r = running.host("relay"), running.host("v6"), running.host("r")
        before = {gw.name: await snapshot(gw) for gw in (gw1, gw2)}

        refused = await tool(gw1, tmp_path, "ipv6", "6to4cfg", "-r", check=False)
        assert refused.returncode == 2 and b"--lab" in refused.stderr
        assert refused.stderr.decode().count("\n") == 1  # one line, no traceback

        script = tmp_path / "relay.netsh"
        script.write_text(RELAY_SCRIPT)
        await tool(relay, tmp_path, "netsh", "-f", str(script))
        made = await tool(
            gw1, tmp_path, "ipv6", "6to4cfg", "-r", "-R", RELAY, "--lab", "--plane", "userspace"
        )
        assert b"2002:ac1f:2aef:1::/64" in made.stdout
        await tool(gw2, tmp_path, "ipv6", "6to4cfg", "-r", "--lab", "--plane", "userspace")
        await tool(
            gw2,
            tmp_path,
            "netsh",
            "int",
            "ipv6",
            "add",
            "v6v4tunnel",
            "to-relay",
            GW2,
            RELAY,
            "lab=yes",
        )
        await tool(
            gw2, tmp_path, "netsh", "int", "ipv6", "add", "route", "2001:db8:99::/64", "to-relay"
        )

        a1, a2 = await global_6to4(h1), await global_6to4(h2)
        assert a1.startswith("2002:ac1f:2aef:1:") and a2.startswith("2002:ac1e:70a:1:")

        first = await ping(h1, a2)
        assert " 0% packet loss" in first, first
        assert " 0% packet loss" in await ping(h2, a1)

        # TCP across 2002::/16, socat at both ends, the outer headers seen by tshark on r
        async with trio.open_nursery() as nursery:
            capture, said = tmp_path / "wan.pcap", tmp_path / "tshark.err"
            tshark = f"tshark -i eth0 -f 'ip proto 41' -c 20 -w {capture} 2>{said}"
            nursery.start_soon(r.run, ["sh", "-c", f"exec timeout 15 {tshark}"])
            server = ["socat", "-T", "5", "TCP6-LISTEN:7001,reuseaddr", "SYSTEM:echo from-h2"]
            nursery.start_soon(h2.run, ["timeout", "15", *server])
            await wait_until(  # tshark says so once it captures
                lambda: said.exists() and "Capturing on" in said.read_text(),
                "tshark to capture", timeout=10,
            )  # fmt: skip
            await bound(h2, 7001, "tcp")
            reply = await h1.run(
                ["socat", "-T", "5", "-", f"TCP6:[{a2}]:7001"], stdin=b"", check=False
            )
            assert reply.stdout.strip() == b"from-h2"
            for _ in range(6):
                await ping(h1, a2)
        fields = await r.run(
            ["tshark", "-r", str(capture), "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
             "-e", "ip.flags.df", "-e", "ipv6.src", "-e", "tcp.srcport"],
            check=False,
        )  # fmt: skip
        rows = [line.split("\t") for line in fields.stdout.decode().splitlines() if line]
        assert rows, "no protocol-41 packet seen on the wire"
        assert {(row[0], row[1]) for row in rows} <= {(GW1, GW2), (GW2, GW1)}
        assert all(row[2] in ("0", "False") for row in rows), "DF set on an outer header"
        assert any(row[4] == "7001" for row in rows), "the TCP connection did not cross the tunnel"

        # native IPv6 through the relay: by 6to4 (-R) from site 1, by configured 6in4 from site 2
        assert " 0% packet loss" in await ping(h1, NATIVE_HOST)
        assert " 0% packet loss" in await ping(h2, NATIVE_HOST)
        assert " 0% packet loss" in await ping(v6, a1)

        # Packet Too Big: first from the kernel (the tunnel's MTU is 1280) ...
        assert "mtu=1280" in await ping(h1, a2, "-s", "1400", "-M", "do")
        # ... and from the plane itself, when the device's MTU is raised above the tunnel's
        await gw1.run(["ip", "link", "set", "tun6to4", "mtu", "1500"])
        await h1.run(["ip", "-6", "route", "flush", "cache"])  # forget the path MTU learnt
        too_big = await ping(h1, a2, "-s", "1400", "-M", "do")
        assert f"From {GW1_6TO4}" in too_big and "mtu=1280" in too_big
        await gw1.run(["ip", "link", "set", "tun6to4", "mtu", "1280"])

        counted = await status(gw1, tmp_path)
        tun = counted["tun6to4"]
        assert tun["plane"] == "userspace" and tun["running"]
        assert tun["addresses"] == [GW1_6TO4] and tun["relays"] == [RELAY]
        assert tun["tx_packets"] > 0 and tun["rx_packets"] > 0
        assert tun["drops"].get("too_big", 0) >= 1
        assert (await status(gw2, tmp_path))["to-relay"]["rx_packets"] >= 2
        shown = await tool(gw1, tmp_path, "ipv6", "tunnel", "status")
        assert b"tun6to4: 6to4 on the userspace plane" in shown.stdout

        await tool(gw2, tmp_path, "netsh", "int", "ipv6", "delete", "interface", "to-relay")
        for gw in (gw1, gw2):
            await tool(gw, tmp_path, "ipv6", "6to4cfg", "-u")
        for gw in (gw1, gw2):
            assert await snapshot(gw) == before[gw.name], f"{gw.name} not back as it was"
            assert await status(gw, tmp_path) == {}
        again = await tool(gw1, tmp_path, "ipv6", "6to4cfg", "-u", check=False)
        assert again.returncode == 2 and b"nothing to undo" in again.stderr


# (reason counted by gw1, outer source, outer destination, inner source, inner destination)
SITE2, SITE1 = "2002:ac1e:70a:1::10", "2002:ac1f:2aef:1::10"
NATIVE = "2001:db8:99::10"
SPOOFS = [
    ("outer_dst_broadcast", GW2, "172.31.42.255", SITE2, SITE1),
    ("outer_dst_multicast", GW2, "224.0.0.1", SITE2, SITE1),
    ("outer_src_private", "10.1.2.3", GW1, "2002:a01:203::1", SITE1),
    ("outer_src_private", "192.168.9.9", GW1, SITE2, SITE1),
    ("outer_src_shared", "100.64.0.1", GW1, SITE2, SITE1),
    ("outer_src_link_local", "169.254.1.1", GW1, SITE2, SITE1),
    ("outer_src_reserved", "240.0.0.1", GW1, SITE2, SITE1),
    ("outer_src_this_network", "0.1.2.3", GW1, SITE2, SITE1),  # Linux 5.3+ routes 0/8
    ("inner_src_compatible_or_mapped", GW2, GW1, "::ffff:172.30.7.10", SITE1),
    ("inner_src_link_local", GW2, GW1, "fe80::1", SITE1),
    ("inner_src_site_local", GW2, GW1, "fec0::1", SITE1),
    ("inner_src_multicast", GW2, GW1, "ff0e::1", SITE1),
    ("inner_src_6to4_of_private", GW2, GW1, "2002:c0a8:101::1", SITE1),
    ("inner_dst_multicast", GW2, GW1, SITE2, "ff02::1"),
    ("inner_dst_compatible_or_mapped", GW2, GW1, SITE2, "::1"),
    ("inner_dst_not_6to4", GW2, GW1, SITE2, NATIVE),
    ("inner_dst_6to4_mismatch", GW2, GW1, SITE2, "2002:ac1f:2aee::1"),
    ("inner_src_6to4_mismatch", "172.30.7.11", GW1, SITE2, SITE1),
    ("inner_src_native_not_from_relay", GW2, GW1, NATIVE, SITE1),
]
# Outer sources Linux itself calls martian: dropped by the kernel before any
# socket, the plane included, sees them (counted in in_martian_src).
MARTIANS = [
    ("outer_src_loopback", "127.0.0.1"),
    ("outer_src_multicast", "239.1.1.1"),
    ("outer_src_broadcast", "255.255.255.255"),
]
# A perfect spoof of gw2 passes: RFC 3964 cannot tell it (its section 5.2).
PASSES = [("delivered", GW2, GW1, SITE2, GW1_6TO4)]

SPOOFER = """\
import json, socket, sys
from ipaddress import IPv4Address, IPv6Address
from ipv6.tunnel._packets import ipv4_header, ipv6_packet

s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for src4, dst4, src6, dst6 in json.loads(sys.argv[1]):
    echo = bytes([128, 0, 0, 0, 0, 1, 0, 1]) + b"spoof"
    inner = ipv6_packet(int(IPv6Address(src6)), int(IPv6Address(dst6)), 58, echo)
    header = ipv4_header(int(IPv4Address(src4)), int(IPv4Address(dst4)), len(inner))
    s.sendto(header + inner, (dst4, 0))
"""


def martians() -> int:
    """Linux's count of packets dropped for a martian source (all CPUs)."""
    lines = Path("/proc/net/stat/rt_cache").read_text().split("\n")
    column = lines[0].split().index("in_martian_src")
    return sum(int(line.split()[column], 16) for line in lines[1:] if line.strip())


@pytest.mark.parametrize(
    "plane", ["userspace", pytest.param("ebpf", marks=pytest.mark.needs_feature("ebpf_tc"))]
)
async def test_spoofed_packets_are_dropped_and_counted(lab, tmp_path: Path, plane: str) -> None:
    """On each plane: on the eBPF plane the kernel carries only pairs the service
    checked, so every spoofed packet still reaches the service, which drops it by
    name; the good ones arrive either way."""
    async with lab("6to4-two-sites") as running:
        gw1, spoofer, h1 = running.host("gw1"), running.host("spoofer"), running.host("h1")
        relay = running.host("relay")
        # -b: of a relay name's addresses, the one that answers first (.77 does not exist)
        picked = await gw1.run_sync(fastest, [IPv4Address("172.30.9.77"), IPv4Address(RELAY)])
        assert picked == IPv4Address(RELAY)
        # FILE: the script instead of the change
        script = tmp_path / "gw1.netsh"
        await tool(gw1, tmp_path, *f"ipv6 6to4cfg -r -R {RELAY} --lab {script}".split())
        written = script.read_text().splitlines()
        assert written[0].startswith("# 6to4cfg -r for 172.31.42.239: site 2002:ac1f:2aef::/48")
        assert (
            f"interface ipv6 add v6v4tunnel tun6to4 {GW1} mode=6to4 relay={RELAY} lab=yes"
            in written
        )
        assert "interface ipv6 add route 2002:ac1f:2aef:1::/64 lan0 publish=yes" in written
        assert (await status(gw1, tmp_path)) == {}  # nothing applied
        await tool(gw1, tmp_path, "ipv6", "6to4cfg", "-r", "-R", RELAY, "--lab", "--plane", plane)
        await global_6to4(h1)
        start = await status(gw1, tmp_path)
        assert start["tun6to4"]["plane"] == plane
        kernel_before = martians()

        async def send(vectors) -> None:
            await spoofer.run(
                [sys.executable, "-c", SPOOFER, json.dumps([list(v[1:]) for v in vectors])]
            )

        # a configured 6in4 tunnel takes only its remote's packets (RFC 4213 3.6)
        await tool(
            relay, tmp_path, *f"netsh int ipv6 add v6v4tunnel to-gw1 {RELAY} {GW1} lab=yes".split()
        )
        await send([("outer_src_not_remote", "172.31.42.66", RELAY, SITE1, NATIVE)])
        await send(SPOOFS + [(m[0], m[1], GW1, SITE2, SITE1) for m in MARTIANS])
        await send(PASSES)
        expected: dict[str, int] = {}
        for reason, *_ in SPOOFS:
            expected[reason] = expected.get(reason, 0) + 1

        async def counted() -> dict[str, Any] | None:
            now = (await status(gw1, tmp_path))["tun6to4"]
            grown = all(
                now["drops"].get(k, 0) - start["tun6to4"]["drops"].get(k, 0) >= n
                for k, n in expected.items()
            )
            return now if grown and now["rx_packets"] > start["tun6to4"]["rx_packets"] else None

        now = await wait_until(counted, "gw1's plane to count them", timeout=10, every=0.2)
        drops = {
            k: n - start["tun6to4"]["drops"].get(k, 0)
            for k, n in now["drops"].items()
            if n != start["tun6to4"]["drops"].get(k, 0)
        }
        # the stack's own multicast (MLD) also ends as inner_dst_multicast: at least one
        assert drops.pop("inner_dst_multicast", 0) >= expected.pop("inner_dst_multicast")
        assert {k: v for k, v in drops.items() if k in expected} == expected
        for reason, _ in MARTIANS:
            assert reason not in drops  # never reached the plane ...
        assert martians() - kernel_before >= len(MARTIANS)  # ... the kernel dropped them
        assert now["rx_packets"] - start["tun6to4"]["rx_packets"] == len(PASSES)

        async def dropped() -> dict[str, Any] | None:
            row = (await status(relay, tmp_path))["to-gw1"]
            return row if row["drops"] else None

        sixin4 = await wait_until(dropped, "the relay's 6in4 tunnel to count a drop", timeout=5,
                                  every=0.2)  # fmt: skip
        assert sixin4["drops"].get("outer_src_not_remote") == 1 and sixin4["rx_packets"] == 0
        undo = tmp_path / "undo.netsh"
        await tool(gw1, tmp_path, "ipv6", "6to4cfg", "-u", str(undo))
        lines = undo.read_text().splitlines()
        assert lines[-1] == "interface ipv6 delete interface tun6to4"
        assert "interface ipv6 set global forwarding=disabled" in lines
        await tool(gw1, tmp_path, "netsh", "-f", str(undo))  # the undo script, applied by hand
        assert await status(gw1, tmp_path) == {}
        # 6to4cfg -u after the change was undone by hand: says what was gone, forgets it
        late = await tool(gw1, tmp_path, "ipv6", "6to4cfg", "-u")
        assert b"note: not undone" in late.stderr and b"Traceback" not in late.stderr
        again = await tool(gw1, tmp_path, "ipv6", "6to4cfg", "-u", check=False)
        assert again.returncode == 2 and b"nothing to undo" in again.stderr


def test_without_privilege_changes_are_one_line_refusals(tmp_path: Path) -> None:
    import shutil
    import subprocess

    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    drop = [setpriv, "--bounding-set=-net_admin,-net_raw", "--inh-caps=-net_admin,-net_raw", "--"]
    env = {"NETSH_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(module: str, *words: str) -> subprocess.CompletedProcess[str]:
        command = [*drop, sys.executable, "-m", module, *words]
        return subprocess.run(command, check=False, capture_output=True, text=True, env=env)

    for refused in (
        run("ipv6", "tunnel", "add", "t9", "--mode", "6to4", "--local", "192.0.2.1"),
        run("ipv6", "6to4cfg", "-r", "--lab"),
        run("ipv6", "6to4cfg", "-u"),
        run("ipv6.cli.netsh", "interface", "6to4", "set", "state", "enabled"),
    ):
        assert refused.returncode == 4, refused.stderr
        line = refused.stderr.strip()
        assert "\n" not in line and "CAP_NET_ADMIN" in line and "Traceback" not in line
    shown = run("ipv6", "tunnel", "status", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout) == []
    state = run("ipv6.cli.netsh", "interface", "6to4", "show", "state", "--json")
    assert state.returncode == 0 and json.loads(state.stdout)[0]["configured"] is False


async def test_the_plane_is_chosen_and_said(lab, tmp_path: Path) -> None:
    async with lab("6to4-two-sites") as running:
        gw1 = running.host("gw1")
        has_sit = await gw1.run_sync(kernel_has_sit)
        auto = await tool(
            gw1, tmp_path, "ipv6", "tunnel", "add", "t0", "--mode", "6to4", "--local", GW1, "--lab"
        )
        expected = (
            b"the kernel's sit driver" if has_sit
            else b"the eBPF plane" if has("ebpf_tc") else b"the userspace plane"
        )  # fmt: skip
        assert expected in auto.stdout
        await tool(
            gw1, tmp_path, "netsh", "int", "ipv6", "add", "address", "t0", "2002:ac1f:2aef::1"
        )
        dumped = (await tool(gw1, tmp_path, "netsh", "int", "ipv6", "dump")).stdout.decode()
        made = f"interface ipv6 add v6v4tunnel interface=t0 localaddress={GW1} mode=6to4 lab=yes"
        assert dumped.splitlines()[1] == "interface ipv6 reset"
        assert dumped.splitlines()[2] == made  # the tunnel before what lives on it
        assert "interface ipv6 add address interface=t0 address=2002:ac1f:2aef::1/128" in dumped
        saved = tmp_path / "saved.txt"
        saved.write_text(dumped)
        await tool(gw1, tmp_path, "netsh", "int", "ipv6", "reset")  # takes the tunnel too
        assert await status(gw1, tmp_path) == {}
        # The dump brings the tunnel back with its address, and again leaves it as it is.
        for _ in range(2):
            await tool(gw1, tmp_path, "netsh", "-f", str(saved))
            assert list(await status(gw1, tmp_path)) == ["t0"]
            shown = await gw1.run(["ip", "-6", "addr", "show", "dev", "t0"])
            assert b"2002:ac1f:2aef::1/128" in shown.stdout
        await tool(gw1, tmp_path, "netsh", "int", "ipv6", "reset")
        assert await status(gw1, tmp_path) == {}
        kernel = await tool(
            gw1, tmp_path, "ipv6", "tunnel", "add", "t1", "--mode", "6in4", "--local", GW1,
            "--remote", RELAY, "--lab", "--plane", "kernel", check=False,
        )  # fmt: skip
        if has_sit:
            assert kernel.returncode == 0
            await tool(gw1, tmp_path, "ipv6", "tunnel", "delete", "t1")
        else:
            error = kernel.stderr.decode().strip()
            assert kernel.returncode == 7 and "(CONFIG_IPV6_SIT is not set)" in error, error
            assert "use --plane userspace or --plane auto" in error and "\n" not in error
        assert await status(gw1, tmp_path) == {}


async def test_the_netsh_6to4_context_applies_its_settings(lab, tmp_path: Path) -> None:
    async with lab("6to4-two-sites") as running:
        gw1 = running.host("gw1")

        async def netsh(*words: str, check: bool = True):
            return await tool(gw1, tmp_path, "netsh", "interface", "6to4", *words, check=check)

        async def shown(noun: str) -> list[dict[str, Any]]:
            rows = json.loads((await netsh("show", noun, "--json")).stdout)
            assert isinstance(rows, list)
            return rows

        refused = await netsh("set", "state", "enabled", check=False)  # private, no lab=yes
        assert refused.returncode == 2 and b"--lab" in refused.stderr
        assert (await shown("state"))[0]["state"] == "default"  # nothing kept, nothing changed
        no_relay = await netsh("set", "relay", "state=enabled", check=False)
        assert no_relay.returncode == 2 and b"no default relay" in no_relay.stderr

        await netsh("set", "routing", "enabled")
        await netsh("set", "relay", f"name={RELAY}", "state=enabled")
        await netsh("set", "state", "enabled", "lab=yes")
        state = (await shown("state"))[0]
        assert state["configured"] and state["site"] == "2002:ac1f:2aef::/48"
        assert (await shown("relay"))[0]["in_use"] == RELAY
        interfaces = {row["interface"]: row for row in await shown("interface")}
        assert interfaces["lan0"]["prefix"] == "2002:ac1f:2aef:1::/64"
        assert (await status(gw1, tmp_path))["tun6to4"]["relays"] == [RELAY]

        await netsh("set", "routing", "disabled")  # applied again, as a host, not a gateway
        assert await shown("interface") == [
            {"interface": "tun6to4", "role": "6to4 tunnel", "prefix": "2002:ac1f:2aef::/48"}
        ]
        await netsh("set", "state", "disabled")
        assert not (await shown("state"))[0]["configured"]
        assert await status(gw1, tmp_path) == {}
