"""``mcast join`` under hostile senders from a second lab host: datagrams of every
length, a 10 s flood, and its interface deleted."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

GROUP, PORT = "239.7.7.7", 5000


def _sender() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.0.0.2"))
    return sock


def send_all(seconds: float) -> int:
    """Every UDP length IPv4 carries, then small datagrams for ``seconds``."""
    junk = os.urandom(65507)
    sent = 0
    with _sender() as sock:
        for length in range(65508):
            sock.sendto(junk[:length], (GROUP, PORT))
            sent += 1
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(500):
                sock.sendto(b"f" * 64, (GROUP, PORT))
            sent += 500
    return sent


def send_marker() -> None:
    """The last datagram, once the flood is taken in: it carries the final drop count."""
    with _sender() as sock:
        sock.sendto(b"marker", (GROUP, PORT))


async def start_join(host: Any, tmp_path: Path, *extra: str) -> tuple[trio.Process, Path, Path]:
    out, err = tmp_path / "out", tmp_path / "err"
    argv = host.argv(
        [
            sys.executable,
            "-m",
            "mcast",
            "join",
            GROUP,
            "-p",
            str(PORT),
            "-i",
            "eth0",
            "--each",
            *extra,
        ]
    )
    with open(out, "wb") as o, open(err, "wb") as e:
        process = await trio.lowlevel.open_process(argv, stdout=o, stderr=e)

    def joined() -> bool:
        assert process.poll() is None, err.read_text()
        return "joined" in err.read_text()

    await wait_until(joined, "mcast join to join", timeout=15)
    return process, out, err


def counted(line: str) -> tuple[int, int]:
    match = re.search(r"received (\d+) datagrams(?:, the kernel dropped (\d+))?", line)
    assert match, line
    return int(match.group(1)), int(match.group(2) or 0)


async def test_join_counts_every_datagram_of_every_length_and_a_flood(
    lab, tmp_path: Path, figures
) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        join, out, err = await start_join(a, tmp_path, "--json")
        rss_before = psutil.Process(join.pid).memory_info().rss
        began = time.monotonic()
        sent = await b.run_sync(send_all, 10.0)
        took = time.monotonic() - began
        # The flood taken in (what is printed stops growing), then the marker.
        size = -1
        while (now := out.stat().st_size) != size:
            size = now
            await trio.sleep(0.3)  # time under test: a quiet moment, nothing printed meanwhile
        await b.run_sync(send_marker)
        sent += 1

        def marker_printed() -> bool:  # the marker is the last line printed
            text = out.read_text()
            return text.rstrip().endswith('"truncated": false}') and '"length": 6,' in text[-300:]

        await wait_until(marker_printed, "the marker printed", every=0.2)
        join.send_signal(signal.SIGUSR1)
        await wait_until(lambda: "received" in err.read_text(), "the counters asked for",
                         timeout=10)  # fmt: skip
        rss_growth = psutil.Process(join.pid).memory_info().rss - rss_before
        join.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            code = await join.wait()
    assert code == 130, err.read_text()
    lines = err.read_text().splitlines()
    received, dropped = counted([x for x in lines if x.startswith("received")][-1])
    printed = len(out.read_text().splitlines())
    assert received == printed, (received, printed)
    # Every datagram was printed or counted as dropped by the kernel (the marker,
    # sent after a pause, carries the final count): nothing went missing unseen.
    assert received + dropped == sent, (received, dropped, sent)
    assert "Traceback" not in err.read_text()
    assert rss_growth < 40 << 20, rss_growth
    figures(
        "mcast join",
        "UDP to the joined group: every length 0 to 65,507 bytes, then 64-byte datagrams "
        "for 10 s, as fast as one Python sender goes",
        count=sent,
        seconds=took,
        held={
            "answers afterwards": "the marker sent last is printed",
            "counters": f"printed {received:,} + dropped in the socket queue {dropped:,} "
            "= sent, exactly",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )


async def test_join_ends_with_one_line_when_its_interface_goes(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        join, _out, err = await start_join(a, tmp_path)
        await a.run(["ip", "link", "del", "eth0"])
        with trio.fail_after(10):
            code = await join.wait()
    text = err.read_text()
    assert code == 1, text
    assert text.splitlines()[-1] == (
        "mcast join: interface eth0 is gone (and its memberships with it)"
    ), text
