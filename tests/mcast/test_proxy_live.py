"""The IGMP/MLD proxy on a lab router (configs/lab/routed-multicast.toml): r
proxies from lan1 (upstream, the source s) to lan2 (downstream, m1 to m3).
What the members receive is read with ``mcast join``; what crosses r onto
lan2 is counted by tshark on m3's wire (lan2 floods: no snooping); what r
asks for upstream is the kernel's own record of r's memberships
(/proc/net/mcfilter) and the reports tshark sees on lan1."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from tests.mcast.labs import arrivals, frames_at, mcast

pytestmark = pytest.mark.needs_root

LAB = "routed-multicast"


@contextlib.asynccontextmanager
async def proxy(host: Any, *extra: str) -> AsyncIterator[list[dict[str, Any]]]:
    """``mcast proxy -u eth0 -d eth1 --json`` in ``host``; yields the list its
    events are read into as it runs (and after it ends)."""
    argv = [sys.executable, "-m", "mcast", "proxy", "-u", "eth0", "-d", "eth1",
            "--response-interval", "1", "--json", *extra]  # fmt: skip
    process = await trio.lowlevel.open_process(host.argv(argv), stdout=-1, stderr=-1)
    assert process.stdout is not None and process.stderr is not None
    events: list[dict[str, Any]] = []
    stdout, stderr = process.stdout, process.stderr
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            rest = b""
            while chunk := await stdout.receive_some(65536):
                *lines, rest = (rest + chunk).split(b"\n")
                events.extend(json.loads(line) for line in lines if line.strip())

        nursery.start_soon(read)
        try:
            await trio.sleep(0.7)  # its queriers up, its routing sockets held
            assert process.returncode is None, (await stderr.receive_some(4096)).decode()
            yield events
        finally:
            process.terminate()
            await process.wait()
    assert process.returncode in (0, -15), (await stderr.receive_some(4096)).decode()


def unroute(events: list[dict[str, Any]], group: str) -> dict[str, Any]:
    return next(e for e in events if e["event"] == "unroute" and e["group"] == group)


def kinds(events: list[dict[str, Any]], group: str) -> list[str]:
    return [e["event"] for e in events if e.get("group") == group]


async def wire(running: Any, group: str, send_from: str | None = None) -> int:
    """Datagrams to ``group`` that r puts on lan2 (seen on m3's wire) when s sends
    five from ``send_from``."""
    s = running.host("s")

    async def send() -> None:
        chosen = ["--source", send_from] if send_from else []
        await mcast(s, "send", group, "-p", "7000", "-i", "eth0", "--ttl", "5", "--count", "5",
                    "--interval", "0.05", "-q", *chosen)  # fmt: skip

    host = "ip6" if ":" in group else "host"
    return await frames_at(running.host("m3"), f"udp and dst {host} {group}", send, seconds=4)


@pytest.mark.parametrize("group", ["239.6.6.6", "ff1e::6"], ids=["ipv4", "ipv6"])
async def test_traffic_flows_down_while_a_member_is_there(lab, group: str) -> None:
    async with lab(LAB) as running:
        r = running.host("r")
        assert await arrivals(running, group, ttl=5) == []  # no proxy: nothing crosses r
        async with proxy(r) as events:
            # m1's join: its report reaches the proxy, which joins upstream and routes.
            assert await arrivals(running, group, ttl=5) == [4, 4, 4]
            assert kinds(events, group)[:2] == ["join", "route"]
            # m1 left when its join ended; the last member query (2 x 1 s) finds nobody.
            await trio.sleep(2.5)
            assert await wire(running, group) == 0, events
            assert kinds(events, group)[2:4] == ["leave", "unroute"]
            # What still arrives from upstream is held by an entry that forwards nowhere.
            later = [e for e in events[events.index(unroute(events, group)) :]
                     if e["event"] == "route"]  # fmt: skip
            assert later and all(e["outbound"] == [] for e in later)
            # A new member brings it back.
            assert await arrivals(running, group, ttl=5, member="m2") == [4, 4, 4]
        # The proxy gone, its entries went with its routing sockets.
        assert await arrivals(running, group, ttl=5) == []
