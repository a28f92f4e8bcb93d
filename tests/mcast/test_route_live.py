"""Static multicast routes on a lab router (configs/lab/routed-multicast.toml):
a source on LAN 1, the router r, members on LAN 2. What arrives at a member
is read with ``mcast join --each --json``, each datagram with its TTL."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import pytest
import trio

from ipv6.capabilities import PRETEND_ENV
from tests.mcast.labs import address_ready, arrivals, mcast, routing_daemon_ready, udp_bound
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

LAB = "routed-multicast"


@pytest.mark.parametrize(
    ("group", "other_source"),
    [
        ("239.5.5.5", ("10.1.0.9", "10.1.0.9/24")),
        ("ff1e::5", ("2001:db8:1::9", "2001:db8:1::9/64")),
    ],
    ids=["ipv4", "ipv6"],
)
async def test_static_routes_forward_as_asked(lab, plane, group: str, other_source) -> None:
    v6 = ":" in group
    source = "2001:db8:1::2" if v6 else "10.1.0.2"
    async with lab(LAB) as running:
        r = running.host("r")
        assert await arrivals(running, group, ttl=5) == []  # no route: nothing crosses r
        await mcast(r, "route", "add", group, "--in", "eth0", "--out", "eth1")
        assert await arrivals(running, group, ttl=5) == [4, 4, 4]  # one router: TTL - 1
        shown = json.loads((await mcast(r, "route", "show", "--json")).stdout)
        (row,) = shown
        assert row["installed"] and row["packets"] == 3 and row["source"] is None
        assert row["plane"] == plane
        if plane == "ebpf":  # the kernel's program forwarded them, not Python
            (status,) = json.loads((await mcast(r, "route", "status", "--json")).stdout)
            assert status["forwarded"] == 3 and status["kernel_plane"]["forwarded"] == 3
            assert status["kernel_plane"]["interfaces"] == ["eth0", "eth1"]
        # A threshold above the datagrams' TTL stops them; one below lets them through.
        # (Linux's IPv6 multicast routing has no thresholds: refused, in one line.)
        done = await mcast(
            r, "route", "add", group, "--in", "eth0", "--out", "eth1:10", check=not v6
        )
        if v6:
            assert done.returncode == 2 and b"no TTL thresholds" in done.stderr
        else:
            assert await arrivals(running, group, ttl=5) == []
            assert await arrivals(running, group, ttl=12) == [11, 11, 11]
        # An (S,G) route forwards only S.
        await mcast(r, "route", "delete", group, "--in", "eth0")
        await mcast(r, "route", "add", group, "--source", source, "--in", "eth0", "--out", "eth1")
        await running.host("s").run(["ip", "addr", "add", other_source[1], "dev", "eth0"])
        await address_ready(running.host("s"), other_source[0])  # IPv6: past its DAD
        assert await arrivals(running, group, ttl=5, source=source) == [4, 4, 4]
        assert await arrivals(running, group, ttl=5, source=other_source[0]) == []
        # Removing the last route stops the flow, and the daemon with it.
        await mcast(r, "route", "delete", group, "--source", source, "--in", "eth0")
        assert await arrivals(running, group, ttl=5, source=source) == []
        assert json.loads((await mcast(r, "route", "show", "--json")).stdout) == []
        ps = await r.run(["pgrep", "-f", "mcast.routing._routed"], check=False)
        assert ps.stdout.strip() == b""


async def test_bad_routes_are_one_line(lab, plane) -> None:
    async with lab(LAB) as running:
        r = running.host("r")
        for args, words, code in (
            (["239.1.1.1", "--in", "eth9", "--out", "eth1"], "no interface eth9", 2),
            (["239.1.1.1", "--in", "eth0", "--out", "eth1:300"], "1 to 255", 2),
            (["239.1.1.1", "--in", "lo", "--out", "eth1"], "cannot carry multicast", 2),
            (["239.1.1.1", "--in", "eth0", "--out", "eth1", "--plane", "nowhere"], "--plane", 2),
        ):
            done = await mcast(r, "route", "add", *args, check=False)
            err = done.stderr.decode().strip()
            assert done.returncode == code and words in err and len(err.splitlines()) == 1, err
        assert json.loads((await mcast(r, "route", "show", "--json")).stdout) == []


async def test_a_plane_the_kernel_lacks_is_one_line_with_its_option(lab, monkeypatch) -> None:
    """Asked for the kernel's plane where the kernel has no multicast routing (or a
    test makes the probe say so): exit 7, the kernel option named, nothing made."""
    monkeypatch.setenv(PRETEND_ENV, "ip_mroute,ip6_mroute")
    async with lab(LAB) as running:
        r = running.host("r")
        for group, option in (("239.1.1.1", "CONFIG_IP_MROUTE"), ("ff1e::1", "CONFIG_IPV6_MROUTE")):
            done = await mcast(r, "route", "add", group, "--in", "eth0", "--out", "eth1",
                               "--plane", "kernel", check=False)  # fmt: skip
            err = done.stderr.decode().strip()
            assert done.returncode == 7 and option in err and len(err.splitlines()) == 1, err
            assert "--plane userspace" in err
        assert json.loads((await mcast(r, "route", "show", "--json")).stdout) == []
        # The same with --plane userspace works, and says so.
        await mcast(r, "route", "add", "239.1.1.1", "--in", "eth0", "--out", "eth1",
                    "--plane", "userspace")  # fmt: skip
        assert await arrivals(running, "239.1.1.1", ttl=5) == [4, 4, 4]
        (status,) = json.loads((await mcast(r, "route", "status", "--json")).stdout)
        assert status["plane"] == "userspace" and status["forwarded"] == 3
        assert "--plane userspace" in status["why"]


@pytest.mark.needs_feature("ip_mroute")
async def test_a_second_routing_daemon_is_one_line(lab, tmp_path) -> None:
    async with lab(LAB) as running:
        r = running.host("r")
        # smcroute holds the routing socket: refused in one line, nothing left behind.
        conf = tmp_path / "smcroute.conf"
        conf.write_text("")
        smcroute = await trio.lowlevel.open_process(
            r.argv(["smcrouted", "-n", "-N", "-f", str(conf), "-u", str(tmp_path / "sock"),
                    "-P", str(tmp_path / "pid"), "-i", f"t{os.getpid()}"]),
            stdout=-1, stderr=-1,
        )  # fmt: skip
        try:
            await routing_daemon_ready(r)
            done = await mcast(r, "route", "add", "239.1.1.1", "--in", "eth0", "--out", "eth1",
                               check=False)  # fmt: skip
            err = done.stderr.decode().strip()
            assert done.returncode == 1 and "smcroute" in err and len(err.splitlines()) == 1, err
            assert json.loads((await mcast(r, "route", "show", "--json")).stdout) == []
        finally:
            smcroute.terminate()
            await smcroute.wait()


@pytest.mark.needs_feature("ip_mroute")
async def test_smcroute_configured_alike_forwards_alike(lab, tmp_path) -> None:
    """The oracle: the same (*,G) and (S,G) routes given to smcroute forward the
    same datagrams with the same TTL as the toolkit's routes above."""
    conf = tmp_path / "smcroute.conf"
    conf.write_text(
        "phyint eth0 enable\nphyint eth1 enable\n"
        "mroute from eth0 group 239.5.5.5 to eth1\n"
        "mroute from eth0 source 10.1.0.2 group 232.5.5.5 to eth1\n"
    )
    async with lab(LAB) as running:
        r = running.host("r")
        smcroute = await trio.lowlevel.open_process(
            r.argv(["smcrouted", "-n", "-f", str(conf), "-u", str(tmp_path / "sock"),
                    "-P", str(tmp_path / "pid"), "-i", f"t{os.getpid()}"]),
            stdout=-1, stderr=-1,
        )  # fmt: skip
        try:
            await routing_daemon_ready(r, ("eth0", "eth1"))
            assert await arrivals(running, "239.5.5.5", ttl=5) == [4, 4, 4]
            assert await arrivals(running, "232.5.5.5", ttl=5, source="10.1.0.2") == [4, 4, 4]
            assert await arrivals(running, "239.6.6.6", ttl=5) == []  # no route for it
        finally:
            smcroute.terminate()
            await smcroute.wait()


