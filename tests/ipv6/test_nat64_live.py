"""An IPv6-only network through a NAT64 (configs/lab/nat64.toml): the host
resolves the IPv4-only server's name through DNS64 (checked by dig), pings
it, connects by TCP and UDP (socat at both ends; the server sees a pool
address), gets ICMP errors back translated (port unreachable, packet too
big), and its sessions time out. The same scenario runs through tayga, an
independent NAT64, and must give the same results."""

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

from ipv6.capabilities import has
from tests.ipv6.probes import UDP_ERROR_PROBE
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

POOL = ipaddress.IPv4Network("203.0.113.0/28")
SERVER4 = "198.51.100.10"
GW6 = "2001:db8:64::1"
ZONE = """\
$ORIGIN lab.example.
$TTL 300
@       IN SOA ns hostmaster 1 3600 600 86400 60
@       IN NS  ns
ns      IN AAAA 2001:db8:64::1
server  IN A 198.51.100.10
dual    IN A 198.51.100.10
dual    IN AAAA 2001:db8:64::99
"""

UNSOLICITED_PROBE = """\
import socket, sys, time
s = socket.socket()
s.settimeout(20)
began = time.monotonic()
try:
    s.connect((sys.argv[1], 9))
    print("connected", 0)
except ConnectionRefusedError:
    print("refused", round(time.monotonic() - began, 2))
except TimeoutError:
    print("timeout", round(time.monotonic() - began, 2))
"""


def embed(prefix: str, v4: str) -> str:
    net = ipaddress.IPv6Network(prefix)
    return str(ipaddress.IPv6Address(int(net.network_address) | int(ipaddress.IPv4Address(v4))))


async def ipv6_tool(host, state: Path, *words: str, check: bool = True):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6", *words]
    result = await host.run(command, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"ipv6 {' '.join(words)}: {result.stderr.decode()}")
    return result


async def out(host, *command: str) -> str:
    return str((await host.run(list(command), check=False)).stdout.decode())


async def scenario(running, prefix: str) -> dict[str, Any]:
    """What the IPv6-only host h6 gets from the IPv4-only server s4 through whatever
    NAT64 translates ``prefix`` in gw."""
    gw, h6, s4 = running.host("gw"), running.host("h6"), running.host("s4")
    server6 = embed(prefix, SERVER4)
    seen: dict[str, Any] = {}
    ping = await out(h6, "ping", "-c", "3", "-i", "0.2", "-W", "2", server6)
    seen["ping"] = " 0% packet loss" in ping
    async with trio.open_nursery() as nursery:
        tcp = ["socat", "-T", "5", "TCP4-LISTEN:7000,reuseaddr", "SYSTEM:echo $SOCAT_PEERADDR"]
        # The UDP server's command reads the datagram first: were it to end before
        # socat hands it over, socat would fail on the closed pipe.
        udp = ["socat", "-T", "5", "UDP4-RECVFROM:7001", "SYSTEM:read -r _; echo $SOCAT_PEERADDR"]
        nursery.start_soon(s4.run, ["timeout", "10", *tcp])
        nursery.start_soon(s4.run, ["timeout", "10", *udp])
        await wait_listening(s4, "7000", "tcp")
        await wait_listening(s4, "7001", "udp")
        reply = await h6.run(["socat", "-T", "5", "-", f"TCP6:[{server6}]:7000"], stdin=b"")
        seen["tcp_peer"] = reply.stdout.decode().strip()
        reply = await h6.run(["socat", "-T", "3", "-", f"UDP6:[{server6}]:7001"], stdin=b"x\n")
        seen["udp_peer"] = reply.stdout.decode().strip()
    probe = await h6.run([sys.executable, "-c", UDP_ERROR_PROBE, server6], check=False)
    seen["port_unreachable"] = probe.stdout.decode().strip()
    await gw.run(["ip", "link", "set", "wan0", "mtu", "1400"])
    await h6.run(["ip", "-6", "route", "flush", "cache"])  # forget a path MTU learnt before
    try:
        big = await out(h6, "ping", "-c", "1", "-s", "1452", "-M", "do", "-W", "2", server6)
    finally:
        await gw.run(["ip", "link", "set", "wan0", "mtu", "1500"])
    seen["packet_too_big"] = "Packet too big: mtu=1420" in big
    return seen


async def wait_listening(host, port: str, proto: str) -> None:
    async def listening() -> bool:
        return f":{port} " in await out(host, "ss", "-lnH", "-A", proto)

    await wait_until(listening, f"{proto} port {port} to listen in {host.name}", timeout=5)


def check_results(seen: dict[str, Any]) -> None:
    assert seen["ping"], "ping through the NAT64 lost packets"
    assert ipaddress.IPv4Address(seen["tcp_peer"]) in POOL, seen
    assert ipaddress.IPv4Address(seen["udp_peer"]) in POOL, seen
    assert seen["port_unreachable"] == "ConnectionRefusedError", seen
    assert seen["packet_too_big"], seen


async def test_ipv6_only_host_reaches_ipv4_server_through_the_toolkit_nat64(
    lab, tmp_path: Path
) -> None:
    prefix = "64:ff9b:1::/96"
    async with lab("nat64") as running:
        gw, h6 = running.host("gw"), running.host("h6")
        server6 = embed(prefix, SERVER4)
        # Before the translator runs, nothing gets through.
        assert " 0% packet loss" not in await out(h6, "ping", "-c", "1", "-W", "1", server6)
        await ipv6_tool(
            gw, tmp_path, "nat64", "add", "nat64", "--prefix", prefix, "--pool", str(POOL),
            "--udp-timeout", "2", "--icmp-timeout", "2",
        )  # fmt: skip
        zone = tmp_path / "lab.zone"
        zone.write_text(ZONE)
        async with trio.open_nursery() as nursery:
            dns64 = [
                "env", f"NETSH_STATE_DIR={tmp_path}", sys.executable, "-m", "ipv6", "dns64",
                "--prefix", prefix, "--zone", str(zone), "--listen", GW6, "--duration", "30",
            ]  # fmt: skip
            nursery.start_soon(gw.run, dns64)
            await wait_listening(gw, "53", "udp")
            answer = await out(h6, "dig", "+short", "AAAA", "server.lab.example", f"@{GW6}")
            assert answer.split() == [server6]
            real = await out(h6, "dig", "+short", "AAAA", "dual.lab.example", f"@{GW6}")
            assert real.split() == ["2001:db8:64::99"]  # a real AAAA record is not replaced
            discovery = await out(h6, "dig", "+short", "AAAA", "ipv4only.arpa", f"@{GW6}")
            assert sorted(discovery.split()) == [
                embed(prefix, "192.0.0.170"),
                embed(prefix, "192.0.0.171"),
            ]
            # An application resolves the name itself (its resolver is DNS64) and connects.
            resolv = tmp_path / "resolv.conf"
            resolv.write_text(f"nameserver {GW6}\n")
            s4 = running.host("s4")
            tcp = ["socat", "-T", "5", "TCP4-LISTEN:7002,reuseaddr", "SYSTEM:echo by-name"]
            nursery.start_soon(s4.run, ["timeout", "10", *tcp])
            await wait_listening(s4, "7002", "tcp")
            by_name = await h6.run(
                ["unshare", "-m", "sh", "-c",
                 f"mount --bind {resolv} /etc/resolv.conf && "
                 "exec socat -T 5 - TCP6:server.lab.example:7002"],
                stdin=b"", check=False,
            )  # fmt: skip
            assert by_name.stdout.strip() == b"by-name", by_name.stderr
            nursery.cancel_scope.cancel()

        check_results(await scenario(running, prefix))

        status = json.loads((await ipv6_tool(gw, tmp_path, "nat64", "status", "--json")).stdout)
        (row,) = status
        assert row["plane_running"] == ("ebpf" if has("ebpf_tc") else "userspace")  # auto's
        assert row["running"] and row["counters"]["to_ipv4_packets"] > 0
        assert row["counters"]["to_ipv6_packets"] > 0
        assert row["events"]["tcp_sessions_made"] >= 2

        # The UDP and ICMP sessions time out (2 s here), the TCP ones stay.
        async def expired() -> dict[str, Any] | None:
            (now,) = json.loads((await ipv6_tool(gw, tmp_path, "nat64", "status", "--json")).stdout)
            gone = not any(s["protocol"] in ("udp", "icmp") for s in now["sessions"])
            return now if now["events"].get("udp_sessions_expired", 0) >= 1 and gone else None

        row = await wait_until(expired, "the UDP and ICMP sessions to expire", timeout=10,
                               every=0.5)  # fmt: skip
        assert any(s["protocol"] == "tcp" for s in row["sessions"])

        # A connection from the IPv4 side that no session takes: its SYN is held 6 s
        # for a simultaneous open (RFC 6146 3.5.2.2), then refused by a port unreachable.
        pool4 = row["sessions"][0]["ipv4_pool"].split(":")[0]
        refused = await running.host("s4").run(
            [sys.executable, "-c", UNSOLICITED_PROBE, pool4], check=False
        )
        outcome, waited = refused.stdout.decode().split()
        assert outcome == "refused" and 5.5 <= float(waited) < 9, refused.stdout
        (row,) = json.loads((await ipv6_tool(gw, tmp_path, "nat64", "status", "--json")).stdout)
        assert row["drops"].get("tcp_syn_unanswered", 0) >= 1, row["drops"]
        shown = await ipv6_tool(gw, tmp_path, "nat64", "status")
        assert b"nat64: NAT64, prefix 64:ff9b:1::/96" in shown.stdout

        await ipv6_tool(gw, tmp_path, "nat64", "delete", "nat64")
        assert "nat64" not in await out(gw, "ip", "-o", "link")
        assert " 0% packet loss" not in await out(h6, "ping", "-c", "1", "-W", "1", server6)


