"""``ipv6 dualstack serve`` under hostile clients from a second lab host.

The service runs as a user runs it (the command, in host a); the clients are
plain Trio sockets in host b. After each onslaught a normal echo over IPv4
and over IPv6 must still work, and the counters the service prints on
SIGUSR1 must add up to what the clients did.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

PORT = 7007
A4, A6 = "10.0.0.1", "2001:db8:0:1::1"
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class Served:
    def __init__(self, process: trio.Process, out: Path) -> None:
        self.process = process
        self.out = out

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    async def counters(self) -> dict[str, Any]:
        """Ask for the counters (SIGUSR1) and read the answer."""
        before = sum(1 for e in self.events() if e["event"] == "counters")
        self.process.send_signal(signal.SIGUSR1)

        def answered() -> dict[str, Any] | None:
            found = [e for e in self.events() if e["event"] == "counters"]
            return found[-1] if len(found) > before else None

        return await wait_until(answered, "the counters asked for", timeout=10)

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)


@asynccontextmanager
async def serving(host: Any, tmp_path: Path, *options: str) -> AsyncIterator[Served]:
    out = tmp_path / "serve.jsonl"
    argv = [sys.executable, "-m", "ipv6", "dualstack", "serve", str(PORT), "--json", *options]
    with open(out, "wb") as sink, open(tmp_path / "serve.err", "wb") as err:
        process = await trio.lowlevel.open_process(host.argv(argv), stdout=sink, stderr=err)
    try:
        served = Served(process, out)

        def started() -> bool:
            assert process.poll() is None, (tmp_path / "serve.err").read_text()
            return (tmp_path / "serve.err").read_text().startswith("dual-stack echo on")

        await wait_until(started, "the echo service to serve", timeout=15)
        yield served
    finally:
        process.terminate()
        with trio.move_on_after(10):
            await process.wait()
        process.kill()
        await process.wait()
    assert process.returncode == 0, (tmp_path / "serve.err").read_text()


async def echo_once(target: str, payload: bytes = b"still there?") -> bytes:
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(target, PORT) if family else None
        assert stream is not None
        async with stream:
            greeting = b""
            while not greeting.endswith(b"\n"):
                greeting += await stream.receive_some(4096)
            await stream.send_all(payload)
            echoed = b""
            while len(echoed) < len(payload):
                echoed += await stream.receive_some(4096)
    return greeting + echoed


async def read_line(sock: trio.socket.SocketType) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = await sock.recv(4096)
        if not chunk:
            break
        line += chunk
    return line


async def storm_silent() -> dict[str, int]:
    """Phase 1 of 5,000 connection attempts (run inside host b): 1,200
    connections opened and left silent, all at once, until the service closes them."""
    seen = {"greeted": 0, "busy": 0, "reset_sent": 0, "echoed": 0}
    held: list[trio.socket.SocketType] = []

    async def hold() -> None:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(sock)
        await sock.connect((A4, PORT))
        line = await read_line(sock)
        seen["greeted" if line.startswith(b"you are") else "busy"] += 1

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for _ in range(1200):
                nursery.start_soon(hold)
        # The service closes the silent ones after its idle timeout.
        for sock in held:
            assert await sock.recv(10) == b""
            sock.close()
    return seen


async def storm_rest(seen: dict[str, int]) -> dict[str, int]:
    """Phases 2 and 3 (run inside host b)."""

    # Phase 2: 1,900 connections reset as soon as they are made, IPv4 and IPv6,
    # 200 at a time (all at once, more than 1,000 could be open before their
    # resets arrive, and the busy line would be right to answer some).
    resets = trio.CapacityLimiter(200)

    async def reset(target: str) -> None:
        async with resets:
            family = socket.AF_INET6 if ":" in target else socket.AF_INET
            sock = trio.socket.socket(family, socket.SOCK_STREAM)
            await sock.connect((target, PORT))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            sock.close()
            seen["reset_sent"] += 1

    # Phase 3: 1,900 normal echoes, 200 at a time.
    limit = trio.CapacityLimiter(200)

    async def echo(n: int) -> None:
        async with limit:
            payload = f"echo {n}\n".encode() * (1 + n % 50)
            answer = await echo_once(A6 if n % 2 else A4, payload)
            assert answer.endswith(payload)
            seen["echoed"] += 1

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for n in range(1900):
                nursery.start_soon(reset, A6 if n % 2 else A4)
        async with trio.open_nursery() as nursery:
            for n in range(1900):
                nursery.start_soon(echo, n)
    return seen


async def test_5000_attempts_against_a_limit_of_1000(lab, tmp_path: Path, figures) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        options = ("--max-connections", "1000", "--idle-timeout", "5")
        async with serving(a, tmp_path, *options) as served:
            rss_before = served.rss()
            began = time.monotonic()
            seen = await b.run_trio(storm_silent)

            # The phases are apart on the service's side too: every silent
            # connection it closed is no longer counted active.
            async def none_active() -> bool:
                return not (await served.counters())["tcp_active"]

            await wait_until(none_active, "no connection active", timeout=5, every=0.1)
            seen = await b.run_trio(storm_rest, seen)
            took = time.monotonic() - began
            assert seen == {"greeted": 1000, "busy": 200, "reset_sent": 1900, "echoed": 1900}
            # Afterwards a plain echo still works over both families.
            for target in (A4, A6):
                answer = await b.run_trio(echo_once, target)
                assert answer.endswith(b"still there?")
            expected = 1000 + 1900 + 1900 + 2

            async def all_counted() -> dict[str, Any] | None:
                now = await served.counters()
                return now if now["tcp_accepted"] >= expected else None

            # the last connections are counted as they close
            counters = await wait_until(all_counted, f"{expected} accepted", every=0.1)
            rss_growth = served.rss() - rss_before
        assert counters["tcp_accepted"] == 1000 + 1900 + 1900 + 2, counters
        assert counters["tcp_refused"] == 200, counters
        assert counters["tcp_timed_out"] == 1000, counters
        assert counters["tcp_reset"] == 1900, counters
        assert counters["tcp_closed"] == 1900 + 2, counters
        assert counters["tcp_failed"] == 0 and counters["accept_failed"] == 0, counters
        assert counters["tcp_active"] == 0 and counters["tcp_peak"] == 1000, counters
        # 1,000 idle connections at once and 4,800 in all may cost a few MB, not more.
        assert rss_growth < 40 << 20, rss_growth
        figures(
            "ipv6 dualstack serve",
            "TCP attempts against --max-connections 1000: 1,200 held silent, 1,900 reset "
            "as soon as made, 1,900 echoes",
            count=5000,
            seconds=took,
            held={
                "answers afterwards": "IPv4 and IPv6 echo",
                "counters": "exact (1,000 greeted, 200 busy, 1,000 timed out, 1,900 reset)",
                "RSS growth": f"{rss_growth / 2**20:.1f} MB",
            },
        )


async def udp_every_length(target: str) -> dict[str, int]:
    """A datagram of every length the family can carry, each echoed whole."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    largest = 65527 if family == socket.AF_INET6 else 65507
    sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    got = {"sent": 0, "echoed": 0, "wrong": 0}
    junk = os.urandom(largest)
    with sock:
        await sock.connect((target, PORT))
        for length in range(largest + 1):
            await sock.send(junk[:length])
            got["sent"] += 1
            with trio.move_on_after(2):
                back = await sock.recv(65536)
                got["echoed" if back == junk[:length] else "wrong"] += 1
    return got


