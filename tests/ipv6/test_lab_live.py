"""Labs on the real kernel: built, reachable, configured as the file says, and
removed without a trace. iproute2's ``ip`` and iputils' ``ping`` are the
independent oracles here (the product itself never runs them)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from itertools import permutations
from pathlib import Path

import pytest
import trio

from ipv6 import LabError, LabStepFailed
from ipv6.lab import down, load_config, parse_config, up
from ipv6.lab import records as lab_records
from tests.conftest import LABS, namespaces_of, root_links, run_cli, unique_lab_name
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def require_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run the test command from the README (it installs it)"
    return path


def test_lan_from_the_command_line_every_host_pings_every_host() -> None:
    """The issue's 'done when': up, exec ping over IPv4 and IPv6, down leaves no trace."""
    require_tool("ping")
    links_before = ip("-o", "link", "show")
    name = unique_lab_name()
    result = run_cli("ipv6", "lab", "up", str(LABS / "lan.toml"), "--name", name)
    assert result.returncode == 0, result.stderr
    try:
        addresses = {
            "a": ("10.0.1.1", "2001:db8:0:2::1"),
            "b": ("10.0.1.2", "2001:db8:0:2::2"),
            "c": ("10.0.1.3", "2001:db8:0:2::3"),
        }
        for source, target in permutations(addresses, 2):
            for address in addresses[target]:
                ping = run_cli(
                    "ipv6", "lab", "exec", name, source, "--", "ping", "-c", "1", "-W", "2", address
                )
                assert ping.returncode == 0, f"{source} -> {address}: {ping.stdout}{ping.stderr}"
                assert "1 received" in ping.stdout
        status = json.loads(run_cli("ipv6", "lab", "status", name, "--json").stdout)
        assert set(status["hosts"]) == {"a", "b", "c"}
        # The lab's namespaces are visible to iproute2, as a user would check.
        listed = ip("netns", "list")
        for namespace in status["namespaces"]:
            assert namespace in listed
    finally:
        gone = run_cli("ipv6", "lab", "down", name)
    assert gone.returncode == 0, gone.stderr
    # Nothing of this lab is left, and the machine's own links are as they were
    # (other runs' namespaces may come and go meanwhile: they are not this test's).
    assert not namespaces_of(name), ip("netns", "list")
    assert ip("-o", "link", "show") == links_before


async def test_every_shipped_lab_comes_up_and_goes_down(lab) -> None:
    for path in sorted(LABS.glob("*.toml")):
        async with lab(path) as running:
            detail = await running.describe()
            for host, info in detail.hosts.items():
                assert info.present, host
                for iface in info.interfaces:
                    if iface.name != "lo":
                        assert iface.state == "up", (path.name, host, iface)
                    for addr in iface.addresses:
                        assert not addr.tentative, (path.name, host, addr)


async def test_link_local_lab_has_the_seeds_eui64_addresses(lab) -> None:
    async with lab("link-local") as running:
        detail = await running.describe()

    def addrs(host: str, ifname: str) -> set[str]:
        (iface,) = [i for i in detail.hosts[host].interfaces if i.name == ifname]
        return {a.address for a in iface.addresses}

    # The seeds: MAC 00-60-08-52-f9-d8 gives fe80::260:8ff:fe52:f9d8.
    assert addrs("c", "eth0") == {"fe80::260:8ff:fe52:f9d8/64"}
    assert addrs("a", "eth0") == {"fe80::210:5aff:feaa:20a2/64"}
    assert addrs("b", "eth0") == {"fe80::260:97ff:fe02:6ea5/64"}
    assert len(addrs("a", "eth1")) == 1  # a sits on a second link