@pytest.mark.parametrize(
    "plane", [pytest.param("ebpf", marks=pytest.mark.needs_feature("ebpf_tc")), "userspace"]
)
async def test_50_mb_of_tcp_each_way_arrive_intact_on_each_plane(
    lab, tmp_path: Path, plane: str
) -> None:
    """50 MB up and 50 MB down through one NAT64 on each plane, byte for byte
    (the files' digests). On the eBPF plane the kernel translates nearly all of
    it: the service sees a connection's first packets and its last, and status
    says which plane runs and why."""
    prefix = "64:ff9b:1::/96"
    server6 = embed(prefix, SERVER4)
    async with lab("nat64") as running:
        gw, h6, s4 = running.host("gw"), running.host("h6"), running.host("s4")
        await ipv6_tool(
            gw, tmp_path, "nat64", "add", "nat64", "--prefix", prefix, "--pool", str(POOL),
            "--plane", plane,
        )  # fmt: skip
        source = tmp_path / "source.bin"
        source.write_bytes(os.urandom(50 * 1000 * 1000))
        up, down = tmp_path / "up.bin", tmp_path / "down.bin"
        async with trio.open_nursery() as nursery:
            listen = ["socat", "-u", "TCP4-LISTEN:7100,reuseaddr", f"CREATE:{up}"]
            nursery.start_soon(s4.run, ["timeout", "60", *listen])
            await wait_listening(s4, "7100", "tcp")
            await h6.run(["timeout", "60", "socat", "-u", f"OPEN:{source}",
                          f"TCP6:[{server6}]:7100"])  # fmt: skip
        async with trio.open_nursery() as nursery:
            serve = ["socat", "-u", f"OPEN:{source}", "TCP4-LISTEN:7101,reuseaddr"]
            nursery.start_soon(s4.run, ["timeout", "60", *serve])
            await wait_listening(s4, "7101", "tcp")
            await h6.run(["timeout", "60", "socat", "-u", f"TCP6:[{server6}]:7101",
                          f"CREATE:{down}"])  # fmt: skip
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        assert hashlib.sha256(up.read_bytes()).hexdigest() == digest, "upload corrupted"
        assert hashlib.sha256(down.read_bytes()).hexdigest() == digest, "download corrupted"
        (row,) = json.loads((await ipv6_tool(gw, tmp_path, "nat64", "status", "--json")).stdout)
        assert row["plane"] == plane and row["plane_running"] == plane, row["plane_reason"]
        counters = row["counters"]
        assert counters["to_ipv4_bytes"] > 50e6 and counters["to_ipv6_bytes"] > 50e6, counters
        if plane == "ebpf":
            assert row["plane_reason"].startswith("ebpf: "), row["plane_reason"]
            left = row["kernel_plane"]["to_userspace"]
            total = counters["to_ipv4_packets"] + counters["to_ipv6_packets"]
            assert left < total / 100, (left, total)  # the kernel carried the rest
        else:
            assert row["kernel_plane"] == {}
        shown = await ipv6_tool(gw, tmp_path, "nat64", "status")
        assert f"plane: {plane}".encode() in shown.stdout
        await ipv6_tool(gw, tmp_path, "nat64", "delete", "nat64")


