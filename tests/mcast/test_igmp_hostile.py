"""``mcast querier`` and ``mcast watch`` under hostile IGMP and MLD from a second
lab host: truncated and bit-flipped messages, a 10 s flood of reports for
made-up groups, and the interface deleted under them."""

from __future__ import annotations

import ipaddress
import random
import signal
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

from mcast.wire._frames import encode_ipv4_igmp, encode_ipv6_mld, ethernet
from mcast.wire._igmp import GroupRecord, IgmpV2Leave, IgmpV3Report
from mcast.wire._mld import AddressRecord, MldV2Report
from mcast.wire._wirecommon import RecordType
from tests.mcast.labs import counters_now, last_counters, settled, start, stop
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

B4 = ipaddress.IPv4Address("10.0.0.2")
IGMPV3_ROUTERS = ipaddress.IPv4Address("224.0.0.22")
MLDV2_ROUTERS = ipaddress.IPv6Address("ff02::16")
ALL_ROUTERS = ipaddress.IPv4Address("224.0.0.2")
FIRST = ipaddress.IPv4Address("239.10.0.0")
REMEMBERED = ipaddress.IPv4Address("239.10.0.7")  # reported first: it is in the table
PACED = ipaddress.IPv4Address("239.20.0.0")
ETH_P_ALL = 3


def igmp_report(group: ipaddress.IPv4Address) -> bytes:
    message = IgmpV3Report((GroupRecord(RecordType.MODE_IS_EXCLUDE, group),))
    return ethernet(encode_ipv4_igmp(message, B4, IGMPV3_ROUTERS), IGMPV3_ROUTERS)


def mld_report(source: ipaddress.IPv6Address, group: ipaddress.IPv6Address) -> bytes:
    message = MldV2Report((AddressRecord(RecordType.MODE_IS_EXCLUDE, group),))
    return ethernet(encode_ipv6_mld(message, source, MLDV2_ROUTERS), MLDV2_ROUTERS)


def hostile_frames(link_local: ipaddress.IPv6Address, rng: random.Random) -> list[bytes]:
    """Every truncation of a valid IGMP and MLD report frame, and bit-flipped ones."""
    frames = []
    for valid in (
        igmp_report(REMEMBERED),
        mld_report(link_local, ipaddress.IPv6Address("ff3e::7")),
    ):
        frames += [valid[:n] for n in range(14, len(valid))]
        for _ in range(2000):
            flipped = bytearray(valid)
            flipped[rng.randrange(14, len(valid))] ^= 1 << rng.randrange(8)
            frames.append(bytes(flipped))
    # Junk of every length after an IPv4 header that says IGMP, up to a full frame.
    header = igmp_report(REMEMBERED)[: 14 + 24]
    frames += [header + rng.randbytes(n) for n in range(0, 1500 - 24)]
    return frames


def must_be_seen(frame: bytes) -> bool:
    """What a capture of IGMP and MLD must take in (the rule of mcast/wire/_capfilter.py,
    said again here): IPv4 protocol 2; IPv6 whose next header is Hop-by-Hop or
    ICMPv6; 802.1Q frames. Anything else, UDP included, must stay in the kernel."""
    kind = frame[12:14]
    if kind == b"\x08\x00":
        return len(frame) > 23 and frame[23] == 2
    if kind == b"\x86\xdd":
        return len(frame) > 20 and frame[20] in (0, 58)
    return kind == b"\x81\x00"


UDP_FRAME = bytes.fromhex(
    "01005e0a0001"
    "020000000001"
    "0800"  # to 239.10.0.1's MAC, IPv4
    "4500001c00004000011100000a000002ef0a0001"  # UDP, TTL 1, 10.0.0.2 -> 239.10.0.1
    "13881388000800000000000000000000000000000000000000"  # ports 5000, padding
)


def _took_in(counters: dict[str, Any]) -> object:
    return (counters["igmp"]["groups"], counters["igmp"]["refused"])


def _captured(counters: dict[str, Any]) -> object:
    capture = counters.get("capture", counters)  # the querier nests them; watch does not
    return capture["frames"] + capture["kernel_dropped"]


def send_frames(seconds: float) -> dict[str, int]:
    """The hostile frames, then a flood of reports for made-up groups (IGMP and MLD)
    with UDP in between; how many of them a capture must see, and how many not."""
    rng = random.Random(12)
    import psutil as ps

    link_local = next(
        ipaddress.IPv6Address(a.address.split("%")[0])
        for a in ps.net_if_addrs()["eth0"]
        if a.family == socket.AF_INET6 and a.address.startswith("fe80")
    )
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("eth0", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent = {"seen": 0, "not_seen": 0}

    def send(frame: bytes) -> None:
        sock.send(frame)
        sent["seen" if must_be_seen(frame) else "not_seen"] += 1

    with sock:
        send(igmp_report(REMEMBERED))
        for frame in hostile_frames(link_local, rng):
            send(frame)
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            for _ in range(200):
                n += 1
                group4 = ipaddress.IPv4Address(int(FIRST) + n % 4000)
                group6 = ipaddress.IPv6Address(f"ff3e::1:{n % 4000:x}")
                send(igmp_report(group4) if n % 2 else mld_report(link_local, group6))
                if n % 3 == 0:
                    send(UDP_FRAME)
    return sent


def send_distinct_groups(count: int) -> None:
    """A report for ``REMEMBERED``, then one for each of ``count`` other groups, paced
    (about 1,000 a second) so that a querier takes in every one."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind(("eth0", 0))
        sock.send(igmp_report(REMEMBERED))
        for n in range(count):
            sock.send(igmp_report(ipaddress.IPv4Address(int(PACED) + n)))
            if n % 50 == 49:
                time.sleep(0.05)  # time under test: a pace the querier keeps up with


def send_leave() -> None:
    leave = encode_ipv4_igmp(IgmpV2Leave(REMEMBERED), B4, ALL_ROUTERS)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind(("eth0", 0))
        sock.send(ethernet(leave, ALL_ROUTERS))


async def test_the_querier_survives_hostile_reports_and_a_flood(
    lab, tmp_path: Path, figures
) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        querier, out, err = await start(
            a, tmp_path, "querier", "-i", "eth0", "--json", "--interval", "60"
        )
        rss_before = psutil.Process(querier.pid).memory_info().rss
        # 1,201 groups, each taken in, against a table of 1,024: the rest refused.
        await b.run_sync(send_distinct_groups, 1200)
        paced = await settled(lambda: counters_now(querier, out), _took_in)
        assert paced["capture"]["kernel_dropped"] == 0, paced
        assert paced["igmp"]["groups"] == 1024, paced
        assert paced["igmp"]["refused"] == {"group_limit": 1201 - 1024}, paced
        began = time.monotonic()
        sent = await b.run_sync(send_frames, 10.0)
        took = time.monotonic() - began
        await settled(lambda: counters_now(querier, out), _captured)  # the flood taken in
        # A well-formed leave for a group the table holds is answered with its queries.
        await b.run_sync(send_leave)
        await wait_until(lambda: f"query for {REMEMBERED}" in out.read_text(),
                         "the leave's queries", timeout=10, every=0.1)  # fmt: skip
        rss_growth = psutil.Process(querier.pid).memory_info().rss - rss_before
        assert querier.poll() is None, err.read_text()
        code = await stop(querier)
    assert code == 130, err.read_text()
    counters = last_counters(out.read_text())
    capture = counters["capture"]
    # Every frame the filter passed was classified; nothing this host sent was lost
    # without the kernel counting it.
    assert capture["frames"] == capture["messages"] + capture["malformed"] + capture["other"]
    # What it must see arrived or was counted as dropped; what it must not see (UDP,
    # frames too short to say) never reached it. The margin is the link's own
    # traffic: the kernels' reports, the querier's queries (captured going out).
    # The flood is judged by what this run sent, however fast this machine sent it.
    assert sent["not_seen"] > 0 and sent["seen"] > 0, sent
    before = paced["capture"]["frames"] + paced["capture"]["kernel_dropped"]
    seen = capture["frames"] + capture["kernel_dropped"] - before
    assert sent["seen"] + 1 <= seen <= sent["seen"] + 1 + 500, (sent, capture, before)
    assert capture["malformed"] > 0
    # The table stayed within its bounds through the flood.
    assert counters["igmp"]["groups"] == 1024 and counters["mld"]["groups"] <= 1024
    assert rss_growth < 40 << 20, rss_growth
    assert "Traceback" not in err.read_text()
    figures(
        "mcast querier",
        "IGMP/MLD: every truncation and 2,000 bit flips of a report of each, junk of every "
        "length after an IGMP header, then reports for 4,000 made-up groups a family with "
        "UDP between, as fast as one Python sender goes",
        count=sent["seen"] + sent["not_seen"],
        seconds=took,
        held={
            "answers afterwards": "a leave gets its group-specific queries",
            "counters": f"frames + kernel drops {seen:,} = the {sent['seen']:,} it must "
            f"see (+ the link's own); none of the {sent['not_seen']:,} it must not; table "
            "1,024 groups (1,201 paced groups: 177 refused)",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )


async def test_watch_survives_the_same_and_counts_it(lab, tmp_path: Path, figures) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        watch, _out, err = await start(a, tmp_path, "watch", "-i", "eth0", "--table")
        rss_before = psutil.Process(watch.pid).memory_info().rss
        began = time.monotonic()
        sent = await b.run_sync(send_frames, 10.0)
        took = time.monotonic() - began

        async def watch_counters() -> dict[str, Any]:
            before = err.read_text().count("counters: ")
            watch.send_signal(signal.SIGUSR1)
            await wait_until(lambda: err.read_text().count("counters: ") > before,
                             "the counters asked for", timeout=10)  # fmt: skip
            return last_counters(err.read_text())

        await settled(watch_counters, _captured)  # the flood taken in
        rss_growth = psutil.Process(watch.pid).memory_info().rss - rss_before
        code = await stop(watch)
    assert code == 130, err.read_text()
    counters = last_counters(err.read_text())
    assert counters["frames"] == counters["messages"] + counters["malformed"] + counters["other"]
    seen = counters["frames"] + counters["kernel_dropped"]
    assert sent["seen"] <= seen <= sent["seen"] + 500, (sent, counters)
    assert rss_growth < 40 << 20, rss_growth
    assert "Traceback" not in err.read_text()
    figures(
        "mcast watch --table",
        "the same as the querier's",
        count=sent["seen"] + sent["not_seen"],
        seconds=took,
        held={
            "answers afterwards": "counters on SIGUSR1, exit 130 on ^C",
            "counters": f"frames {counters['frames']:,} + kernel drops "
            f"{counters['kernel_dropped']:,} = the {sent['seen']:,} it must see (+ the "
            "link's own)",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )


@pytest.mark.parametrize("command", [("watch",), ("querier", "--json")])
async def test_deleting_the_interface_ends_it_with_one_line(
    lab, tmp_path: Path, command: tuple[str, ...]
) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        process, _out, err = await start(a, tmp_path, command[0], "-i", "eth0", *command[1:])
        await a.run(["ip", "link", "del", "eth0"])
        with trio.fail_after(10):
            code = await process.wait()
    text = err.read_text()
    assert code == 1, text
    assert text.splitlines()[-1] == f"mcast {command[0]}: interface eth0 is gone", text
    assert "Traceback" not in text


async def test_the_querier_stops_with_one_line_when_its_address_goes(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        querier, _out, err = await start(a, tmp_path, "querier", "-i", "eth0", "--json")
        await a.run(["ip", "addr", "del", "10.0.0.1/24", "dev", "eth0"])
        with trio.fail_after(10):
            code = await querier.wait()
    text = err.read_text()
    assert code == 1, text
    assert text.splitlines()[-1] == (
        "mcast querier: 10.0.0.1 is no longer an address of eth0: the IGMP querier stops "
        "(start it again to query from the interface's new address)"
    ), text


async def test_watch_waits_while_its_interface_is_down_and_goes_on(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        watch, out, err = await start(a, tmp_path, "watch", "-i", "eth0", "--json")
        await a.run(["ip", "link", "set", "eth0", "down"])
        await trio.sleep(0.5)  # time under test: the interface stays down a while
        await a.run(["ip", "link", "set", "eth0", "up"])

        async def carrier() -> bool:  # back up, with its peer
            shown = await a.run(["ip", "-br", "link", "show", "eth0"])
            return " UP " in f" {shown.stdout.decode()} "

        await wait_until(carrier, "eth0 to come back up")
        await b.run_sync(send_leave)  # b's leave, seen after the interface came back

        def leave_seen() -> bool:
            assert watch.poll() is None, err.read_text()
            return '"type": "leave"' in out.read_text()

        await wait_until(leave_seen, "b's leave", timeout=10, every=0.1)
        watch.send_signal(signal.SIGUSR1)
        await wait_until(lambda: "counters: " in err.read_text(), "the counters asked for",
                         timeout=10)  # fmt: skip
        assert last_counters(err.read_text())["interface_down"] >= 1
        assert await stop(watch) == 130
