"""A multihomed PGM receiver (the seeds' RM_ADD_RECEIVE_IF and RM_DEL_RECEIVE_IF):
a receiver on two networks takes a session that arrives on either, from the
command line (``-i`` twice) and from Python (interfaces added and removed while
the listener runs)."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest
import trio

from tests.mcast.labs import joined

pytestmark = pytest.mark.needs_root

LAB = """
name = "pgm-multihome"
[hosts.s]
[hosts.r]
[[links]]
name = "one"
endpoints = [
  { host = "s", ifname = "eth0", addresses = ["10.9.3.1/24"] },
  { host = "r", ifname = "eth0", addresses = ["10.9.3.2/24"] },
]
[[links]]
name = "two"
endpoints = [
  { host = "s", ifname = "eth1", addresses = ["10.9.4.1/24"] },
  { host = "r", ifname = "eth1", addresses = ["10.9.4.2/24"] },
]
"""
GROUP = "239.192.3.1"


def pgm(*words: str) -> list[str]:
    return [sys.executable, "-m", "mcast", "pgm", *words]


async def test_a_receiver_on_two_networks_takes_the_session_from_the_second(lab, tmp_path) -> None:
    sent, got = tmp_path / "sent.bin", tmp_path / "got.bin"
    sent.write_bytes(os.urandom(300_000))
    async with lab(LAB, text=True) as running:
        outcome = {}

        async def receive() -> None:
            outcome["recv"] = await running.host("r").run(pgm(
                "recv", GROUP, "-p", "7500", "-i", "eth0", "-i", "eth1", "-o", str(got),
                "--timeout", "30", "--json"), check=False)  # fmt: skip

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            for interface in ("eth0", "eth1"):
                await joined(running.host("r"), GROUP, interface=interface)
            outcome["send"] = await running.host("s").run(pgm(
                "send", GROUP, str(sent), "-p", "7500", "-i", "eth1", "--linger", "1"),
                check=False)  # fmt: skip
    assert outcome["send"].returncode == 0, outcome["send"].stderr
    assert outcome["recv"].returncode == 0, outcome["recv"].stderr
    assert got.read_bytes() == sent.read_bytes()
    assert json.loads(outcome["recv"].stdout)["bytes_delivered"] == 300_000


LISTENER = textwrap.dedent("""
    import sys, trio
    from ipaddress import ip_address
    from ipv6 import resolve_interface
    from mcast import McastBadInput
    from mcast.pgm import open_pgm_listener

    async def main():
        eth0, eth1 = resolve_interface("eth0"), resolve_interface("eth1")
        async with open_pgm_listener(ip_address(sys.argv[1]), 7500, eth0) as listener:
            try:
                listener.remove_receive_interface(eth0)
            except McastBadInput as exc:
                print("refused:", exc, flush=True)
            listener.add_receive_interface(eth1)
            listener.remove_receive_interface(eth0)
            print("on", [i.name for i in listener.interfaces], flush=True)
            session = await listener.accept()
            data = b""
            while (message := await session.receive()) is not None:
                data += message
            print("got", len(data), flush=True)

    trio.run(main)
""")


async def test_interfaces_are_added_and_removed_while_the_listener_runs(lab, tmp_path) -> None:
    sent = tmp_path / "sent.bin"
    sent.write_bytes(os.urandom(100_000))
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    async with lab(LAB, text=True) as running:
        outcome = {}

        async def receive() -> None:
            outcome["recv"] = await running.host("r").run([sys.executable, str(script), GROUP],
                                                          check=False)  # fmt: skip

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await joined(running.host("r"), GROUP, interface="eth1")
            outcome["send"] = await running.host("s").run(pgm(
                "send", GROUP, str(sent), "-p", "7500", "-i", "eth1", "--linger", "1"),
                check=False)  # fmt: skip
    out = outcome["recv"].stdout.decode()
    assert outcome["recv"].returncode == 0, outcome["recv"].stderr.decode()
    assert "refused: eth0 (index " in out and "is the only interface PGM to" in out
    assert "on ['eth1']" in out and "got 100000" in out