async def test_without_ebpf_auto_runs_on_the_userspace_plane_and_ebpf_is_refused(
    lab, tmp_path: Path
) -> None:
    """Where the kernel lacks eBPF on tc (reported absent on request here, as the
    probe would find it), --plane auto translates on the userspace plane and says
    why; --plane ebpf is refused with the feature named (exit 7), nothing started."""
    prefix = "64:ff9b:1::/96"
    async with lab("nat64") as running:
        gw, h6 = running.host("gw"), running.host("h6")
        absent = ["env", "TOOLKIT_PRETEND_ABSENT=ebpf_tc"]
        refused = await gw.run(
            [*absent, "env", f"NETSH_STATE_DIR={tmp_path}", sys.executable, "-m", "ipv6",
             "nat64", "add", "nat64", "--prefix", prefix, "--pool", str(POOL), "--plane",
             "ebpf"], check=False,
        )  # fmt: skip
        assert refused.returncode == 7, refused.stderr
        assert b"eBPF classifiers on tc" in refused.stderr
        assert "nat64" not in await out(gw, "ip", "-o", "link")
        made = await gw.run(
            [*absent, "env", f"NETSH_STATE_DIR={tmp_path}", sys.executable, "-m", "ipv6",
             "nat64", "add", "nat64", "--prefix", prefix, "--pool", str(POOL)], check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert " 0% packet loss" in await out(h6, "ping", "-c", "2", "-W", "2",
                                               embed(prefix, SERVER4))  # fmt: skip
        (row,) = json.loads((await ipv6_tool(gw, tmp_path, "nat64", "status", "--json")).stdout)
        assert row["plane"] == "auto" and row["plane_running"] == "userspace"
        assert row["plane_reason"] == (
            "userspace: the kernel lacks eBPF classifiers on tc (clsact, cls_bpf direct action) "
            "(CONFIG_BPF_SYSCALL, CONFIG_NET_CLS_BPF, CONFIG_NET_SCH_INGRESS)"
        )
        await ipv6_tool(gw, tmp_path, "nat64", "delete", "nat64")


TAYGA_CONF = """\
tun-device {device}
ipv4-addr 203.0.113.1
prefix {prefix}
dynamic-pool {pool}
data-dir {data}
"""


async def test_tayga_gives_the_same_results(lab, tmp_path: Path) -> None:
    """tayga, a NAT64 written apart, through the same scenario. tayga refuses
    64:ff9b:1::/96, so both take a documentation prefix here."""
    prefix = "2001:db8:46::/96"
    async with lab("nat64") as running:
        gw = running.host("gw")
        conf = tmp_path / "tayga.conf"
        conf.write_text(TAYGA_CONF.format(device="tayga", prefix=prefix, pool=POOL, data=tmp_path))
        await gw.run(["tayga", "-c", str(conf), "--mktun"])
        await gw.run(["ip", "link", "set", "tayga", "up"])
        await gw.run(["ip", "route", "add", str(POOL), "dev", "tayga"])
        await gw.run(["ip", "route", "add", prefix, "dev", "tayga"])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gw.run, ["tayga", "-c", str(conf), "-n"])

            async def tayga_runs() -> bool:
                return "tayga" in await out(gw, "pgrep", "-a", "tayga")

            await wait_until(tayga_runs, "tayga to run", timeout=5)
            theirs = await scenario(running, prefix)
            nursery.cancel_scope.cancel()
        await gw.run(["ip", "link", "del", "tayga"])

        await ipv6_tool(
            gw, tmp_path, "nat64", "add", "nat64", "--prefix", prefix, "--pool", str(POOL)
        )
        ours = await scenario(running, prefix)
        await ipv6_tool(gw, tmp_path, "nat64", "delete", "nat64")
    check_results(theirs)
    check_results(ours)
    assert {k: v for k, v in ours.items() if not k.endswith("_peer")} == {
        k: v for k, v in theirs.items() if not k.endswith("_peer")
    }