async def test_udp_datagrams_of_every_length(lab, tmp_path: Path, figures) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        async with serving(a, tmp_path) as served:
            rss_before = served.rss()
            began = time.monotonic()
            results = [await b.run_trio(udp_every_length, t) for t in (A4, A6)]
            took = time.monotonic() - began
            counters = await served.counters()
            rss_growth = served.rss() - rss_before
        for got in results:
            assert got["wrong"] == 0 and got["echoed"] == got["sent"], got
        sent = sum(g["sent"] for g in results)
        assert counters["udp_received"] == sent, counters
        assert counters["udp_replied"] == sent and counters["udp_reply_dropped"] == 0, counters
        assert counters["udp_truncated"] == 0, counters
        assert rss_growth < 20 << 20, rss_growth
        figures(
            "ipv6 dualstack serve",
            "UDP datagrams of every length, 0 to 65,507 bytes over IPv4, 0 to 65,527 over IPv6",
            count=sent,
            seconds=took,
            held={
                "answers afterwards": "every datagram echoed whole",
                "counters": "exact (received = replied = sent)",
                "RSS growth": f"{rss_growth / 2**20:.1f} MB",
            },
        )


async def udp_flood(target: str, seconds: float) -> int:
    """As many small datagrams as one Python sender manages for ``seconds``."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_DGRAM)
    raw.connect((target, PORT))
    payload = b"x" * 64
    sent = 0
    deadline = trio.current_time() + seconds
    with raw:
        while trio.current_time() < deadline:
            for _ in range(1000):
                raw.send(payload)
            sent += 1000
            await trio.lowlevel.checkpoint()
    return sent


def softnet_drops() -> int:
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f)


async def udp_ping(target: str) -> tuple[bytes, int]:
    """The answer to a ping, and how many pings it took: right after a flood the
    socket's queue is still full, so a ping may be dropped there (and counted)."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    with trio.socket.socket(family, socket.SOCK_DGRAM) as sock:
        await sock.connect((target, PORT))
        for attempt in range(1, 6):
            await sock.send(b"ping")
            with trio.move_on_after(1):
                return await sock.recv(100), attempt
    raise AssertionError("five pings after the flood, none answered")


