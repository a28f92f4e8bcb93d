"""State belongs to one namespace's life. The kernel gives a deleted network
namespace's inode to a later one; the toolkit's state files are named by the
inode, so a new namespace must not inherit what an old one left (a
translator's registry, ipsec6's active lists), and ``ipv6 lab down`` removes
its hosts' files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipv6.lab._kernel import remove_namespaces
from tests.conftest import RUN_PREFIX

pytestmark = pytest.mark.needs_root

ADD = ["nat64", "add", "t64", "--prefix", "64:ff9b:1::/96", "--pool", "203.0.113.0/28"]


def inode_of(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def make(name: str) -> int:
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    return inode_of(name)


def ipv6_in(name: str, state: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", name, sys.executable, "-m", "ipv6", *words],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "NETSH_STATE_DIR": str(state)},
    )  # fmt: skip


def one_with_inode(name: str, inode: int) -> bool:
    """Make namespace ``name`` until it gets ``inode`` (the kernel frees a deleted
    namespace's inode once its cleanup has run); False if it never does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if make(name) == inode:
            return True
        remove_namespaces([name])
        time.sleep(0.05)  # a retry (each try makes a namespace), not a wait for a state
    return False


def test_a_new_namespace_with_an_old_inode_starts_with_no_state(tmp_path: Path) -> None:
    first, second = f"{RUN_PREFIX}sid1", f"{RUN_PREFIX}sid2"
    try:
        inode = make(first)
        done = ipv6_in(first, tmp_path, *ADD)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / f"tunnels-netns-{inode}.json").exists()
        # As 'ip netns del' leaves it: the processes stopped, the namespace gone, its
        # files left behind (not through 'ipv6 lab down', which removes them).
        subprocess.run(["sh", "-c", f"ip netns pids {first} | xargs -r kill -9"], check=True)
        subprocess.run(["ip", "netns", "del", first], check=True)
        assert (tmp_path / f"tunnels-netns-{inode}.json").exists()
        assert one_with_inode(second, inode), "the kernel never gave the inode out again"
        # The same translator in the new namespace: not refused as already there,
        # and its service holds only its own prefix.
        done = ipv6_in(second, tmp_path, *ADD)
        assert done.returncode == 0, done.stderr
        status = ipv6_in(second, tmp_path, "nat64", "status")
        assert status.returncode == 0 and status.stdout.count("running") == 1, status.stdout
        log = (tmp_path / f"tunnels-netns-{inode}.log").read_text()
        assert log.count("started") == 1, log  # the first namespace's log went too
    finally:
        remove_namespaces([n for n in (first, second) if os.path.exists(f"/run/netns/{n}")])


async def test_lab_down_removes_its_hosts_state(lab, tmp_path: Path) -> None:
    state = Path(os.environ.get("NETSH_STATE_DIR", "/var/lib/mcast-ipv6-toolkit/netsh"))
    async with lab("two-hosts") as running:
        a = running.host("a")
        inode = os.stat(f"/run/netns/{a.namespace}").st_ino
        done = await a.run([sys.executable, "-m", "ipv6.cli.netsh", "interface", "ipv6", "add",
                            "address", "eth0", "2001:db8:9::1/64"], check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert [p.name for p in state.glob(f"*netns-{inode}.json")]
    assert not list(state.glob(f"*netns-{inode}*")), "lab down left the host's state"