async def test_clat_host_reaches_ipv4_servers_with_the_prefix_from_the_network(
    lab, tmp_path: Path
) -> None:
    """464XLAT: the gateway advertises its DNS server and NAT64 prefix (RDNSS and
    PREF64, read by rdisc6 and tshark as sent); a CLAT on c6 learns the prefix from
    the advertisement, and again from ipv4only.arpa; IPv4-only clients on c6 reach
    the IPv4-only server; dualstack check says which path each address takes."""
    prefix = "64:ff9b:1::/96"
    async with lab("nat64") as running:
        gw, h6, c6, s4 = (running.host(n) for n in ("gw", "h6", "c6", "s4"))
        await ipv6_tool(
            gw, tmp_path, "nat64", "add", "nat64", "--prefix", prefix, "--pool", str(POOL)
        )
        netsh = [
            "env", f"NETSH_STATE_DIR={tmp_path}", sys.executable, "-m", "ipv6.cli.netsh",
            "interface", "ipv6", "set", "interface", "lan0", "forwarding=enabled",
            "advertise=enabled", f"dnsservers={GW6}", f"nat64prefix={prefix}",
        ]  # fmt: skip
        await gw.run(netsh)

        # What the advertisement carries, read by two decoders written apart from ours.
        said = await out(h6, "rdisc6", "-1", "eth0")
        assert f"Recursive DNS server     : {GW6}" in said, said
        assert "DNS server lifetime     :         1200" in said
        capture = tmp_path / "ra.pcap"
        tshark_said = tmp_path / "tshark.err"
        async with trio.open_nursery() as nursery:
            tshark = f"tshark -i eth0 -f 'icmp6 and ip6[40] == 134' -c 1 -w {capture}"
            nursery.start_soon(h6.run, ["sh", "-c", f"exec timeout 10 {tshark} 2>{tshark_said}"])
            await wait_until(  # tshark says so once it captures
                lambda: tshark_said.exists() and "Capturing on" in tshark_said.read_text(),
                "tshark to capture", timeout=10,
            )  # fmt: skip
            await h6.run(["rdisc6", "eth0"], check=False)
        fields = await out(
            h6, "tshark", "-r", str(capture), "-T", "fields", "-e", "icmpv6.opt.pref64.prefix",
            "-e", "icmpv6.opt.pref64.plc", "-e", "icmpv6.opt.pref64.scaled_lifetime",
        )  # fmt: skip
        assert fields.split() == ["64:ff9b:1::", "0x0000", "225"], fields  # /96, 1800 s

        zone = tmp_path / "lab.zone"
        zone.write_text(ZONE)
        async with trio.open_nursery() as nursery:
            dns64 = [
                "env", f"NETSH_STATE_DIR={tmp_path}", sys.executable, "-m", "ipv6", "dns64",
                "--prefix", prefix, "--zone", str(zone), "--listen", GW6, "--duration", "60",
            ]  # fmt: skip
            nursery.start_soon(gw.run, dns64)
            server = ["socat", "-T", "5", "TCP4-LISTEN:7003,reuseaddr,fork",
                      "SYSTEM:echo $SOCAT_PEERADDR"]  # fmt: skip
            nursery.start_soon(s4.run, ["timeout", "50", *server])
            await wait_listening(s4, "7003", "tcp")
            await wait_listening(gw, "53", "udp")

            state = tmp_path / "c6"
            made = await ipv6_tool(c6, state, "clat", "add", "clat", "--json")
            added = json.loads(made.stdout)
            assert added["prefix"] == prefix and "RFC 8781" in added["learnt"]
            assert " 0% packet loss" in await out(c6, "ping", "-c", "2", "-i", "0.2", SERVER4)
            reply = await c6.run(["socat", "-T", "5", "-", f"TCP4:{SERVER4}:7003"], stdin=b"")
            assert ipaddress.IPv4Address(reply.stdout.decode().strip()) in POOL

            resolv = tmp_path / "resolv.conf"
            resolv.write_text(f"nameserver {GW6}\n")
            check = await c6.run(
                ["unshare", "-m", "sh", "-c",
                 f"mount --bind {resolv} /etc/resolv.conf && exec env NETSH_STATE_DIR={state} "
                 f"{sys.executable} -m ipv6 dualstack check server.lab.example 7003 --json"],
                check=False,
            )  # fmt: skip
            report = json.loads(check.stdout)
            assert report["via"] == {SERVER4: "CLAT", embed(prefix, SERVER4): "NAT64"}
            assert report["paths"]["ipv4"] == "clat" and report["paths"]["nat64_prefix"] == prefix
            assert [a["outcome"] for a in report["IPv4"]["attempts"]] == ["connected"]
            assert [a["outcome"] for a in report["IPv6"]["attempts"]] == ["connected"]

            await ipv6_tool(c6, state, "clat", "delete", "clat")
            made = await ipv6_tool(
                c6, state, "clat", "add", "clat", "--discover", "dns", "--dns", GW6, "--json"
            )
            assert "RFC 7050" in json.loads(made.stdout)["learnt"]
            assert " 0% packet loss" in await out(c6, "ping", "-c", "2", "-i", "0.2", SERVER4)
            shown = await ipv6_tool(c6, state, "clat", "status")
            assert b"clat: CLAT, NAT64 prefix 64:ff9b:1::/96, running" in shown.stdout
            nursery.cancel_scope.cancel()

        before = await out(
            c6, "sysctl", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.accept_ra"
        )
        await ipv6_tool(c6, state, "clat", "delete", "clat")
        after = await out(
            c6, "sysctl", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.accept_ra"
        )
        assert "forwarding = 1" in before and "forwarding = 0" in after
        assert "accept_ra = 1" in after
        assert await out(c6, "ip", "-4", "route") == ""
        assert await out(c6, "ip", "-6", "neigh", "show", "proxy") == ""