async def test_a_ten_second_udp_flood_with_resets_during_it(lab, tmp_path: Path, figures) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        async with serving(a, tmp_path) as served:
            rss_before = served.rss()
            backlog_before = softnet_drops()
            sent: list[int] = []
            async with trio.open_nursery() as nursery:

                async def flood() -> None:
                    sent.append(await b.run_trio(udp_flood, A4, 10.0))

                async def resets() -> None:  # TCP resets arriving during the flood
                    for n in range(200):
                        await b.run_trio(reset_one, A6 if n % 2 else A4)

                nursery.start_soon(flood)
                nursery.start_soon(resets)
            # A ping after the flood: received, answered, and its arrival reports
            # the socket's drop count up to that moment.
            answer, pings = await b.run_trio(udp_ping, A4)
            assert answer == b"ping"
            counters = await served.counters()
            lost_in_backlog = softnet_drops() - backlog_before
            for target in (A4, A6):
                answer = await b.run_trio(echo_once, target)
                assert answer.endswith(b"still there?")
            rss_growth = served.rss() - rss_before
        offered = sent[0] + pings
        received, dropped = counters["udp_received"], counters["udp_kernel_dropped"]
        assert sent[0] > 100_000, sent  # a real flood, not a trickle
        # Nothing the kernel delivered goes uncounted: each datagram was either
        # received or dropped at the socket's queue (the kernel's count, read
        # with SO_RXQ_OVFL), except any lost before it, in the receive backlog.
        assert received + dropped <= offered <= received + dropped + lost_in_backlog, counters
        assert counters["udp_replied"] + counters["udp_reply_dropped"] == received, counters
        assert counters["udp_failed"] == 0, counters
        assert counters["tcp_reset"] == 200 and counters["tcp_accepted"] == 200, counters
        assert rss_growth < 20 << 20, rss_growth
        figures(
            "ipv6 dualstack serve",
            "a UDP flood of 64-byte datagrams from one Python sender, with 200 TCP resets",
            count=offered,
            seconds=10.0,
            held={
                "answers afterwards": "UDP ping, IPv4 and IPv6 echo",
                "counters": f"received {received:,} + dropped in the socket queue {dropped:,}"
                f" = sent (backlog drops {lost_in_backlog})",
                "RSS growth": f"{rss_growth / 2**20:.1f} MB",
            },
        )


async def reset_one(target: str) -> None:
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    await sock.connect((target, PORT))
    await read_line(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    sock.close()


async def test_serve_goes_on_when_an_interface_goes_and_comes_back(lab, tmp_path: Path) -> None:
    """The service listens on the wildcard address: an interface that is deleted
    and made again (with its address) changes nothing for it."""
    async with lab("two-hosts") as running:
        a = running.host("a")
        async with serving(a, tmp_path) as served:
            for step in ("add", "again"):
                # No dummy driver in every kernel: a veth pair with both ends in host a.
                await a.run(["ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1"])
                await a.run(["ip", "addr", "add", "10.9.9.1/32", "dev", "dum0"])
                await a.run(["ip", "link", "set", "dum0", "up"])
                answer = await a.run_trio(echo_once, "10.9.9.1")
                assert answer.endswith(b"still there?"), step
                await a.run(["ip", "link", "del", "dum0"])
            assert served.process.poll() is None
            counters = await served.counters()
        assert counters["tcp_closed"] == 2 and counters["tcp_failed"] == 0, counters
