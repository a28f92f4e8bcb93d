"""The tour, on loopback (anywhere) and on a lab (root)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ipv6.capabilities import has
from tests.conftest import netns_names, run_cli


def test_tour_on_loopback() -> None:
    result = run_cli("mcast", "tour", "--loopback")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Working on loopback" in out
    assert "== 1. A lab to work in ==" in out
    assert "127.0.0.1" in out and "::1" in out
    assert "Every pair answered." in out
    assert "== 3. Source filters that filter: SSM and EXCLUDE ==" in out
    assert "232.1.1.1    from 127.0.0.2          0 datagram(s)" in out
    assert "the filters filter." in out
    assert "join 232.9.9.9 from 10.0.1.2 -> ALLOW(232.9.9.9 {10.0.1.2})" in out
    assert "== 5. A stream measured: loss, order, jitter, delay ==" in out
    assert "#1: received 2000, lost 0, duplicates 0, reordered 0" in out
    assert "== 6. Does multicast reach everywhere? A ping matrix ==" in out
    assert "unicast: 3 of 3 answered" in out and "multicast: 3 of 3 answered" in out
    assert "== 7. Multicast across a router: a static route ==" in out
    assert "mcast route add 239.5.5.5 --in eth0 --out eth1" in out
    assert "== 8. A link-local ping needs a zone ==" in out
    assert "fe80::260:8ff:fe52:f9d8" in out and "this host has 2 (eth0, eth1)" in out
    assert "== 9. Dual-stack sockets: what connects to what ==" in out
    assert "sees ::ffff:127.0.0.1" in out and "refused" in out
    assert "AddRoute(prefix=IPv6Network('2001:db8:ad::/48')" in out
    assert "== 10. A service that hostile clients do not end ==" in out
    assert "the third was told:       'busy: 2 connections already" in out
    assert "refused 1 (busy)" in out and "timed out 2" in out
    assert "== 12. Two 6to4 sites over IPv4 (the seeds' Configuration 2) ==" in out
    assert "interface ipv6 add address tun6to4 2002:ac1f:2aef::ac1f:2aef" in out
    assert "(claims 172.30.7.11): inner_src_6to4_mismatch" in out
    assert "== 13. IPsec between two hosts (the seeds' Configuration 3) ==" in out
    assert "a's echo request to b: protected" in out and "dropped, unprotected" in out
    assert "== 14. A file to a group, reliably: PGM ==" in out
    assert "300 delivered in order" in out and "repairs, all whole" in out
    assert "== 15. An IPv6-only network: NAT64, DNS64 and a CLAT ==" in out
    assert "becomes   203.0.113.8:5353 -> 198.51.100.10:53" in out
    assert "-> [2001:db8:64::10]:5353" in out
    assert out.rstrip().endswith("Tour done.")


@pytest.mark.needs_root
def test_tour_on_a_lab_as_root() -> None:
    before = netns_names()
    tour = subprocess.Popen(
        [sys.executable, "-m", "mcast", "tour"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = tour.communicate(timeout=300)
    assert tour.returncode == 0, out + err
    assert "Running as root: building lab" in out
    for address in ("10.0.1.3", "2001:db8:0:2::3"):
        assert address in out
    # six ordered pairs of three hosts, over two families, each answered
    # and the two replies of the link-local ping (scene 15's pings are counted apart)
    assert out.split("== 15.")[0].count(" ms\n") == 12 + 2
    assert "NO ANSWER" not in out
    assert "232.1.1.1    from 10.0.1.3           0 datagram(s)" in out
    assert "ff3e::1:1    INCLUDE  2001:db8:0:2::2" in out
    assert "== 4. A join watched on the wire ==" in out
    assert "10.0.1.2:" in out and "-> 239.2.2.2 #1: received 2000, lost 0" in out
    assert "multicast ping matrix, group 232.43.211.234 (ssm)" in out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "multicast ping matrix" in line)
    grid = lines[at + 2 : at + 5]  # after the column heads: a row per receiving host
    assert [line.split()[0] for line in grid] == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert out.count("u 0%, m 0%") == 6
    assert "m1 receives 0 of 3 datagrams sent with TTL 5" in out
    assert "m1 receives 3 of 3, with TTL [4]" in out
    assert not [line for line in grid if "LOST" in line or "no unicast" in line]
    assert "IGMPv3 report from 10.0.1.1: ALLOW(232.9.9.9 {10.0.1.2})" in out
    assert "IGMPv3 report from 10.0.1.1: BLOCK(239.9.9.9 {10.0.1.3})" in out
    assert "2 transmitted, 2 received" in out and "say which, e.g." in out
    assert "the filters filter." in out
    assert "metric=5" in out and "nothing is left half-applied" in out
    assert "After undo.txt, eth0 holds only what the lab gave it." in out
    assert "3 packets transmitted, 3 received, 0% packet loss" in out
    # The plane this kernel has: sit, else eBPF (here), else userspace (the probe says).
    plane = "kernel" if has("sit") else "ebpf" if has("ebpf_tc") else "userspace"
    assert f"tun6to4: 6to4 on the {plane} plane" in out
    assert "Both gateways are back as they were" in out
    assert "a$ ipsec6 a test" in out and "active: 2 policies, 2 SAs" in out
    assert "dropped: unprotected 1" in out and "a$ ipsec6 d type=sp 2" in out
    assert "b: exit 0, 2,000,000 octets" in out and "c: exit 0, 2,000,000 octets" in out
    assert out.count("repairs, the same file") == 2
    assert "parity packets sent" in out
    lossy = next(line for line in out.splitlines() if line.strip().startswith("c: exit 0"))
    assert int(lossy.split(" NAKs, ")[1].split()[0]) > 0, lossy  # rebuilt from parity
    assert "h6$ dig +short AAAA server.lab.example" in out and "64:ff9b:1::c633:640a" in out
    assert "(PREF64 in a router advertisement (RFC 8781))" in out
    assert out.split("== 15.")[1].count("2 packets transmitted, 2 received, 0% packet loss") == 2
    assert "nat64: NAT64, prefix 64:ff9b:1::/96, pool 203.0.113.0/28, running" in out
    assert "is down again" in out
    # The tour's labs are named after its process (tour<pid>, tour6<pid>, tourR<pid>): none is
    # left. Namespaces anyone else made meanwhile are not this test's business.
    mine = (
        f"tour{tour.pid % 100000}-", f"tour6{tour.pid % 10000}-", f"tourR{tour.pid % 10000}-",
        f"tour64{tour.pid % 10000}-",
    )  # fmt: skip
    assert not {n for n in netns_names() - before if n.startswith(mine)}


@pytest.mark.needs_root
def test_tour_without_privilege_falls_back_to_loopback_and_says_why() -> None:
    import os
    import shutil
    import subprocess
    import sys

    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    result = subprocess.run(
        [
            setpriv,
            "--bounding-set=-net_admin,-sys_admin",
            "--",
            sys.executable,
            "-m",
            "mcast",
            "tour",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Not running as root (missing CAP_NET_ADMIN and CAP_SYS_ADMIN)" in result.stdout
    assert "Every pair answered." in result.stdout
    assert "the filters filter." in result.stdout


def _programs_the_scenes_run() -> dict[str, set[str]]:
    """program -> the tour modules that run it: the first word of every command line a
    scene gives a lab host to run (``host.run([...])``, ``host.argv([...])``, a local
    ``run(host, "prog", ...)``), read from the scenes' source, not from their own lists."""
    import ast
    from pathlib import Path

    found: dict[str, set[str]] = {}
    for path in sorted((Path(__file__).parents[2] / "mcast" / "tour").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in ("run", "argv", "open_process", "run_process"):
                continue
            for arg in node.args[:2]:
                first = arg.elts[0] if isinstance(arg, ast.List) and arg.elts else arg
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.setdefault(first.value, set()).add(path.name)
    return found


def test_scripts_tour_installs_every_program_the_scenes_run() -> None:
    from pathlib import Path

    from mcast.tour import PROGRAMS, _scenes

    script = (Path(__file__).parents[2] / "scripts" / "tour").read_text()
    (install,) = [line for line in script.splitlines() if line.startswith("apt_install ")]
    installed = set(install.split()[1:])
    run = _programs_the_scenes_run()
    assert {"ping", "dig", "iptables"} <= run.keys()  # the reading finds them
    for program, where in run.items():
        assert program in PROGRAMS, f"{sorted(where)} run {program}: add it to tour.PROGRAMS"
    for scene in _scenes():
        assert set(scene.programs) <= PROGRAMS.keys(), scene.title
    for program, package in PROGRAMS.items():
        assert package in installed, f"scripts/tour does not install {package} ({program})"


def test_a_scene_the_host_cannot_play_says_why_in_one_line(monkeypatch) -> None:
    from mcast.tour import PROGRAMS, Scene

    async def play(stage) -> bool:
        raise AssertionError("not played")

    monkeypatch.setenv("TOOLKIT_PRETEND_ABSENT", "sit,tun")
    scene = Scene("tunnels", play, features=(("sit", "tun"),))
    why = scene.lacks()
    assert why is not None and "CONFIG_IPV6_SIT" in why and "CONFIG_TUN" in why
    missing = Scene("dns", play, programs=("no-such-program-here",))
    monkeypatch.setitem(PROGRAMS, "no-such-program-here", "nope")
    assert "not installed" in (missing.lacks() or "")