@pytest.mark.parametrize("plane", ["auto", "userspace"])
async def test_a_netsh_line_makes_the_translator_and_dump_makes_it_again(
    lab, tmp_path: Path, plane: str
) -> None:
    """On either plane; the plane asked for (not auto, the default) is in the dump."""
    prefix = "64:ff9b:1::/96"
    async with lab("nat64") as running:
        gw, h6 = running.host("gw"), running.host("h6")
        netsh = ["env", f"NETSH_STATE_DIR={tmp_path}", sys.executable, "-m", "ipv6.cli.netsh"]
        made = await gw.run(
            [*netsh, "interface", "ipv6", "add", "nat64", "nat64", prefix, str(POOL),
             "udptimeout=60", f"plane={plane}"], check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        server6 = embed(prefix, SERVER4)
        assert " 0% packet loss" in await out(h6, "ping", "-c", "1", "-W", "2", server6)
        dump = await out(gw, *netsh, "interface", "ipv6", "dump")
        line = (
            f"interface ipv6 add nat64 interface=nat64 prefix={prefix} pool={POOL} "
            "ipv4address=203.0.113.0 ipv6address=64:ff9b:1::cb00:7100 udptimeout=60"
            + ("" if plane == "auto" else f" plane={plane}")
        )
        assert line in dump.splitlines()
        assert "interface=nat64 metric" not in dump  # its own routes come with it
        await gw.run([*netsh, "interface", "ipv6", "delete", "interface", "nat64"])
        assert "nat64" not in await out(gw, "ip", "-o", "link")
        saved = tmp_path / "saved.txt"
        saved.write_text(dump)
        again = await gw.run([*netsh, "-f", str(saved)], check=False)
        assert again.returncode == 0, again.stderr
        assert " 0% packet loss" in await out(h6, "ping", "-c", "1", "-W", "2", server6)
        (row,) = json.loads((await ipv6_tool(gw, tmp_path, "nat64", "status", "--json")).stdout)
        assert row["timeouts"]["udp_timeout"] == 60
        assert row["plane"] == plane
        kernel = "ebpf" if has("ebpf_tc") else "userspace"  # what auto finds here
        assert row["plane_running"] == ("userspace" if plane == "userspace" else kernel)
        refused = await gw.run(
            [*netsh, "interface", "ipv6", "add", "nat64", "bad", "2001:db8:0:0:100::/96",
             str(POOL)], check=False,
        )  # fmt: skip
        assert refused.returncode != 0 and b"bits 64 to 71" in refused.stderr
        await gw.run([*netsh, "interface", "ipv6", "delete", "interface", "nat64"])
