"""netsh on real interfaces, in a lab: every verb against the kernel's state,
scripts as transactions, persistence, dump/reset, and the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_root


async def netsh(host, *words: str, stdin: bytes | None = None, state: Path):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6.cli.netsh", *words]
    return await host.run(command, check=False, stdin=stdin)


async def ip(host, *args: str) -> str:
    return str((await host.run(["ip", *args])).stdout.decode())


async def test_every_verb_changes_the_kernel(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        steps = [
            (
                "interface",
                "ipv6",
                "add",
                "address",
                "eth0",
                "2001:db8:5::1/64",
                "validlifetime=1h",
                "preferredlifetime=30m",
            ),
            (
                "int",
                "ipv6",
                "add",
                "route",
                "2001:db8:99::/48",
                "eth0",
                "2001:db8:0:1::2",
                "metric=7",
                "publish=yes",
            ),
            ("int", "ipv6", "add", "neighbors", "eth0", "2001:db8:0:1::2", "02-00-00-00-00-02"),
            ("int", "ipv6", "set", "interface", "eth0", "forwarding=enabled", "mtu=1400"),
            ("int", "ipv6", "set", "global", "defaultcurhoplimit=33"),
            ("int", "ipv6", "add", "address", "eth0", "2001:db8:7::7", "type=anycast"),
            ("int", "ipv4", "add", "address", "eth0", "10.9.9.1", "255.255.255.0"),
        ]
        for words in steps:
            done = await netsh(a, *words, state=tmp_path)
            assert done.returncode == 0, done.stderr
        addr = await ip(a, "-6", "addr", "show", "dev", "eth0")
        assert "2001:db8:5::1/64" in addr and "valid_lft 3" in addr and "preferred_lft 1" in addr
        route = await ip(a, "-6", "route", "show")
        assert "2001:db8:99::/48 via 2001:db8:0:1::2 dev eth0" in route and "metric 7" in route
        assert "02:00:00:00:00:02 PERMANENT" in await ip(a, "-6", "neigh", "show", "dev", "eth0")
        assert "anycast 2001:db8:7::7 dev eth0" in await ip(
            a, "-6", "route", "show", "table", "local"
        )
        assert "10.9.9.1/24" in await ip(a, "-4", "addr", "show", "dev", "eth0")
        sysctls = await a.run(
            [
                "cat",
                "/proc/sys/net/ipv6/conf/eth0/forwarding",
                "/proc/sys/net/ipv6/conf/eth0/mtu",
                "/proc/sys/net/ipv6/conf/default/hop_limit",
            ]
        )
        assert sysctls.stdout.decode().split() == ["1", "1400", "33"]
        shown = json.loads(
            (
                await netsh(a, "int", "ipv6", "show", "route", "eth0", "--json", state=tmp_path)
            ).stdout
        )
        published = [r for r in shown if r["prefix"] == "2001:db8:99::/48"]
        assert published[0]["publish"] == "yes" and published[0]["metric"] == 7
        interfaces = json.loads(
            (await netsh(a, "int", "ipv6", "sh", "int", "--json", state=tmp_path)).stdout
        )
        eth0 = next(i for i in interfaces if i["name"] == "eth0")
        assert eth0["forwarding"] is True and eth0["mtu"] == 1400
        # delete and set
        for words in (
            ("int", "ipv6", "delete", "route", "2001:db8:99::/48", "eth0", "2001:db8:0:1::2"),
            ("int", "ipv6", "delete", "neighbors", "eth0", "2001:db8:0:1::2"),
            ("int", "ipv6", "set", "address", "eth0", "2001:db8:5::1", "validlifetime=2h"),
            ("int", "ipv6", "delete", "address", "eth0", "2001:db8:7::7"),
            ("int", "ipv6", "delete", "destinationcache"),
        ):
            done = await netsh(a, *words, state=tmp_path)
            assert done.returncode == 0, (words, done.stderr)
        assert "2001:db8:99::/48" not in await ip(a, "-6", "route", "show")
        assert "PERMANENT" not in await ip(a, "-6", "neigh", "show", "dev", "eth0")
        assert "valid_lft 7" in await ip(a, "-6", "addr", "show", "dev", "eth0")  # 2 h = 7200 s
        assert "2001:db8:7::7" not in await ip(a, "-6", "route", "show", "table", "local")


async def test_dump_reset_and_running_the_dump_restore_the_same_state(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        script = tmp_path / "setup.txt"
        script.write_text(
            "pushd interface ipv6\n"
            "add address eth0 2001:db8:5::1/64\n"
            "add route 2001:db8:99::/48 eth0 2001:db8:0:1::2 metric=7\n"
            "add neighbors eth0 2001:db8:0:1::9 02-00-00-00-00-09\n"
            "set interface eth0 forwarding=enabled mtu=1400\n"
            "popd\n"
        )
        assert (await netsh(a, "-f", str(script), state=tmp_path)).returncode == 0
        before = (await netsh(a, "interface", "ipv6", "dump", state=tmp_path)).stdout
        dump = tmp_path / "dump.txt"
        dump.write_bytes(before)
        snapshot = [
            await ip(a, "-6", "addr", "show", "dev", "eth0"),
            await ip(a, "-6", "route", "show"),
            await ip(a, "-6", "neigh", "show", "nud", "permanent"),
        ]
        assert (await netsh(a, "interface", "ipv6", "reset", state=tmp_path)).returncode == 0
        assert "2001:db8:5::1" not in await ip(a, "-6", "addr", "show", "dev", "eth0")
        assert (
            "forwarding=enabled"
            not in (await netsh(a, "int", "ipv6", "dump", state=tmp_path)).stdout.decode()
        )
        assert (await netsh(a, "exec", str(dump), state=tmp_path)).returncode == 0
        after = [
            await ip(a, "-6", "addr", "show", "dev", "eth0"),
            await ip(a, "-6", "route", "show"),
            await ip(a, "-6", "neigh", "show", "nud", "permanent"),
        ]

        def addresses(text: str) -> list[str]:
            return sorted(line.split()[1] for line in text.splitlines() if "inet6" in line)

        assert addresses(after[0]) == addresses(snapshot[0])
        assert sorted(after[1].splitlines()) == sorted(snapshot[1].splitlines())
        assert after[2] == snapshot[2]
        again = (await netsh(a, "interface", "ipv6", "dump", state=tmp_path)).stdout
        assert again.decode().splitlines() == before.decode().splitlines()


async def test_a_failing_line_in_a_50_line_script_leaves_the_state_as_it_was(
    lab, tmp_path: Path
) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        lines = [f"interface ipv6 add address eth0 2001:db8:8::{i}/64" for i in range(1, 40)]
        lines += [
            f"interface ipv6 add route 2001:db8:{i}::/48 eth0 2001:db8:0:1::2"
            for i in range(100, 110)
        ]
        lines.append(
            "interface ipv6 add route 2001:db8:ff::/48 eth0 2001:db8:77::1"
        )  # not on-link: refused
        assert len(lines) == 50
        script = tmp_path / "big.txt"
        script.write_text("\n".join(lines) + "\n")
        before = [await ip(a, "-6", "addr", "show"), await ip(a, "-6", "route", "show")]
        done = await netsh(a, "-f", str(script), state=tmp_path)
        err = done.stderr.decode().strip()
        assert done.returncode == 1 and "\n" not in err
        assert "line 50: interface ipv6 add route 2001:db8:ff::/48 eth0 2001:db8:77::1" in err
        assert (
            "No route to host" in err
            or "Network is unreachable" in err
            or "EHOSTUNREACH" in err
            or "ENETUNREACH" in err
        )
        assert "49 changes undone" in err
        after = [await ip(a, "-6", "addr", "show"), await ip(a, "-6", "route", "show")]
        assert after == before


async def test_persistent_changes_are_kept_and_restored(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        assert (
            await netsh(
                a,
                "int",
                "ipv6",
                "add",
                "address",
                "eth0",
                "2001:db8:6::1/64",
                "store=persistent",
                state=tmp_path,
            )
        ).returncode == 0
        assert (
            await netsh(
                a, "int", "ipv6", "add", "address", "eth0", "2001:db8:6::2/64", state=tmp_path
            )
        ).returncode == 0
        # The machine "reboots": the addresses are gone.
        await a.run(["ip", "-6", "addr", "flush", "dev", "eth0", "scope", "global"])
        done = await netsh(a, "int", "ipv6", "restore", state=tmp_path)
        assert done.returncode == 0, done.stderr
        addr = await ip(a, "-6", "addr", "show", "dev", "eth0")
        assert "2001:db8:6::1/64" in addr and "2001:db8:6::2" not in addr
        # Restoring again changes nothing and fails on nothing.
        assert (await netsh(a, "int", "ipv6", "restore", state=tmp_path)).returncode == 0
        # Deleting with store=persistent forgets it.
        await netsh(
            a,
            "int",
            "ipv6",
            "delete",
            "address",
            "eth0",
            "2001:db8:6::1",
            "store=persistent",
            state=tmp_path,
        )
        await netsh(a, "int", "ipv6", "restore", state=tmp_path)
        assert "2001:db8:6::1" not in await ip(a, "-6", "addr", "show", "dev", "eth0")


async def test_the_interactive_shell_has_contexts_and_help(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        session = (
            b"help\ninterface ipv6\nhelp\nadd address eth0 2001:db8:4::1/64\n"
            b"show addresses eth0\n..\n..\nexit\n"
        )
        done = await netsh(a, stdin=session, state=tmp_path)
        out = done.stdout.decode()
        assert done.returncode == 0, done.stderr
        assert "contexts: interface" in out and "commands: add address" in out
        assert "Ok." in out and "2001:db8:4::1" in out
        bad = await netsh(
            a, stdin=b"interface ipv6\nadd address eth9 2001:db8::1\nshow global\n", state=tmp_path
        )
        assert (
            "no interface 'eth9'" in bad.stderr.decode()
            and "DEFAULTCURHOPLIMIT" in bad.stdout.decode()
        )


async def test_a_refusal_inside_a_pipelined_batch_names_its_line_and_undoes_the_rest(
    lab, tmp_path: Path
) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        script = tmp_path / "dup.txt"
        script.write_text(
            "interface ipv6 add address eth0 2001:db8:9::1/64\n"
            "interface ipv6 add route 2001:db8:90::/48 eth0 2001:db8:0:1::2\n"
            "interface ipv6 add address eth0 2001:db8:0:1::1/64\n"  # the lab's own address
            "interface ipv6 add address eth0 2001:db8:9::2/64\n"
        )
        before = [await ip(a, "-6", "addr", "show"), await ip(a, "-6", "route", "show")]
        done = await netsh(a, "-f", str(script), state=tmp_path)
        err = done.stderr.decode()
        assert done.returncode == 1, err
        assert "line 3: interface ipv6 add address eth0 2001:db8:0:1::1/64" in err
        assert "already there" in err and "3 changes undone" in err
        assert [await ip(a, "-6", "addr", "show"), await ip(a, "-6", "route", "show")] == before


def test_without_cap_net_admin_a_change_is_refused_in_one_line_and_show_still_works(
    tmp_path: Path,
) -> None:
    import shutil
    import subprocess

    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    drop = [setpriv, "--bounding-set=-net_admin", "--inh-caps=-net_admin", "--"]
    netsh = [sys.executable, "-m", "ipv6.cli.netsh", "interface", "ipv6"]
    env = {"NETSH_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*drop, *netsh, *words],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    refused = run("add", "address", "lo", "2001:db8:dead::1")
    assert refused.returncode == 4, refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line and "CAP_NET_ADMIN" in line and "Traceback" not in line
    assert "2001:db8:dead::1" not in run("show", "addresses", "lo").stdout
    shown = run("show", "interfaces", "--json")
    assert shown.returncode == 0 and any(row["name"] == "lo" for row in json.loads(shown.stdout))


async def test_ipv4_verbs_and_a_route_that_expires(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        for words in (
            ("int", "ipv4", "add", "address", "eth0", "10.9.9.1", "255.255.255.0"),
            ("int", "ipv4", "add", "route", "10.77.0.0/16", "eth0", "10.0.0.2", "metric=9"),
            ("int", "ipv4", "add", "neighbors", "eth0", "10.0.0.9", "02-00-00-00-00-09"),
            ("int", "ipv4", "set", "interface", "eth0", "forwarding=enabled", "mtu=1400"),
            ("int", "ipv6", "add", "route", "2001:db8:98::/48", "eth0", "validlifetime=10m"),
        ):
            done = await netsh(a, *words, state=tmp_path)
            assert done.returncode == 0, (words, done.stderr)
        assert "10.77.0.0/16 via 10.0.0.2 dev eth0" in await ip(a, "-4", "route", "show")
        assert "02:00:00:00:00:09 PERMANENT" in await ip(a, "-4", "neigh", "show", "dev", "eth0")
        assert "mtu 1400" in await ip(a, "link", "show", "dev", "eth0")
        forwarding = await a.run(["cat", "/proc/sys/net/ipv4/conf/eth0/forwarding"])
        assert forwarding.stdout.decode().strip() == "1"
        expiring = await ip(a, "-6", "route", "show", "2001:db8:98::/48")
        assert "expires 5" in expiring or "expires 6" in expiring  # 600 s, counting down
        shown = await netsh(a, "int", "ipv4", "show", "route", "--json", state=tmp_path)
        rows = json.loads(shown.stdout)
        assert any(r["prefix"] == "10.77.0.0/16" and r["metric"] == 9 for r in rows)
        done = await netsh(
            a, "int", "ipv4", "delete", "address", "eth0", "10.9.9.1", state=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert "10.9.9.1" not in await ip(a, "-4", "addr", "show", "dev", "eth0")


async def kernel_state(host) -> dict[str, object]:
    """What netsh manages, as the kernel reports it to iproute2 (not to the toolkit)."""

    async def j(*args: str) -> list[dict[str, object]]:
        out = (await host.run(["ip", "-j", *args])).stdout
        return json.loads(out) if out.strip() else []

    addresses = sorted(
        (link["ifname"], f"{a['local']}/{a['prefixlen']}")
        for link in await j("-6", "addr", "show")
        for a in link["addr_info"]  # type: ignore[attr-defined]
        if a["scope"] == "global" and link["ifname"] != "lo"
    )
    routes = sorted(
        (r["dst"], r.get("gateway", ""), r.get("dev", ""), r.get("metric", 0))
        for r in await j("-6", "route", "show", "table", "main")
    )
    neighbours = sorted(
        (n["dst"], n["dev"], n.get("lladdr", ""))
        for n in await j("-6", "neigh", "show", "nud", "permanent")
    )
    links = sorted(str(link["ifname"]) for link in await j("link", "show"))
    conf = "/proc/sys/net/ipv6/conf"
    read = ["cat", f"{conf}/eth0/forwarding", f"{conf}/eth0/mtu", f"{conf}/all/forwarding",
            f"{conf}/default/hop_limit"]  # fmt: skip
    sysctls = (await host.run(read)).stdout.split()
    return {"addresses": addresses, "routes": routes, "neighbours": neighbours, "links": links,
            "sysctls": [s.decode() for s in sysctls]}  # fmt: skip


ALTERATIONS = [
    ["ip", "-6", "addr", "add", "fd99::5/64", "dev", "eth0", "nodad"],
    ["ip", "-6", "addr", "del", "fd77::2/64", "dev", "eth0"],
    ["ip", "-6", "route", "add", "fd55::/48", "via", "fd77::9", "dev", "eth0"],
    ["ip", "-6", "route", "del", "fd66::/48", "via", "fd77::8", "dev", "eth0"],
    ["ip", "-6", "route", "replace", "fd66::/48", "via", "fd77::8", "dev", "eth0", "metric", "3"],
    ["ip", "-6", "neigh", "add", "fd77::44", "lladdr", "02:00:00:00:00:44", "dev", "eth0",
     "nud", "permanent"],
    ["ip", "-6", "neigh", "del", "fd77::33", "dev", "eth0"],
    ["sysctl", "-qw", "net.ipv6.conf.eth0.forwarding=0"],
    ["sysctl", "-qw", "net.ipv6.conf.eth0.mtu=1300"],
    ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
    ["sysctl", "-qw", "net.ipv6.conf.default.hop_limit=9"],
]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
async def test_running_a_dump_brings_back_the_dumped_state_after_any_change(
    lab, tmp_path: Path, seed: int
) -> None:
    """The seed's promise: a dump saved to a file restores altered settings. Random
    alterations made with iproute2 and sysctl; the state compared as iproute2 reads it."""
    import random

    rng = random.Random(seed)
    async with lab("two-hosts") as running:
        a = running.host("a")
        setup = tmp_path / "setup.txt"
        setup.write_text(
            "pushd interface ipv6\n"
            "add address eth0 fd77::2/64\n"
            "add route fd66::/48 eth0 fd77::8 metric=7\n"
            "add neighbors eth0 fd77::33 02-00-00-00-00-33\n"
            "set interface eth0 forwarding=enabled mtu=1400\n"
            "set global defaultcurhoplimit=40\n"
            "popd\n"
        )
        assert (await netsh(a, "-f", str(setup), state=tmp_path)).returncode == 0
        dumped = await netsh(a, "interface", "ipv6", "dump", state=tmp_path)
        saved = tmp_path / "saved.txt"
        saved.write_bytes(dumped.stdout)
        wanted = await kernel_state(a)
        for argv in rng.sample(ALTERATIONS, rng.randint(3, len(ALTERATIONS))):
            await a.run(argv, check=False)  # some undo each other: whatever is left
        if seed % 2:  # and changes made with netsh itself, which it remembers: a tunnel too
            for words in (
                ("add", "address", "eth0", "fd98::1/64"),
                ("add", "v6v4tunnel", "tun9", "10.0.0.1", "10.0.0.2", "lab=yes"),
            ):
                made = await netsh(a, "int", "ipv6", *words, state=tmp_path)
                assert made.returncode == 0, made.stderr
        altered = await kernel_state(a)
        assert altered != wanted
        # A dump that cannot be applied (a last line the kernel refuses) changes nothing.
        broken = tmp_path / "broken.txt"
        broken.write_text(saved.read_text() + "interface ipv6 add route fd44::/48 eth0 fd33::1\n")
        refused = await netsh(a, "-f", str(broken), state=tmp_path)
        assert refused.returncode == 1 and b"undone" in refused.stderr, refused.stderr
        assert await kernel_state(a) == altered
        done = await netsh(a, "-f", str(saved), state=tmp_path)
        assert done.returncode == 0, done.stderr
        assert await kernel_state(a) == wanted, ("first", done.stdout)
        # The README's example, on the machine it ran on: dump, then run the dump.
        again = await netsh(a, "-f", str(saved), state=tmp_path)
        assert again.returncode == 0, again.stderr
        assert await kernel_state(a) == wanted


async def test_uninstall_and_install_turn_ipv6_off_and_on(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        conf = "/proc/sys/net/ipv6/conf"
        read = ["cat", f"{conf}/all/disable_ipv6", f"{conf}/default/disable_ipv6",
                f"{conf}/eth0/disable_ipv6"]  # fmt: skip
        done = await netsh(a, "interface", "ipv6", "uninstall", state=tmp_path)
        assert done.returncode == 0, done.stderr
        assert (await a.run(read)).stdout.split() == [b"1", b"1", b"1"]
        assert "inet6" not in await ip(a, "-6", "addr", "show", "dev", "eth0")
        done = await netsh(a, "interface", "ipv6", "install", state=tmp_path)
        assert done.returncode == 0, done.stderr
        assert (await a.run(read)).stdout.split() == [b"0", b"0", b"0"]
        assert "inet6 fe80::" in await ip(a, "-6", "addr", "show", "dev", "eth0")
        reached = await a.run(["ping", "-c", "1", "-W", "3", "ff02::1%eth0"], check=False)
        assert reached.returncode == 0, reached.stdout
