"""mcast proxy against hostile peers, in the routed lab: a downstream host
reports more groups than a table holds, and an upstream source sends to more
groups than the proxy keeps flows for. The proxy keeps both bounded, counts
what it turned away, and still serves a new member."""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from mcast.querier._routertable import MAX_GROUPS
from mcast.routing._proxyplan import MAX_FLOWS
from mcast.wire._frames import encode_ipv4_igmp, ethernet
from mcast.wire._igmp import GroupRecord, IgmpV3Report
from mcast.wire._wirecommon import RecordType
from tests.mcast.labs import arrivals, counters_now, last_counters, settled, start, stop

pytestmark = pytest.mark.needs_root

LAB = "routed-multicast"
M1 = ipaddress.IPv4Address("10.2.0.2")
IGMPV3_ROUTERS = ipaddress.IPv4Address("224.0.0.22")
REPORTED = ipaddress.IPv4Address("239.50.0.0")  # the reports' groups count up from here
FLOODED = ipaddress.IPv4Address("239.60.0.0")  # the flood's groups count up from here
FLOOD_GROUPS = 6000


def _table(counters: dict[str, Any]) -> object:
    table = counters["downstream"]["eth1"]["igmp"]
    return (table["groups"], table["refused"])


def _upcalls(counters: dict[str, Any]) -> object:
    return counters.get("upcalls")


def report_many(count: int) -> None:
    """IGMPv3 reports from m1 for ``count`` groups, paced so the proxy takes each in."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)) as sock:
        sock.bind(("eth0", 0))
        for n in range(count):
            record = GroupRecord(RecordType.MODE_IS_EXCLUDE, REPORTED + n)
            packet = encode_ipv4_igmp(IgmpV3Report((record,)), M1, IGMPV3_ROUTERS)
            sock.send(ethernet(packet, IGMPV3_ROUTERS))
            if n % 50 == 49:
                time.sleep(0.05)  # time under test: a pace the proxy keeps up with


def flood(seconds: float) -> int:
    """Datagrams from s to FLOOD_GROUPS groups, round and round, as fast as it goes."""
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        targets = [(str(FLOODED + n), 7000) for n in range(FLOOD_GROUPS)]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for target in targets:
                sock.sendto(b"x" * 32, target)
            sent += len(targets)
    return sent


async def test_the_proxy_survives_a_report_flood_and_a_flow_flood(
    lab, plane, tmp_path: Path, figures: Any
) -> None:
    async with lab(LAB) as running:
        r, s, m1 = running.host("r"), running.host("s"), running.host("m1")
        proxy, out, err = await start(r, tmp_path, "proxy", "-u", "eth0", "-d", "eth1", "--json",
                                      "--igmp-version", "3", "--mld-version", "0")  # fmt: skip
        rss_before = psutil.Process(proxy.pid).memory_info().rss
        reported = MAX_GROUPS + 176
        await m1.run_sync(report_many, reported)
        after_reports = await settled(lambda: counters_now(proxy, out), _table)
        began = time.monotonic()
        sent = await s.run_sync(flood, 6.0)
        took = time.monotonic() - began
        await settled(lambda: counters_now(proxy, out), _upcalls)  # the flood taken in
        # Still serving: a member of a group the table holds (it is full) gets the
        # group's traffic through r, a flow that came after the flood.
        held = str(REPORTED + 5)
        assert await arrivals(running, held, ttl=5, member="m2") == [4, 4, 4]
        rss_growth = psutil.Process(proxy.pid).memory_info().rss - rss_before
        assert proxy.poll() is None, err.read_text()
        code = await stop(proxy)
    counters = last_counters(out.read_text())
    assert code == 130, err.read_text()
    # The table took its 1,024 groups and refused the rest; each is joined upstream.
    table = after_reports["downstream"]["eth1"]["igmp"]
    assert table["groups"] == MAX_GROUPS, after_reports
    # Every report past the table's bound was refused. The snooping bridge of lan2
    # answers the proxy's first query too, from 0.0.0.0, for 224.0.0.106 (Multicast
    # Router Discovery, RFC 4286), at a random time within the response interval:
    # when that comes before these counters it takes a place or is refused, one more.
    refused = table["refused"]["group_limit"]
    assert reported - MAX_GROUPS <= refused <= reported - MAX_GROUPS + 1, after_reports
    assert set(table["refused"]) == {"group_limit"}, after_reports
    # Each group of the table is joined upstream, but for 224.0.0.106 (link-local
    # scope, never proxied) when the bridge's report took its place in the table.
    bridge_took_a_place = refused == reported - MAX_GROUPS + 1
    upstream = after_reports["groups upstream"]
    assert upstream == MAX_GROUPS or (bridge_took_a_place and upstream == MAX_GROUPS - 1), (
        after_reports
    )
    # The flows stayed within bounds; the unwanted ones made room for new ones.
    assert counters["flows"] <= MAX_FLOWS and counters["upcalls"] > MAX_FLOWS, counters
    assert counters["flows evicted"] > 0, counters
    assert rss_growth < 40 << 20, rss_growth
    assert "Traceback" not in err.read_text()
    figures(
        "mcast proxy",
        f"IGMPv3 reports for {reported:,} groups from a downstream host, then datagrams to "
        f"{FLOOD_GROUPS:,} groups from an upstream source, round and round, as fast as one "
        "Python sender goes",
        count=reported + sent,
        seconds=took,
        held={
            "answers afterwards": "a member gets a new flow of its group through the router",
            "counters": f"table {MAX_GROUPS:,} groups ({refused} refused), "
            f"{MAX_GROUPS:,} joined upstream; {counters['upcalls']:,} upcalls, flows "
            f"{counters['flows']:,} of {MAX_FLOWS:,} ({counters['flows evicted']:,} unwanted "
            "ones forgotten to make room)",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )
