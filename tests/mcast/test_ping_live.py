"""``mcast ping`` on a LAN of namespaces, against Debian's ssmping tools both ways:
our client against ssmpingd, ssmping and asmping against our responder, what
tshark sees on the wire, and loss told truthfully when multicast is blocked."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from tests.mcast.labs import udp_bound
from tests.waiting import DEADLINE, stderr_says, wait_until

pytestmark = pytest.mark.needs_root

A4, B4 = "10.0.1.1", "10.0.1.2"
A6, B6 = "2001:db8:0:2::1", "2001:db8:0:2::2"


@asynccontextmanager
async def running_in(host: Any, argv: list[str]) -> AsyncIterator[Any]:
    """``argv`` running in ``host`` for the block (a responder, bound to its port
    before the block starts; a capture, whose block waits for it)."""
    process = await trio.lowlevel.open_process(host.argv(argv), stdout=-1, stderr=-1)
    try:
        if argv[0] != "tshark":  # a responder: its port (RFC 6450), both families for ours
            await udp_bound(host, 4321, 1 if argv[0] == "ssmpingd" else 2)
        yield process
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def capturing(tshark: Any) -> None:
    """Until tshark says it captures (under load it may take seconds to start)."""
    await stderr_says(tshark.stderr, b"Capturing on", "tshark")


async def everything(stream: Any) -> bytes:
    """What a stream gives until its end (the process was ended)."""
    out = b""
    while chunk := await stream.receive_some(65536):
        out += chunk
    return out


async def rows(stream: Any, count: int) -> bytes:
    """What a stream gives until it has given ``count`` whole lines."""
    out = b""
    with trio.fail_after(DEADLINE):
        while out.count(b"\n") < count:
            chunk = await stream.receive_some(65536)
            assert chunk, f"the stream ended after {len(out.splitlines())} of {count} lines"
            out += chunk
    return out


async def mcast_ping(host: Any, *args: str) -> tuple[int, list[dict[str, Any]]]:
    done = await host.run(
        [sys.executable, "-m", "mcast", "ping", *args, "--interval", "0.2", "--json"],
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return done.returncode, lines


def summary_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (summary,) = [x for x in lines if x["event"] == "summary"]
    return summary


@pytest.mark.parametrize(
    ("responder", "mode"),
    [
        (B4, []),
        (B6, []),
        (B4, ["--asm", "--group", "239.1.2.234"]),
        (B6, ["--asm", "--group", "ff1e::4321:1234"]),
    ],
    ids=["ssm-ipv4", "ssm-ipv6", "asm-ipv4", "asm-ipv6"],
)
async def test_mcast_ping_against_ssmpingd(lab, responder: str, mode: list[str]) -> None:
    async with lab("lan") as running:
        a, b = running.host("a"), running.host("b")
        async with running_in(b, ["ssmpingd"]):
            code, lines = await mcast_ping(a, responder, "-c", "4", *mode)
    summary = summary_of(lines)
    assert code == 0, lines
    assert (summary["unicast"]["received"], summary["multicast"]["received"]) == (4, 4)
    assert (summary["unicast"]["distance"], summary["multicast"]["distance"]) == (0, 0)
    assert summary["server_version"].startswith("0.9.1")  # ssmpingd said who it is
    replies = [x for x in lines if x["event"] == "reply"]
    assert sorted((r["path"], r["sequence"]) for r in replies) == sorted(
        (path, n) for path in ("unicast", "multicast") for n in range(1, 5)
    )
    assert all(r["hops_left"] == 64 and r["source"] == responder for r in replies)


@pytest.mark.parametrize(
    ("client", "responder"),
    [
        (["ssmping", "-4", "-c", "3", B4], B4),
        (["ssmping", "-6", "-c", "3", B6], B6),
        (["asmping", "-4", "-c", "3", "239.1.2.234", B4], B4),
        (["asmping", "-6", "-c", "3", "ff1e::4321:1234", B6], B6),
    ],
    ids=["ssmping-ipv4", "ssmping-ipv6", "asmping-ipv4", "asmping-ipv6"],
)
async def test_debians_clients_against_our_responder(lab, client, responder) -> None:
    async with lab("lan") as running:
        a, b = running.host("a"), running.host("b")
        async with running_in(
            b, [sys.executable, "-m", "mcast", "ping", "--serve", "--json"]
        ) as served:
            done = await a.run(client, check=False)
        answered = (await served.stdout.receive_some(65536)).decode()
    out = done.stdout.decode()
    for path in ("unicast", "multicast"):
        sequences = re.findall(rf"{path} from {re.escape(responder)}, seq=(\d+) dist=0", out)
        assert sorted(map(int, sequences)) == [1, 2, 3], out
    requests = [json.loads(x) for x in answered.splitlines() if '"request"' in x]
    assert len(requests) == 3 and {r["client"] for r in requests} == {
        A4 if ":" not in responder else A6
    }


@pytest.mark.parametrize(
    ("responder", "group", "fields"),
    [
        (B4, "232.43.211.234", ["ip.dst", "ip.ttl"]),
        (B6, "ff3e::4321:1234", ["ipv6.dst", "ipv6.hlim"]),
    ],
    ids=["ipv4", "ipv6"],
)
async def test_the_wire_agrees_with_what_mcast_ping_reports(lab, responder, group, fields) -> None:
    """tshark in host a decodes the replies: their sequence numbers (the option
    after the client id), source, hop limit and destination."""
    async with lab("lan") as running:
        a, b = running.host("a"), running.host("b")
        columns = [x for f in [*fields, "udp.payload"] for x in ("-e", f)]
        capture = ["tshark", "-i", "eth0", "-l", "-f", f"udp and src host {responder}",
                   "-T", "fields", *columns]  # fmt: skip
        async with (
            running_in(b, [sys.executable, "-m", "mcast", "ping", "--serve"]),
            running_in(a, capture) as tshark,
        ):
            await capturing(tshark)
            code, lines = await mcast_ping(a, responder, "-c", "3")
            captured = await rows(tshark.stdout, 6)  # three replies, unicast and multicast
        wire = (captured + await everything(tshark.stdout)).decode()
    assert code == 0
    seen = set()
    for row in wire.splitlines():
        destination, hops, payload = row.split("\t")
        data = bytes.fromhex(payload.replace(":", ""))
        assert data[0] == ord("A")  # a reply
        # Client id: type 1, length 4 at offset 1; sequence: type 2, length 4 at offset 9.
        assert data[9:13] == bytes.fromhex("00020004")
        sequence = int.from_bytes(data[13:17], "big")
        path = "multicast" if destination == group else "unicast"
        seen.add((path, sequence, int(hops)))
    reported = {(r["path"], r["sequence"], r["hops_left"]) for r in lines if r["event"] == "reply"}
    assert seen == reported == {(p, n, 64) for p in ("unicast", "multicast") for n in (1, 2, 3)}


async def test_blocked_multicast_is_reported_as_lost_with_exit_6(lab) -> None:
    async with lab("lan") as running:
        a, b = running.host("a"), running.host("b")
        # Host a drops whatever comes to the group: unicast still answers.
        rules = "add table inet t; add chain inet t in { type filter hook input priority 0; }; " \
                "add rule inet t in ip daddr 232.43.211.234 drop"  # fmt: skip
        await a.run(["nft", rules])
        async with running_in(b, [sys.executable, "-m", "mcast", "ping", "--serve"]):
            code, lines = await mcast_ping(a, B4, "-c", "3")
            no_responder_code, quiet = await mcast_ping(a, "10.0.1.3", "-c", "2")
    summary = summary_of(lines)
    assert code == 6
    assert summary["unicast"]["received"] == 3
    assert (summary["multicast"]["received"], summary["multicast"]["loss_percent"]) == (0, 100.0)
    assert no_responder_code == 3  # nobody answers on c: neither path, not a hang
    assert summary_of(quiet)["unicast"]["received"] == 0


async def test_an_unreachable_host_is_one_line_and_exit_2(lab) -> None:
    async with lab("lan") as running:  # its hosts have no default route
        done = await running.host("a").run(
            [sys.executable, "-m", "mcast", "ping", "198.51.100.1"], check=False
        )
    err = done.stderr.decode().strip()
    assert done.returncode == 2 and "cannot reach 198.51.100.1" in err, err
    assert len(err.splitlines()) == 1


async def test_nothing_a_client_sends_stops_the_responder(lab) -> None:
    """Junk, replies, requests for groups it does not serve and a flood from one
    client are each dropped and counted by reason; others are still answered."""
    import ipaddress
    import random
    import socket

    from mcast.ping._mping import encode_request
    from mcast.ping._pingresponder import ANSWERS_PER_SECOND, Responder

    async with lab("lan") as running:
        responder = Responder()
        with running.host("b").inside():
            responder.open()
        with running.host("a").inside():
            hostile = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with running.host("c").inside():  # another address: the rate is per client address
            friendly = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        async with trio.open_nursery() as nursery:
            await nursery.start(responder.serve)
            rng = random.Random(4321)
            with hostile, friendly:
                junk = [
                    bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
                    for _ in range(50)
                ]
                junk = [j for j in junk if j[:1] not in (b"Q", b"A")]  # not even a message type
                for data in junk:
                    hostile.sendto(data, (B4, 4321))
                hostile.sendto(b"A" + encode_request(1, 1, 1)[1:], (B4, 4321))  # a reply
                foreign = ipaddress.IPv4Address("239.1.1.1")  # not a group it serves
                hostile.sendto(encode_request(1, 2, 3, group=foreign), (B4, 4321))
                ignored = len(junk) + 2
                await wait_until(lambda: sum(responder.counters.ignored.values()) >= ignored,
                                 "the responder to take in the junk")  # fmt: skip
                for n in range(100):  # a flood from one client, faster than it answers
                    hostile.sendto(encode_request(1, n, 3), (B4, 4321))
                await wait_until(
                    lambda: (
                        responder.counters.requests + responder.counters.ignored["rate_limited"]
                        >= 100
                    ),
                    "the responder to take in the flood",
                )
                counters = responder.counters
                assert counters.ignored["malformed"] == len(junk)
                assert counters.ignored["not_a_request"] == 1
                assert counters.ignored["group_refused"] == 1
                answered = counters.requests
                assert ANSWERS_PER_SECOND <= answered <= ANSWERS_PER_SECOND + 2
                assert counters.ignored["rate_limited"] == 100 - answered
                # Another client is answered all the same.
                friendly.setblocking(False)
                friendly.sendto(encode_request(7, 1, 3), (B4, 4321))
                with trio.fail_after(2):
                    await trio.lowlevel.wait_readable(friendly)
                assert friendly.recv(2048)[0] == ord("A")
            nursery.cancel_scope.cancel()


async def matrix(lab_name: str, *extra: str) -> tuple[int, dict[str, Any]]:
    done = await trio.run_process(
        [sys.executable, "-m", "mcast", "ping", "--lab", lab_name, "--duration", "2",
         "--interval", "0.5", "--json", *extra],
        capture_stdout=True, capture_stderr=True, check=False,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return done.returncode, summary_of(lines)


@pytest.mark.parametrize("family", ["4", "6"])
async def test_the_matrix_across_the_lan_lab_and_one_broken_host(lab, family: str) -> None:
    async with lab("lan") as running:
        code, whole = await matrix(running.name, "--family", family)
        # Host c's multicast breaks: it drops whatever comes to the group.
        group = "232.43.211.234" if family == "4" else "ff3e::4321:1234"
        rule = f"add rule inet t in {'ip' if family == '4' else 'ip6'} daddr {group} drop"
        await running.host("c").run(
            ["nft", "add table inet t; add chain inet t in { type filter hook input priority 0; }; "
             + rule]
        )  # fmt: skip
        broken_code, broken = await matrix(running.name, "--family", family)
    hosts = [A4, B4, "10.0.1.3"] if family == "4" else [A6, B6, "2001:db8:0:2::3"]
    everyone = {(s, r) for s in hosts for r in hosts if s != r}
    assert code == 0, whole
    assert {(p["source"], p["receiver"]) for p in whole["pairs"]} == everyone
    assert all(p["unicast"]["received"] == p["multicast"]["received"] == 4 for p in whole["pairs"])
    assert broken_code == 6
    assert {(p["source"], p["receiver"]) for p in broken["pairs"]} == everyone
    failing = {(p["source"], p["receiver"]) for p in broken["pairs"] if p["exit_status"]}
    assert failing == {(s, hosts[2]) for s in hosts[:2]}  # c's row, and only c's
    assert all(p["multicast"]["loss_percent"] == 100.0 for p in broken["pairs"] if p["exit_status"])