async def test_link_local_ping_needs_the_zone_on_the_host_with_two_links(lab) -> None:
    require_tool("ping")
    async with lab("link-local") as running:
        ok = await running.host("a").run(
            ["ping", "-c", "1", "-W", "2", "fe80::260:97ff:fe02:6ea5%eth0"], check=False
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        wrong_link = await running.host("a").run(
            ["ping", "-c", "1", "-W", "1", "fe80::260:97ff:fe02:6ea5%eth1"], check=False
        )
        assert wrong_link.returncode != 0


async def test_settings_routes_and_addresses_are_what_the_file_says(lab) -> None:
    text = """
    [hosts.a]
    sysctls = { force_igmp_version = 2, force_mld_version = 1, bindv6only = true, accept_ra = 2 }
    routes = [
      { to = "default", via = "10.5.0.2", metric = 7 },
      { to = "224.0.0.0/4", dev = "up0" },
      { to = "2001:db8:99::/48", via = "2001:db8:5::2" },
      { to = "192.0.2.0/24", type = "blackhole" },
    ]
    [hosts.b]
    sysctls = { disable_ipv6 = true, "net.ipv4.igmp_max_memberships" = 100 }
    [[links]]
    name = "l"
    mtu = 1400
    [[links.endpoints]]
    host = "a"
    ifname = "up0"
    addresses = ["10.5.0.1/24", "2001:db8:5::1/64"]
    dad = false
    mac = "02:00:00:00:05:01"
    [[links.endpoints]]
    host = "b"
    addresses = ["10.5.0.2/24"]
    """
    async with lab(text, text=True) as running:
        a, b = running.host("a"), running.host("b")

        async def read(host, path: str) -> str:
            result = await host.run(["cat", path])
            return str(result.stdout.decode().strip())

        assert await read(a, "/proc/sys/net/ipv4/conf/up0/force_igmp_version") == "2"
        assert await read(a, "/proc/sys/net/ipv4/conf/all/force_igmp_version") == "2"
        assert await read(a, "/proc/sys/net/ipv6/conf/up0/force_mld_version") == "1"
        assert await read(a, "/proc/sys/net/ipv6/conf/up0/accept_ra") == "2"
        assert await read(a, "/proc/sys/net/ipv6/bindv6only") == "1"
        assert await read(a, "/proc/sys/net/ipv6/conf/up0/accept_dad") == "0"
        assert await read(b, "/proc/sys/net/ipv6/conf/eth0/disable_ipv6") == "1"
        assert await read(b, "/proc/sys/net/ipv4/igmp_max_memberships") == "100"
        # The machine's own settings are untouched.
        assert Path("/proc/sys/net/ipv6/bindv6only").read_text().strip() == "0"

        routes4 = (await a.run(["ip", "-4", "route", "show"])).stdout.decode()
        # Lab routes are marked "proto static", as configured routes should be.
        assert "default via 10.5.0.2 dev up0 proto static metric 7" in routes4
        assert "224.0.0.0/4 dev up0 proto static" in routes4
        assert "blackhole 192.0.2.0/24 proto static" in routes4
        routes6 = (await a.run(["ip", "-6", "route", "show"])).stdout.decode()
        assert "2001:db8:99::/48 via 2001:db8:5::2 dev up0 proto static" in routes6
        link = (await a.run(["ip", "-o", "link", "show", "up0"])).stdout.decode()
        assert "mtu 1400" in link and "02:00:00:00:05:01" in link
        addr6 = (await a.run(["ip", "-6", "-o", "addr", "show", "dev", "up0"])).stdout.decode()
        assert "2001:db8:5::1/64" in addr6 and "tentative" not in addr6
        ping = await a.run(["ping", "-c", "1", "-W", "2", "10.5.0.2"], check=False)
        assert ping.returncode == 0


def test_a_step_that_fails_halfway_removes_everything_and_names_the_step() -> None:
    config = parse_config(
        """
        [hosts.a]
        routes = [{ to = "10.9.0.0/16", via = "10.77.0.1" }]  # not on any link: refused
        [hosts.b]
        [[links]]
        name = "l"
        endpoints = [{ host = "a", addresses = ["10.5.0.1/24"] }, { host = "b" }]
        """,
        name=unique_lab_name(),
    )
    with pytest.raises(LabStepFailed) as caught:
        up(config)
    message = str(caught.value)
    assert "add route 10.9.0.0/16 via 10.77.0.1" in message
    assert "Network is unreachable" in message or "ENETUNREACH" in message
    assert "removed" in message
    assert not namespaces_of(config.name)
    assert config.name not in {r.name for r in lab_records()}


def test_a_setting_the_kernel_lacks_fails_cleanly_naming_it() -> None:
    config = parse_config(
        '[hosts.a]\nsysctls = { "net.ipv4.no_such_setting" = 1 }', name=unique_lab_name()
    )
    with pytest.raises(LabStepFailed, match="no setting /proc/sys/net/ipv4/no_such_setting"):
        up(config)
    assert not namespaces_of(config.name)


def test_one_file_twice_under_two_names_never_collides() -> None:
    config = load_config(LABS / "two-hosts.toml", name=unique_lab_name())
    other = load_config(LABS / "two-hosts.toml", name=unique_lab_name())
    first = up(config)
    try:
        with pytest.raises(LabError, match="already up"):
            up(config)
        second = up(other)
        try:
            assert set(first.namespaces).isdisjoint(second.namespaces)
        finally:
            down(second.name)
    finally:
        down(first.name)


def test_down_by_file_and_down_of_nothing() -> None:
    path = LABS / "two-hosts.toml"
    record = up(load_config(path, name=unique_lab_name()))
    report = down(str(path))  # the lab that came from this file
    assert report.name == record.name and len(report.removed) == 2
    with pytest.raises(LabError, match="no lab 'no-such-lab' is up"):
        down("no-such-lab")


async def test_down_stops_what_still_runs_in_the_hosts() -> None:
    record = up(load_config(LABS / "two-hosts.toml", name=unique_lab_name()))
    from ipv6.lab._lab import exec_argv

    proc = subprocess.Popen(exec_argv(record, "a", ["sleep", "60"]))
    try:
        from ipv6.lab import processes_in

        await wait_until(lambda: processes_in(record.hosts["a"]), "sleep to run in host a")
        report = down(record.name)
        assert proc.wait(timeout=10) != 0
        assert proc.pid in report.stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_trio_code_runs_inside_hosts(lab) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        server = b.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        await server.bind(("2001:db8:0:1::2", 0))
        port = server.getsockname()[1]

        async def client() -> bytes:
            sock = trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with sock:
                await sock.sendto(b"hello", ("2001:db8:0:1::2", port))
                with trio.fail_after(5):
                    data, _ = await sock.recvfrom(100)
                return data

        async def echo() -> None:
            data, peer = await server.recvfrom(100)
            assert peer[0] == "2001:db8:0:1::1"
            await server.sendto(data.upper(), peer)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            assert await a.run_trio(client) == b"HELLO"
        server.close()
        names = await a.run_sync(lambda: sorted(os.listdir("/sys/class/net")))
        # A thread inside a namespace still sees the machine's /sys; commands
        # started with exec get their own /sys, as 'ip netns exec' gives.
        assert names == sorted(root_links())
        listed = (await a.run(["ls", "/sys/class/net"])).stdout.decode().split()
        assert sorted(listed) == ["eth0", "lo"]
        assert await a.run_sync(socket.if_nametoindex, "eth0") > 1


async def test_a_cancelled_body_still_takes_the_lab_down(lab) -> None:
    with trio.move_on_after(0.5):
        async with lab("two-hosts") as running:
            name = running.record.name
            assert len(namespaces_of(name)) == 2
            await trio.sleep_forever()
    assert not namespaces_of(name)


def test_exec_passes_the_exit_status_and_reports_a_missing_command() -> None:
    name = unique_lab_name()
    up(load_config(LABS / "two-hosts.toml", name=name))
    try:
        assert run_cli("ipv6", "lab", "exec", name, "a", "--", "sh", "-c", "exit 7").returncode == 7
        missing = run_cli("ipv6", "lab", "exec", name, "a", "--", "no-such-command-x")
        assert missing.returncode == 127
        assert missing.stderr.strip().count("\n") == 0
        assert "command not found" in missing.stderr
        nohost = run_cli("ipv6", "lab", "exec", name, "zz", "--", "true")
        assert nohost.returncode == 1 and "has no host 'zz'" in nohost.stderr
    finally:
        down(name)


def test_without_privilege_one_line_names_the_capability_and_nothing_is_made() -> None:
    setpriv = require_tool("setpriv")
    name = unique_lab_name()
    links = root_links()
    command = [
        setpriv,
        "--bounding-set=-net_admin,-sys_admin",
        "--inh-caps=-net_admin,-sys_admin",
        "--",
        os.sys.executable,  # type: ignore[attr-defined]
        "-m",
        "ipv6",
        "lab",
        "up",
        str(LABS / "lan.toml"),
        "--name",
        name,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 4, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "CAP_NET_ADMIN" in line and "CAP_SYS_ADMIN" in line and "nothing was changed" in line
    assert not namespaces_of(name) and root_links() == links


def test_signals_while_a_lab_comes_up_leave_it_whole_or_gone(figures) -> None:
    """SIGTERM storms at every moment of ``lab up``: the lab is either all there
    (it finished first) or all gone with one line saying so; never half made."""
    import signal
    import time

    outcomes = set()
    for step in range(12):
        name = unique_lab_name()
        up_cmd = subprocess.Popen(
            [sys.executable, "-m", "ipv6", "lab", "up", str(LABS / "lan.toml"), "--name", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.12 + step * 0.02)  # time under test: the signal lands at each step of lab up
        for _ in range(50):  # a storm: the clean-up itself must survive more of them
            with contextlib.suppress(ProcessLookupError):
                up_cmd.send_signal(signal.SIGTERM)
            time.sleep(0.001)  # time under test: the storm's pace
        _, err = up_cmd.communicate(timeout=60)
        made = namespaces_of(name)
        record = {r.name: r for r in lab_records()}.get(name)
        if record is not None and record.status == "up" and len(made) == 4:
            outcomes.add("whole")
            down(name)
        else:
            assert not made and record is None, (up_cmd.returncode, err, made, record)
            if up_cmd.returncode == 130:
                assert err.strip().splitlines() == [
                    f"ipv6 lab up: interrupted by SIGTERM: what was made of lab {name!r} is removed"
                ], err
                outcomes.add("removed")
            else:
                assert up_cmd.returncode == -signal.SIGTERM, (up_cmd.returncode, err)
                outcomes.add("not started")
    assert "removed" in outcomes, outcomes
    figures(
        "ipv6 lab up",
        "50 SIGTERMs at each of 12 moments of bringing the lan lab up",
        count=600,
        seconds=0.0,
        held={
            "answers afterwards": "the lab is whole, or gone with one line",
            "counters": "outcomes: " + ", ".join(sorted(outcomes)),
            "RSS growth": "-",
        },
    )