def test_without_privilege_a_route_is_a_one_line_refusal(tmp_path) -> None:
    import shutil
    import subprocess

    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    drop = [setpriv, "--bounding-set=-net_admin", "--inh-caps=-net_admin", "--"]
    done = subprocess.run(
        [*drop, sys.executable, "-m", "mcast", "route", "add", "239.1.1.1", "--in", "lo",
         "--out", "eth0"],
        check=False, capture_output=True, text=True, timeout=60,
        env={"NETSH_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 4 and "CAP_NET_ADMIN" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


async def test_a_routes_file_is_one_transaction(lab, plane, tmp_path) -> None:
    good = tmp_path / "routes"
    good.write_text(
        "# LAN 1 to LAN 2\n"
        "239.5.5.5 --in eth0 --out eth1\n"
        "ff1e::5 --in eth0 --out eth1   # IPv6 too\n"
    )
    bad = tmp_path / "bad"
    bad.write_text("239.7.7.7 --in eth0 --out eth1\n239.8.8.8 --in eth0 --out eth1:999\n")
    async with lab(LAB) as running:
        r = running.host("r")
        await mcast(r, "route", "load", str(good))
        assert await arrivals(running, "239.5.5.5", ttl=5) == [4, 4, 4]
        assert await arrivals(running, "ff1e::5", ttl=5) == [4, 4, 4]
        done = await mcast(r, "route", "load", str(bad), check=False)
        assert done.returncode == 2 and b"line 2: the TTL threshold" in done.stderr
        rows = json.loads((await mcast(r, "route", "show", "--json")).stdout)
        assert sorted(row["group"] for row in rows) == ["239.5.5.5", "ff1e::5"]  # unchanged
        assert await arrivals(running, "239.5.5.5", ttl=5) == [4, 4, 4]
        # Loading an empty file removes every route, and the daemon goes.
        empty = tmp_path / "empty"
        empty.write_text("# nothing\n")
        await mcast(r, "route", "load", str(empty))
        assert await arrivals(running, "239.5.5.5", ttl=5) == []


async def test_mcast_ping_across_the_router(lab, plane) -> None:
    """The responder on LAN 1, the client on LAN 2: unicast and, with an (S,G)
    route on r for the protocol's group, multicast, one router away."""
    async with lab(LAB) as running:
        r, s, m1 = running.host("r"), running.host("s"), running.host("m1")
        await mcast(r, "route", "add", "232.43.211.234", "--source", "10.1.0.2", "--in", "eth0",
                    "--out", "eth1")  # fmt: skip
        responder = await trio.lowlevel.open_process(
            s.argv([sys.executable, "-m", "mcast", "ping", "--serve"]), stdout=-1, stderr=-1
        )
        try:
            await udp_bound(s, 4321, 2)  # the responder's port (RFC 6450), both families
            done = await mcast(m1, "ping", "10.1.0.2", "-c", "3", "--interval", "0.2", "--json")
        finally:
            responder.terminate()
            await responder.wait()
    summary = json.loads(done.stdout.decode().splitlines()[-1])
    assert summary["unicast"]["received"] == summary["multicast"]["received"] == 3
    assert summary["unicast"]["distance"] == summary["multicast"]["distance"] == 1


def _junk_frames(count: int, group: str) -> int:
    """From s's eth0: ``count`` frames to ``group``'s MAC that pass the plane's kernel
    filter (IPv4, the group at the destination's place) but are no datagram a router
    forwards: truncated, a wrong header checksum, a wrong version, lengths that lie,
    random bytes after the header. Returns how many it sent."""
    import random
    import socket as sockets

    rng = random.Random(29)
    mac = bytes((0x01, 0x00, 0x5E, 0x05, 0x05, 0x05))
    group_bytes = sockets.inet_aton(group)
    sent = 0
    with sockets.socket(sockets.AF_PACKET, sockets.SOCK_DGRAM, sockets.htons(0x0800)) as sock:
        for n in range(count):
            header = bytearray(rng.randbytes(20))
            header[0] = 0x45 if n % 4 else 0x46 + (n % 7) * 0x10  # a lying IHL or version
            header[2:4] = (rng.choice([10, 19, 20, 60, 4000])).to_bytes(2, "big")
            header[8] = rng.randrange(2, 255)
            header[12:16] = sockets.inet_aton("10.1.0.2")
            header[16:20] = group_bytes
            body = rng.randbytes(rng.randrange(0, 60))
            sock.sendto(bytes(header) + body, ("eth0", 0x0800, 0, 0, mac))
            sent += 1
    return sent


@pytest.mark.parametrize(
    "plane", [pytest.param("ebpf", marks=pytest.mark.needs_feature("ebpf_tc")), "userspace"]
)
async def test_the_forwarding_plane_counts_junk_and_goes_on(
    lab, monkeypatch, figures, plane: str
) -> None:
    """A peer's junk never ends the plane: each frame the kernel filter let through
    is counted by reason, and the group's datagrams still cross. On the eBPF
    plane the program takes none of it (no header it reads), so Python counts
    it all, as on the userspace plane."""
    absent = "ip_mroute,ip6_mroute" + (",ebpf_tc" if plane == "userspace" else "")
    monkeypatch.setenv(PRETEND_ENV, absent)
    group = "239.5.5.5"
    async with lab(LAB) as running:
        r, s = running.host("r"), running.host("s")
        await mcast(r, "route", "add", group, "--source", "10.1.0.2", "--in", "eth0", "--out",
                    "eth1")  # fmt: skip
        began = time.monotonic()
        sent = await s.run_sync(_junk_frames, 3000, group)
        took = time.monotonic() - began

        async def looked_at_all() -> dict[str, Any] | None:
            (now,) = json.loads((await mcast(r, "route", "status", "--json")).stdout)
            return now if sum(now["dropped"].values()) >= sent else None

        status = await wait_until(looked_at_all, "the plane to look at every frame", every=0.1)
        dropped = status["dropped"]
        assert sum(dropped.values()) == sent and status["forwarded"] == 0, status
        assert set(dropped) <= {"malformed", "bad_header_checksum"}, dropped
        assert status["plane"] == plane
        assert await arrivals(running, group, ttl=5) == [4, 4, 4]
        assert (await r.run(["pgrep", "-f", "mcast.routing._routed"])).stdout.strip()
    figures(
        f"mcast route (the {plane} plane)",
        "IPv4 frames to a routed group that pass the plane's kernel filter but are no "
        "datagram: truncated, wrong checksums, lying lengths and versions, random bytes",
        count=sent,
        seconds=took,
        held={
            "answers afterwards": "the group's datagrams still cross the router",
            "counters": "exact: "
            + ", ".join(f"{reason} {n:,}" for reason, n in sorted(dropped.items()))
            + f" = the {sent:,} sent",
        },
    )
