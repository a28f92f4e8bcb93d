"""The IGMP/MLD proxy on a lab router (configs/lab/routed-multicast.toml): r
proxies from lan1 (upstream, the source s) to lan2 (downstream, m1 to m3).
What the members receive is read with ``mcast join``; what crosses r onto
lan2 is counted by tshark on r's eth1 (lan2 is a snooping bridge, so a host
that did not join sees nothing either way); what r asks for upstream is the
kernel's own record of r's memberships and the reports tshark sees on lan1."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.mcast.labs import (
    arrivals,
    frames_at,
    joined,
    mcast,
    output_while,
    routing_daemon_ready,
)
from tests.waiting import wait_until

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
            said = b""  # until it says it runs: its links open, its planes held
            with trio.fail_after(30):
                while b"proxy: upstream" not in said:
                    chunk = await stderr.receive_some(4096)
                    assert chunk, f"the proxy ended: {said.decode()}"
                    said += chunk
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
    """Datagrams to ``group`` that r puts on lan2 (tshark on r's eth1) when s sends
    five from ``send_from``."""
    s = running.host("s")

    async def send() -> None:
        chosen = ["--source", send_from] if send_from else []
        await mcast(s, "send", group, "-p", "7000", "-i", "eth0", "--ttl", "5", "--count", "5",
                    "--interval", "0.05", "-q", *chosen)  # fmt: skip

    return len(await frames_at(running.host("r"), f"udp and dst host {group}", send, seconds=4,
                               interface="eth1"))  # fmt: skip


@pytest.mark.parametrize("group", ["239.6.6.6", "ff1e::6"], ids=["ipv4", "ipv6"])
async def test_traffic_flows_down_while_a_member_is_there(lab, plane, group: str) -> None:
    async with lab(LAB) as running:
        r = running.host("r")
        assert await arrivals(running, group, ttl=5) == []  # no proxy: nothing crosses r
        async with proxy(r) as events:
            # m1's join: its report reaches the proxy, which joins upstream and routes.
            assert await arrivals(running, group, ttl=5) == [4, 4, 4]
            assert kinds(events, group)[:2] == ["join", "route"]
            # m1 left when its join ended; the last member query (2 x 1 s) finds nobody.
            await wait_until(lambda: "leave" in kinds(events, group), f"the proxy to leave {group}")
            assert await wire(running, group) == 0, events
            assert kinds(events, group)[2:4] == ["unroute", "leave"]
            # What still arrives from upstream is held by an entry that forwards nowhere.
            later = [e for e in events[events.index(unroute(events, group)) :]
                     if e["event"] == "route"]  # fmt: skip
            assert later and all(e["outbound"] == [] for e in later)
            # A new member brings it back.
            assert await arrivals(running, group, ttl=5, member="m2") == [4, 4, 4]
        # The proxy gone, its entries went with its routing sockets.
        assert await arrivals(running, group, ttl=5) == []


FAMILIES = {
    # group, S1 (s's own address), S2, S3, prefix, what captures r's reports on lan1,
    # the source field, the fields of a report's records
    "ipv4": ("239.7.7.7", "10.1.0.2", "10.1.0.9", "10.1.0.8", "/24",
             "igmp and src host 10.1.0.1", "ip.src",
             "igmp.maddr,igmp.record_type,igmp.num_src,igmp.saddr"),
    "ipv6": ("ff3e::7", "2001:db8:1::2", "2001:db8:1::9", "2001:db8:1::8", "/64",
             "dst host ff02::16 and src net fe80::/10", "ipv6.src",
             "icmpv6.mldr.mar.multicast_address,icmpv6.mldr.mar.record_type,"
             "icmpv6.mldr.mar.nb_sources,icmpv6.mldr.mar.source_address"),
}  # fmt: skip
ALLOW, TO_EXCLUDE = 5, 4  # record types (RFC 3376 4.2.12, RFC 3810 5.2.12)


def records(line: str) -> list[tuple[str, int, set[str]]]:
    """A report's records (group, type, sources) from tshark's fields."""
    groups, types, counts, listed = [*line.split("\t"), "", "", ""][:4]
    sources = listed.split(",") if listed else []
    out = []
    for group, kind, count in zip(groups.split(","), types.split(","), counts.split(","),
                                  strict=True):  # fmt: skip
        out.append((group, int(kind), set(sources[: int(count)])))
        sources = sources[int(count) :]
    return out


async def upstream_joins(r: Any, group: str) -> list[tuple[str, list[str]]]:
    """r's memberships of ``group`` on eth0 as its kernel holds them: (mode, sources)."""
    shown = json.loads((await mcast(r, "show", "joins", "--json")).stdout)
    return [(j["mode"], j["sources"]) for j in shown
            if j["group"] == group and j["interface"] == "eth0"]  # fmt: skip


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
async def test_ssm_joins_go_up_as_ssm_and_filters_merge(lab, plane, family: str) -> None:
    group, s1, s2, s3, prefix, reports_filter, src_field, report_fields = FAMILIES[family]
    async with lab(LAB) as running:
        r, s = running.host("r"), running.host("s")
        for extra in (s2, s3):
            await s.run(["ip", "addr", "add", extra + prefix, "dev", "eth0", "nodad"])
        members: dict[str, Any] = {}
        upstream: dict[str, list[tuple[str, list[str]]]] = {}
        expected = {"m1": [("include", [s1])], "m2": [("exclude", [s2])]}

        async def members_join() -> None:
            for name, how in (("m1", ["--source", s1]), ("m2", ["--exclude", s1, "-x", s2])):
                argv = [sys.executable, "-m", "mcast", "join", group, "-p", "7000", "-i",
                        "eth0", "-t", "9", "--each", "--json", *how]  # fmt: skip
                members[name] = await trio.lowlevel.open_process(
                    running.host(name).argv(argv), stdout=-1
                )
                wanted = expected[name]

                async def seen(name: str = name, wanted: list[Any] = wanted) -> bool:
                    upstream[name] = await upstream_joins(r, group)
                    return upstream[name] == wanted

                with trio.move_on_after(30):  # until r's upstream membership follows
                    await wait_until(seen, f"r's upstream membership after {name} joined")

        async def send_all() -> None:
            for origin in (s1, s2, s3):
                await mcast(s, "send", group, "-p", "7000", "-i", "eth0", "--ttl", "5",
                            "--count", "5", "--interval", "0.02", "-q", "--source",
                            origin)  # fmt: skip

        async with proxy(r) as events:
            # What r says on lan1 (tshark at s) while m1 joins S1 only, then m2 joins
            # any source but S1 and S2.
            reports = await frames_at(s, reports_filter, members_join, seconds=5,
                                      fields=report_fields)  # fmt: skip
            # S1 (m1 wants it), S2 (nobody does), S3 (m2 does), as r sends them on lan2.
            dst = f"udp and dst host {group}"
            seen = await frames_at(r, dst, send_all, seconds=4, fields=src_field,
                                   interface="eth1")  # fmt: skip
            got = {}
            for name, process in members.items():
                await process.wait()
                out = await process.stdout.receive_some(1 << 20)
                got[name] = [json.loads(line)["source"] for line in out.decode().splitlines()
                             if '"source"' in line]  # fmt: skip
        # The kernel's record of r's upstream membership: the merged filter.
        assert upstream == expected
        # ...and what r said on lan1: ALLOW(S1) for m1's SSM join, later TO_EX(S2).
        said = [(kind, sources) for line in reports for g, kind, sources in records(line)
                if g == group]  # fmt: skip
        assert said and said[0] == (ALLOW, {s1}) and said[-1] == (TO_EXCLUDE, {s2}), reports
        # Forwarding follows each source's subscribers.
        assert sorted(seen) == sorted([s1] * 5 + [s3] * 5), seen
        assert got == {"m1": [s1] * 5, "m2": [s3] * 5}, got
        modes = [e["mode"] for e in events if e.get("group") == group and "mode" in e]
        assert modes == ["include", "exclude"]


@pytest.mark.needs_feature("ip_mroute")
async def test_igmpproxy_configured_alike_forwards_alike(lab) -> None:
    """The oracle for the IGMP half: igmpproxy (Debian's) on r, then the toolkit's
    proxy. While m1 is a member, r's upstream membership and what m1 receives are
    the same. (After the last leave igmpproxy keeps forwarding until its routes
    age, a query interval later; mcast proxy stops at the last member query time,
    as the first test shows.)"""
    group = "239.8.8.8"
    conf = Path(__file__).parents[2] / "configs/igmpproxy/routed-multicast.conf"
    async with lab(LAB) as running:
        r, s, m1 = running.host("r"), running.host("s"), running.host("m1")
        results = {}
        for name in ("igmpproxy", "mcast proxy"):
            process = None
            context: Any = proxy(r)
            if name == "igmpproxy":
                process = await trio.lowlevel.open_process(
                    r.argv(["igmpproxy", "-n", str(conf)]), stdout=-1, stderr=-1
                )
                await routing_daemon_ready(r, ("eth0", "eth1"))
                context = contextlib.nullcontext()
            try:
                async with context:
                    seen_upstream: list[Any] = []

                    async def send(seen_upstream: list[Any] = seen_upstream) -> None:
                        seen_upstream.append(await upstream_joins(r, group))
                        await mcast(s, "send", group, "-p", "7000", "-i", "eth0", "--ttl", "5",
                                    "--count", "3", "--interval", "0.05", "-q")  # fmt: skip

                    listen = [sys.executable, "-m", "mcast", "join", group, "-p", "7000",
                              "-i", "eth0", "-t", "2.5", "--each", "--json"]  # fmt: skip
                    _, out = await output_while(m1, listen, send,
                                                ready=lambda: joined(m1, group))  # fmt: skip
                    ttls = [json.loads(line)["ttl"] for line in out.decode().splitlines()
                            if '"ttl"' in line]  # fmt: skip
                    results[name] = (ttls, seen_upstream)
            finally:
                if process is not None:
                    process.terminate()
                    await process.wait()
    assert results["igmpproxy"] == ([4, 4, 4], [[("exclude", [])]]), results
    assert results["mcast proxy"] == results["igmpproxy"]


async def test_bad_input_and_a_second_routing_daemon_are_one_line(lab, plane) -> None:
    async with lab(LAB) as running:
        r = running.host("r")
        for args, words, code in (
            (["-u", "eth0", "-d", "eth0"], "both the upstream and a downstream", 2),
            (["-u", "eth0", "-d", "eth9"], "no interface eth9", 2),
            (["-u", "eth0", "-d", "lo"], "cannot carry multicast", 2),
            (["-u", "eth0", "-d", "eth1", "-d", "eth1"], "named twice", 2),
        ):
            done = await mcast(r, "proxy", *args, "--duration", "1", check=False)
            err = done.stderr.decode().strip()
            assert done.returncode == code and words in err and len(err.splitlines()) == 1, err
        # mcast route's daemon holds the routing socket: the proxy is refused in one
        # line and leaves the route as it was.
        await mcast(r, "route", "add", "239.1.1.1", "--in", "eth0", "--out", "eth1")
        done = await mcast(r, "proxy", "-u", "eth0", "-d", "eth1", "--duration", "1", check=False)
        err = done.stderr.decode().strip()
        assert done.returncode == 1 and "another multicast routing daemon" in err, err
        assert len(err.splitlines()) == 1, err
        (row,) = json.loads((await mcast(r, "route", "show", "--json")).stdout)
        assert row["installed"] and row["group"] == "239.1.1.1"
        await mcast(r, "route", "delete", "239.1.1.1", "--in", "eth0")
        # The other way round: while the proxy runs, a static route is refused.
        async with proxy(r):
            done = await mcast(r, "route", "add", "239.1.1.1", "--in", "eth0", "--out", "eth1",
                               check=False)  # fmt: skip
            err = done.stderr.decode().strip()
            assert done.returncode == 1 and "another multicast routing daemon" in err, err


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
async def test_the_upstream_join_follows_a_report_within_the_response_time(
    lab, plane, family: str
) -> None:
    """tshark on r (all its interfaces, one clock): m1's report on lan2, then r's
    own report for the group on lan1, well within the query response interval
    (1 s here)."""
    group = "239.9.0.1" if family == "ipv4" else "ff3e::9:1"
    if family == "ipv4":
        capture, fields = "igmp", "frame.time_epoch,ip.src,igmp.maddr"
    else:
        capture = "dst host ff02::16"
        fields = "frame.time_epoch,ipv6.src,icmpv6.mldr.mar.multicast_address"
    async with lab(LAB) as running:
        r, m1 = running.host("r"), running.host("m1")
        shown = json.loads((await r.run(["ip", "-j", "addr", "show", "dev", "eth0"])).stdout)
        r_upstream = {a["local"] for a in shown[0]["addr_info"]}

        async def join() -> None:
            await mcast(m1, "join", group, "-p", "7000", "-i", "eth0", "-t", "1", "-q",
                        check=False)  # fmt: skip

        async with proxy(r):
            lines = await frames_at(r, capture, join, seconds=5, fields=fields,
                                    interface="any")  # fmt: skip
    reports = [(float(t), src) for t, src, groups in (line.split("\t") for line in lines)
               if group in groups.split(",")]  # fmt: skip
    member = min(t for t, src in reports if src not in r_upstream)
    upstream = min(t for t, src in reports if src in r_upstream and t >= member)
    assert 0 <= upstream - member < 1.0, reports
