"""``mcast join`` measures test streams on a LAN of namespaces: a test sender in
another host sends chosen patterns (gaps, duplicates, reordering, a chosen send
time), in the toolkit's header and in iperf2's, and the summary reports exactly
those numbers. The patterns' numbers are worked out by hand, here."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
import trio

from tests.mcast.labs import joined, output_while, udp_bound

GROUP4, PORT = "239.1.4.4", 6400
A4, B4, C4 = "10.0.1.1", "10.0.1.2", "10.0.1.3"

# Sends ``order`` (sequence numbers) to the group, each stamped ``late_ms`` in the past.
SENDER = """
import socket, sys, time
sys.path.insert(0, {root!r})
from mcast.streams._streamheader import encode_iperf2, encode_toolkit
fmt, group, port, stream, late_ms, order = {args!r}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton({source!r}))
for sequence in order:
    sent = time.time_ns() - late_ms * 1_000_000
    if fmt == "toolkit":
        payload = encode_toolkit(stream, sequence, sent, 100)
    else:
        payload = encode_iperf2(sequence, sent, 100)
    s.sendto(payload, (group, port))
    time.sleep(0.01)  # time under test: datagrams paced 10 ms apart
"""


async def send(
    host: Any, source: str, fmt: str, *, stream: int, late_ms: int, order: list[int]
) -> None:
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    script = SENDER.format(
        root=root, source=source, args=(fmt, GROUP4, PORT, stream, late_ms, order)
    )
    done = await host.run([sys.executable, "-c", script], check=False)
    assert done.returncode == 0, done.stderr


PRINTED: list[dict[str, Any]] = []


async def join_and_send(
    running: Any, extra: list[str], senders, *, group: str = GROUP4, seconds: str = "4"
) -> tuple[int, dict[str, Any]]:
    """``mcast join --json`` in host a while ``senders`` run; its exit status and summary
    (every line it printed is in :data:`PRINTED`, for the tests that read more)."""
    a = running.host("a")
    argv = [sys.executable, "-m", "mcast", "join", group, "-p", str(PORT), "-i", "eth0",
            "-t", seconds, "--json", *extra]  # fmt: skip

    async def send_all() -> None:
        await joined(a, group)  # under load the command may take more than a second to join
        for sender in senders:
            await sender()

    code, out = await output_while(a, argv, send_all)
    lines = [json.loads(line) for line in out.decode().splitlines()]  # one object a line
    PRINTED[:] = lines
    (summary,) = [x for x in lines if x["event"] == "summary"]
    return int(code), summary


async def test_join_reports_exactly_the_patterns_sent(lab) -> None:
    async with lab("lan") as running:
        b, c = running.host("b"), running.host("c")
        code, summary = await join_and_send(
            running,
            [],
            [
                # toolkit stream 7: 6 is missing, 3 comes late, 5 twice; sent 5 ms "ago".
                lambda: send(b, B4, "toolkit", stream=7, late_ms=5, order=[0, 1, 2, 4, 5, 3, 5, 7]),
                # iperf2 from c: 2 missing, then its FIN (negative), which is not data.
                lambda: send(c, C4, "iperf2", stream=0, late_ms=0, order=[0, 1, 3, -4]),
            ],
        )
    assert code == 0
    by_source = {s["source"]: s for s in summary["streams"]}
    toolkit, iperf2 = by_source[B4], by_source[C4]
    assert toolkit["stream"] == 7 and toolkit["format"] == "toolkit"
    numbers = ("received", "lost", "duplicates", "reordered")
    assert [toolkit[k] for k in numbers] == [7, 1, 1, 1]
    assert 5.0 <= toolkit["delay_ms"]["min"] <= toolkit["delay_ms"]["max"] < 100.0
    assert 0 < toolkit["first_after_join_ms"] < 4000
    assert [iperf2[k] for k in numbers] == [3, 1, 0, 0] and iperf2["format"] == "iperf2"
    assert summary["kernel_drops"] == 0


async def test_an_excluded_source_has_no_stream_and_max_loss_sets_the_exit_status(lab) -> None:
    async with lab("lan") as running:
        b, c = running.host("b"), running.host("c")
        code, summary = await join_and_send(
            running,
            ["--exclude", C4, "--max-loss", "10", "--report-interval", "1"],
            [
                lambda: send(
                    b, B4, "toolkit", stream=1, late_ms=0, order=[0, 1, 2, 3, 8, 9]
                ),  # 4..7 lost: 40 %
                lambda: send(c, C4, "toolkit", stream=1, late_ms=0, order=[0, 1, 2]),
            ],
        )
    assert [s["source"] for s in summary["streams"]] == [B4]
    assert summary["streams"][0]["lost"] == 4
    # The four never left b: none was this host's kernel's drop, all the network's.
    assert summary["kernel_drops"] == 0 and summary["network_lost_at_least"] == 4
    # The buffer for bursts: 16 MiB asked, past rmem_max as root (the kernel counts twice).
    assert summary["receive_buffer"] == 2 * (16 << 20)
    assert code == 5
    intervals = [x for x in PRINTED if x["event"] == "interval"]
    assert len(intervals) >= 2  # a report a second over four seconds
    assert [s["source"] for s in intervals[-1]["streams"]] == [B4]


async def test_mcast_send_is_measured_by_mcast_join(lab) -> None:
    async with lab("lan") as running:
        b = running.host("b")

        async def mcast_send() -> None:
            argv = [sys.executable, "-m", "mcast", "send", GROUP4, "-p", str(PORT), "-i", "eth0",
                    "-c", "20", "--interval", "0.01", "--size", "200",
                    "--stream", "3", "-q"]  # fmt: skip
            done = await b.run(argv, check=False)
            assert done.returncode == 0, done.stderr

        code, summary = await join_and_send(running, [], [mcast_send])
    assert code == 0
    (stream,) = summary["streams"]
    assert (stream["source"], stream["stream"], stream["format"]) == (B4, 3, "toolkit")
    assert (stream["received"], stream["lost"], stream["bytes"]) == (20, 0, 20 * 200)


B6 = "2001:db8:0:2::2"


@pytest.mark.parametrize(
    ("group", "source"),
    [
        pytest.param(GROUP4, None, id="ipv4-asm"),
        pytest.param("232.1.4.4", B4, id="ipv4-ssm"),
        pytest.param("ff1e::4:4", None, id="ipv6-asm"),
        pytest.param("ff3e::4:4", B6, id="ipv6-ssm"),
    ],
)
async def test_iperf2_both_ways(lab, group: str, source: str | None) -> None:
    """iperf2's client measured by mcast join, and mcast send measured by iperf2's
    server, for each family, any-source and source-specific."""
    v6 = ":" in group
    async with lab("lan") as running:
        b = running.host("b")

        async def iperf_client() -> None:
            done = await b.run(
                ["iperf", "-c", group, "-u", "-p", str(PORT), "-l", "100", "-b", "1M",
                 "-t", "1", "-T", "1", *(["-V", "-B", B6] if v6 else [])], check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            sent_by_iperf.append(int(re.findall(rb"Sent (\d+) datagrams", done.stdout)[0]))

        sent_by_iperf: list[int] = []
        only = ["-s", source] if source else []
        code, summary = await join_and_send(
            running, ["--format", "iperf2", *only], [iperf_client], group=group
        )
        assert code == 0
        (stream,) = summary["streams"]
        assert (stream["group"], stream["source"]) == (group, B6 if v6 else B4)
        # iperf2 2.1.8 says it sent one more than it put on the wire, its FIN included
        # (the receive benchmark finds the same): every datagram it put there arrived.
        assert stream["received"] + 1 == sent_by_iperf[0] - 1
        assert (stream["lost"], stream["duplicates"], stream["reordered"]) == (0, 0, 0)

        # And the other way: iperf2's server counts what mcast send sent, FIN included.
        server = [*(["-V"] if v6 else []), "-B", group, *(["-H", source] if source else [])]
        send = [group, *(["--source", source] if source else [])]
        lost, total = await iperf2_server_counts(running, server, send)
    assert (lost, total) == (0, 2000)


async def iperf2_server_counts(running: Any, server: list[str], send: list[str]) -> tuple[int, int]:
    """Lost and total of an iperf2 server in host a, for 2,000 datagrams that
    ``mcast send --format iperf2`` sends from host b."""
    a, b = running.host("a"), running.host("b")
    process = await trio.lowlevel.open_process(
        a.argv(["iperf", "-s", "-u", "-p", str(PORT), *server]), stdout=-1, stderr=-1
    )
    try:
        await udp_bound(a, PORT)
        await joined(a, server[server.index("-B") + 1])
        sent = await b.run(
            [sys.executable, "-m", "mcast", "send", *send, "-p", str(PORT), "-i", "eth0",
             "--format", "iperf2", "--rate", "2000", "--count", "2000", "--size", "100",
             "-q", "--json"], check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["sent"] == 2000
        report = b""
        with trio.fail_after(10):
            while b"Lost/Total" not in report or report.count(b"\n") < 8:
                report += await process.stdout.receive_some(65536)  # type: ignore[union-attr]
    finally:
        process.kill()
        await process.wait()
    lost, total = map(int, re.findall(rb"(\d+)/(\d+) \(", report)[-1])
    return lost, total


async def test_ipv6_ssm_streams_both_from_mcast_send_and_from_iperf2(lab) -> None:
    group6, b6, c6 = "ff3e::4:5", B6, "2001:db8:0:2::3"
    async with lab("lan") as running:
        b, c = running.host("b"), running.host("c")

        async def mcast_send() -> None:
            sent = await b.run(
                [sys.executable, "-m", "mcast", "send", group6, "-p", str(PORT), "-i", "eth0",
                 "--source", b6, "--rate", "1000", "--count", "500", "--size", "64", "-q"],
                check=False,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr

        async def iperf_client() -> None:
            iperf = await c.run(
                ["iperf", "-c", group6, "-V", "-u", "-p", str(PORT), "-l", "100", "-b", "400k",
                 "-t", "1", "-T", "1", "-B", c6], check=False,
            )  # fmt: skip
            assert iperf.returncode == 0, iperf.stdout + iperf.stderr

        _, summary = await join_and_send(
            running,
            ["-s", b6, "-s", c6, "-q"],
            [mcast_send, iperf_client],
            group=group6,
            seconds="5",
        )
    assert [summary] == PRINTED  # --quiet: the summary only
    by_source = {s["source"]: s for s in summary["streams"]}
    assert by_source[b6]["format"] == "toolkit" and by_source[b6]["received"] == 500
    assert by_source[c6]["format"] == "iperf2" and by_source[c6]["received"] > 400
    assert all(s["lost"] == 0 and s["group"] == group6 for s in summary["streams"])
