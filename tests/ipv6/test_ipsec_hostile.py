"""ipsec6's userspace plane under hostile traffic: host m floods a with packets
that claim to come from b (so a's policy queues every one of them): AHs cut at
every length, bit flips of a packet b signed, then forged ICVs as fast as one
Python sender goes. Nothing ends the service, every packet is counted once,
and a and b still talk through their SAs."""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6

from tests.ipv6.test_ipsec_live import KEY, A, B, ipsec6, protect_both, scapy_sa
from tests.ipv6.test_tunnel_hostile import softnet_drops

pytestmark = pytest.mark.needs_root

A_MAC, B_MAC = "00:10:5a:aa:20:a2", "00:60:97:02:6e:a5"  # configs/lab/link-local.toml


def hostile(seconds: float) -> int:
    """Runs inside m: what it sends to a; how many."""
    rng = random.Random(51)
    signed = bytes(scapy_sa(3000, KEY, 10**6).encrypt(
        IPv6(src=B, dst=A) / UDP(sport=4000, dport=9) / b"signed by b's key"))  # fmt: skip
    header = signed[:40]
    sent = 0
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        where = (A, 0, 0, socket.if_nametoindex("eth0"))

        def send(payload: bytes) -> None:
            nonlocal sent
            packet = bytearray(header + payload)
            packet[4:6] = len(payload).to_bytes(2, "big")  # the kernel checks this much
            packet[6] = 51
            raw.sendto(bytes(packet), where)
            sent += 1

        whole = len(signed) - 40
        for length in range(1400):  # an AH and what follows, cut at every length, or with
            if length != whole:  # junk after (b's packet as it is would be b's, and valid)
                send(signed[40 : 40 + length] + rng.randbytes(max(0, length - whole)))
        for _ in range(5000):  # one bit of b's packet flipped
            flipped = bytearray(signed[40:])
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            send(bytes(flipped))
        forged = bytearray(signed[40:])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # forged ICVs, new sequence numbers
            for _ in range(200):
                forged[8:12] = rng.randbytes(4)
                send(bytes(forged))
    return sent


def counted(shown: dict[str, Any]) -> int:
    """Every packet a's plane dropped, and every one the kernel lost before it."""
    return int(sum(shown["drops"].values()) + sum(shown["kernel"].values()))


async def test_the_plane_counts_a_flood_of_forgeries_and_still_protects(
    lab, tmp_path: Path, figures
) -> None:
    state = tmp_path / "state"
    async with lab("link-local") as running:
        a, b, m = running.host("a"), running.host("b"), running.host("m")
        await protect_both(a, b, state, tmp_path)
        ping = await a.run(["ping", "-c", "1", "-W", "2", f"{B}%eth0"], check=False)
        assert ping.returncode == 0, ping.stdout
        # No neighbour probes between a and b while m floods: a's queue then holds m's
        # packets only, and the counts can be exact.
        for host, address, mac in ((a, B, B_MAC), (b, A, A_MAC)):
            await host.run(["ip", "-6", "neigh", "replace", address, "lladdr", mac, "dev",
                            "eth0", "nud", "permanent"])  # fmt: skip
        before = json.loads((await ipsec6(a, state, "sp", "--json")).stdout)
        pid = before["service"]["pid"]
        rss_before = psutil.Process(pid).memory_info().rss
        backlog_before = softnet_drops()
        began = time.monotonic()
        sent = await m.run_sync(hostile, 8.0)
        took = time.monotonic() - began
        with_time = time.monotonic() + 10
        while True:  # until the queue is drained
            after = json.loads((await ipsec6(a, state, "sp", "--json")).stdout)
            if counted(after) - counted(before) >= sent or time.monotonic() > with_time:
                break
        lost_in_backlog = softnet_drops() - backlog_before
        ping = await a.run(["ping", "-c", "3", "-i", "0.2", f"{B}%eth0"], check=False)
        assert ping.returncode == 0, ping.stdout
        assert psutil.Process(pid).is_running()
        rss_growth = psutil.Process(pid).memory_info().rss - rss_before
        sas = json.loads((await ipsec6(a, state, "sa", "--json")).stdout)["associations"]

    accounted = counted(after) - counted(before)
    assert accounted <= sent <= accounted + lost_in_backlog, (sent, before, after)
    drops = after["drops"]
    assert drops.get("bad_icv", 0) > 10_000 and drops.get("malformed", 0) > 0, drops
    inbound = next(row for row in sas if row["direction"] == "INBOUND")
    assert inbound["sequence"] < 1000  # no forgery moved the replay window
    assert rss_growth < 40 << 20, rss_growth
    figures(
        "ipsec6 userspace plane",
        "packets claiming b's address to a, under Configuration 3: an AH cut at every length "
        "to 1,400 bytes, 5,000 bit flips of a packet signed with b's key, then forged ICVs for "
        "8 s, as fast as one Python sender goes",
        count=sent,
        seconds=took,
        held={
            "answers afterwards": "a and b ping through their SAs",
            "counters": f"dropped by reason + lost in the queue {accounted:,} = sent (backlog "
            f"drops {lost_in_backlog}); the replay window never moved",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )
