"""Multicast membership on the real kernel, in a lab: filters that filter,
the conflict table row by row, limits, metadata, leaving, the commands, and
iperf2 as an independent peer."""

from __future__ import annotations

import errno
import ipaddress
import json
import shutil
import socket
import struct
import sys
import time
from collections.abc import Iterable

import pytest
import trio

from ipv6 import read_host_joins
from ipv6.sockopts import LINUX, encode
from mcast._datagram import Datagram
from mcast._errors import LimitReached, MembershipError
from mcast.membership._conflicts import ROWS, Row, error_for_kernel
from mcast.membership._membership import Call, GroupKey, Memberships, Mode
from mcast.streams._receiver import Receiver, open_receiver
from mcast.streams._sender import open_sender
from tests.mcast.labs import joined as member_joined
from tests.waiting import bound

pytestmark = pytest.mark.needs_root

A4, B4, C4 = "10.0.1.1", "10.0.1.2", "10.0.1.3"
A6, B6, C6 = "2001:db8:0:2::1", "2001:db8:0:2::2", "2001:db8:0:2::3"
PORT = 5001


async def send_from(
    lab, host: str, group: str, payloads: Iterable[bytes], port: int = PORT, **kw
) -> None:
    with lab.host(host).inside():
        tx = open_sender(group, interface="eth0", **kw)
    with tx:
        for payload in payloads:
            await tx.send(payload, group, port)


async def collect(rx: Receiver, seconds: float = 0.5) -> list[Datagram]:
    got: list[Datagram] = []
    with trio.move_on_after(seconds):
        while True:
            got += await rx.receive_batch()
    return got


def sources_of(got: list[Datagram]) -> set[str]:
    return {d.source for d in got}


def host_filter(lab, host: str, group: str):
    """The interface filter the kernel reports for ``group`` in ``host`` (procfs)."""
    with lab.host(host).inside():
        joins = [j for j in read_host_joins() if str(j.group) == group]
    return joins


@pytest.mark.parametrize(
    ("group", "senders", "kept"),
    [
        ("232.1.1.1", {"b": B4, "c": C4}, "b"),
        ("ff3e::8000:1", {"b": B6, "c": C6}, "b"),
    ],
)
async def test_ssm_delivers_only_the_included_source(lab, group, senders, kept) -> None:
    async with lab("lan") as running, open_receiver(PORT) as rx:
        with running.host("a").inside():
            rx.join(group, "eth0", source=senders[kept])
            kernel = rx.kernel_filter(group, "eth0")
        assert kernel is not None and kernel.mode is Mode.INCLUDE
        assert kernel.sources == {ipaddress.ip_address(senders[kept])}
        (joined,) = host_filter(running, "a", group)
        assert joined.mode == "include" and [str(s) for s in joined.filter_sources] == [
            senders[kept]
        ]
        for host in senders:
            await send_from(running, host, group, [host.encode()] * 3)
        got = await collect(rx)
        assert sources_of(got) == {senders[kept]}
        assert len(got) == 3 and all(d.group == group and d.interface == "eth0" for d in got)


@pytest.mark.parametrize(
    ("group", "blocked", "passed"),
    [("239.2.2.2", C4, B4), ("ff3e::9000:2", C6, B6), ("ff12::3", C6, B6)],
)
async def test_exclude_drops_the_blocked_source_and_leave_stops_delivery(
    lab, group, blocked, passed
) -> None:
    async with lab("lan") as running, open_receiver(PORT) as rx:
        with running.host("a").inside():
            rx.join(group, "eth0")
            rx.block(group, blocked, "eth0")
            kernel = rx.kernel_filter(group, "eth0")
        assert kernel is not None and kernel.mode is Mode.EXCLUDE
        assert kernel.sources == {ipaddress.ip_address(blocked)}
        (joined,) = host_filter(running, "a", group)
        assert joined.mode == "exclude" and [str(s) for s in joined.filter_sources] == [blocked]
        # Sent from the global addresses (a link-scope group would otherwise
        # pick the link-local ones): this also checks the sender's source option.
        await send_from(running, "b", group, [b"b"] * 2, source=passed)
        await send_from(running, "c", group, [b"c"] * 2, source=blocked)
        assert sources_of(await collect(rx)) == {passed}

        with running.host("a").inside():
            rx.unblock(group, blocked, "eth0")
        await send_from(running, "c", group, [b"c"], source=blocked)
        assert sources_of(await collect(rx)) == {blocked}

        with running.host("a").inside():
            rx.leave(group, "eth0")
        assert host_filter(running, "a", group) == []
        await send_from(running, "b", group, [b"b"], source=passed)
        assert await collect(rx, 0.3) == []


async def test_final_state_filters_and_the_kernels_tables(lab) -> None:
    group = "232.7.7.7"
    async with lab("lan") as running, open_receiver(PORT) as rx:
        a = running.host("a")
        with a.inside():
            key = GroupKey(ipaddress.ip_address(group), socket.if_nametoindex("eth0"))
            rx.set_filter(group, "eth0", "include", [B4, C4])
            assert rx.kernel_filter(group, "eth0") == rx.filters()[key]
            rx.set_filter(group, "eth0", "exclude", [B4])
            assert rx.kernel_filter(group, "eth0") == rx.filters()[key]
        (joined,) = host_filter(running, "a", group)
        assert joined.mode == "exclude" and [str(s) for s in joined.filter_sources] == [B4]
        await send_from(running, "b", group, [b"b"])
        await send_from(running, "c", group, [b"c"])
        assert sources_of(await collect(rx)) == {C4}
        with a.inside():
            assert rx.set_filter(group, "eth0", "include", []) is None
        assert host_filter(running, "a", group) == []


# --- the conflict table, row by row, on the kernel -----------------------------


def raw_call(
    sock: socket.socket, call: Call, group: str, source: str, ifindex: int, *, ip_options: bool
) -> None:
    """One change-based call straight to the kernel, bypassing the model."""
    g, s = ipaddress.ip_address(group), ipaddress.ip_address(source)
    level = socket.IPPROTO_IP if g.version == 4 else socket.IPPROTO_IPV6
    if ip_options:
        name = {
            Call.JOIN: "IP_ADD_MEMBERSHIP", Call.LEAVE: "IP_DROP_MEMBERSHIP",
            Call.JOIN_SOURCE: "IP_ADD_SOURCE_MEMBERSHIP",
            Call.LEAVE_SOURCE: "IP_DROP_SOURCE_MEMBERSHIP",
            Call.BLOCK: "IP_BLOCK_SOURCE", Call.UNBLOCK: "IP_UNBLOCK_SOURCE",
        }[call]  # fmt: skip
        local = ipaddress.ip_address(A4)
        if call.takes_source:
            fields = {"imr_multiaddr": g, "imr_interface": local, "imr_sourceaddr": s}
            value = encode(LINUX, "ip_mreq_source", fields)
        else:
            value = encode(LINUX, "ip_mreq", {"imr_multiaddr": g, "imr_interface": local})
        sock.setsockopt(level, LINUX.option(name), value)  # type: ignore[arg-type]
        return
    name = {
        Call.JOIN: "MCAST_JOIN_GROUP", Call.LEAVE: "MCAST_LEAVE_GROUP",
        Call.JOIN_SOURCE: "MCAST_JOIN_SOURCE_GROUP", Call.LEAVE_SOURCE: "MCAST_LEAVE_SOURCE_GROUP",
        Call.BLOCK: "MCAST_BLOCK_SOURCE", Call.UNBLOCK: "MCAST_UNBLOCK_SOURCE",
    }[call]  # fmt: skip
    if call.takes_source:
        value = encode(
            LINUX, "group_source_req", {"gsr_interface": ifindex, "gsr_group": g, "gsr_source": s}
        )
    else:
        value = encode(LINUX, "group_req", {"gr_interface": ifindex, "gr_group": g})
    sock.setsockopt(level, LINUX.option(name), value)  # type: ignore[arg-type]


CASES = [
    ("232.1.1.1", B4, False),
    ("232.1.1.1", B4, True),
    ("ff3e::8000:1", B6, False),
]


async def test_every_row_of_the_conflict_table_on_the_kernel(lab) -> None:
    async with lab("lan") as running:
        with running.host("a").inside():
            ifindex = socket.if_nametoindex("eth0")
            for group, source, ip_options in CASES:
                for row in ROWS:
                    _check_row(row, group, source, ifindex, ip_options)


def _check_row(row: Row, group: str, source: str, ifindex: int, ip_options: bool) -> None:
    family = socket.AF_INET if ":" not in group else socket.AF_INET6
    where = f"{row.title()} ({group}, {'IP_*' if ip_options else 'MCAST_*'})"
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        model = Memberships()
        key = GroupKey(ipaddress.ip_address(group), ifindex)
        src = ipaddress.ip_address(source)
        for call in row.before:
            raw_call(sock, call, group, source, ifindex, ip_options=ip_options)
            model.apply(call, key, src if call.takes_source else None)
        try:
            raw_call(sock, row.then, group, source, ifindex, ip_options=ip_options)
        except OSError as exc:
            assert row.linux is not None, (
                f"{where}: Linux refused with {exc}, the table says it accepts"
            )
            assert errno.errorcode[exc.errno] == row.linux, where  # type: ignore[index]
            mapped = error_for_kernel(
                model, row.then, key=key, source=src if row.then.takes_source else None,
                code=exc.errno, option="setsockopt",  # type: ignore[arg-type]
            )  # fmt: skip
            assert type(mapped) is row.error, where
        else:
            assert row.linux is None, f"{where}: Linux accepted, the table says {row.linux}"
        # And the model refuses it before the kernel sees it, with the same error.
        with pytest.raises(row.error):
            model.apply(row.then, key, src if row.then.takes_source else None)


async def test_the_receiver_refuses_each_row_without_touching_the_kernel(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT) as rx:
        with running.host("a").inside():
            # The row Linux would accept: the receiver refuses it, the kernel keeps EXCLUDE {}.
            rx.join("232.3.3.3", "eth0")
            with pytest.raises(MembershipError, match="joined any-source"):
                rx.join("232.3.3.3", "eth0", source=B4)
            kernel = rx.kernel_filter("232.3.3.3", "eth0")
            assert kernel is not None and kernel.mode is Mode.EXCLUDE and not kernel.sources
            rx.block("232.3.3.3", C4, "eth0")
            with pytest.raises(MembershipError, match="unblock it instead of adding it"):
                rx.join("232.3.3.3", "eth0", source=C4)


# --- limits and scale ---------------------------------------------------------


async def test_more_groups_than_one_socket_may_hold_use_more_sockets(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT) as rx:
        a = running.host("a")
        with a.inside():
            with open("/proc/sys/net/ipv4/igmp_max_memberships") as sysctl:
                limit = int(sysctl.read())
            groups = [f"239.9.{i // 200}.{i % 200 + 1}" for i in range(3 * limit + 5)]
            for group in groups:
                rx.join(group, "eth0")
            joined = {str(j.group) for j in read_host_joins() if j.interface == "eth0"}
        assert rx.sockets == 4
        assert set(groups) <= joined
        await send_from(running, "b", groups[-1], [b"last"])
        await send_from(running, "b", groups[0], [b"first"])
        assert {d.payload for d in await collect(rx)} == {b"last", b"first"}


async def test_too_many_sources_name_the_sysctl_and_the_value_needed(lab) -> None:
    async with lab(_lan_with("igmp_max_msf = 3"), text=True) as running, open_receiver(PORT) as rx:
        with running.host("a").inside():
            for i in range(3):
                rx.join("232.4.4.4", "eth0", source=f"10.0.1.{10 + i}")
            with pytest.raises(LimitReached) as caught:
                rx.join("232.4.4.4", "eth0", source="10.0.1.20")
        assert caught.value.sysctl == "net.ipv4.igmp_max_msf" and caught.value.needed == 4
        assert "set net.ipv4.igmp_max_msf to at least 4" in str(caught.value)


def _lan_with(setting: str) -> str:
    return f"""
    [hosts.a]
    sysctls = {{ {setting} }}
    [hosts.b]
    [[links]]
    name = "l"
    endpoints = [
      {{ host = "a", addresses = ["10.0.1.1/24"] }},
      {{ host = "b", addresses = ["10.0.1.2/24"] }},
    ]
    """


# --- what a wildcard socket hears, metadata, drops ------------------------------


async def test_a_wildcard_receiver_hears_only_its_own_groups(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT) as one, open_receiver(PORT) as other:
        with running.host("a").inside():
            one.join("239.5.5.1", "eth0")
            other.join("239.5.5.2", "eth0")
        await send_from(running, "b", "239.5.5.1", [b"one"])
        await send_from(running, "b", "239.5.5.2", [b"two"])
        assert [d.payload for d in await collect(one)] == [b"one"]
        assert [d.payload for d in await collect(other)] == [b"two"]


async def test_each_datagram_says_ttl_tos_interface_and_truncation(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT, max_datagram=8) as rx:
        with running.host("a").inside():
            rx.join("239.6.6.6", "eth0")
            rx.join("ff3e::6", "eth0")
        await send_from(running, "b", "239.6.6.6", [b"0123456789"], ttl=7, tos=0x20)
        await send_from(running, "b", "ff3e::6", [b"short"], ttl=9, tos=0x40)
        got = {d.family: d for d in await collect(rx)}
        v4, v6 = got[socket.AF_INET], got[socket.AF_INET6]
        assert (v4.source, v4.group, v4.ttl, v4.tos, v4.truncated) == (
            B4,
            "239.6.6.6",
            7,
            0x20,
            True,
        )
        assert len(v4.payload) == 8 and v4.interface == "eth0" and v4.port == PORT
        assert (v6.source, v6.group, v6.ttl, v6.tos, v6.truncated) == (
            B6,
            "ff3e::6",
            9,
            0x40,
            False,
        )
        assert rx.truncated == 1
        record = v4.to_json()
        for key in (
            "group",
            "source",
            "source_port",
            "port",
            "interface",
            "ifindex",
            "ttl",
            "length",
        ):
            assert key in record


async def test_kernel_drops_are_counted(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT, rcvbuf=4096) as rx:
        with running.host("a").inside():
            rx.join("239.7.7.7", "eth0")
        # A burst into a tiny receive buffer with no checkpoint in between, so
        # the reader cannot run: the kernel must drop, and say how many.
        with running.host("b").inside():
            burst = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with burst:
            for _ in range(400):
                burst.sendto(b"x" * 1000, ("239.7.7.7", PORT))
            # The reader takes in what the tiny buffer held (until a moment passes with
            # nothing more), then the last datagram carries the final count.
            taken = -1
            while rx.received != taken:
                taken = rx.received
                await trio.sleep(0.1)  # time under test: a moment with nothing more
            burst.sendto(b"last", ("239.7.7.7", PORT))
        await collect(rx, 0.5)
        assert rx.dropped > 0
        assert rx.received + rx.dropped == 401


async def test_leaving_is_guaranteed_on_cancellation(lab) -> None:
    async with lab("lan") as running:
        with trio.move_on_after(0.3):
            async with open_receiver(PORT) as rx:
                with running.host("a").inside():
                    rx.join("239.8.8.8", "eth0")
                    rx.join("232.8.8.8", "eth0", source=B4)
                assert host_filter(running, "a", "239.8.8.8")
                await trio.sleep_forever()
        assert host_filter(running, "a", "239.8.8.8") == []
        assert host_filter(running, "a", "232.8.8.8") == []


async def test_the_ip_option_fallback_filters_the_same(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT, protocol_independent=False) as rx:
        with running.host("a").inside():
            rx.join("232.9.9.9", "eth0", source=B4)
        await send_from(running, "b", "232.9.9.9", [b"b"])
        await send_from(running, "c", "232.9.9.9", [b"c"])
        assert sources_of(await collect(rx)) == {B4}


# --- the commands -------------------------------------------------------------


async def test_mcast_join_and_send_from_the_shell(lab) -> None:
    async with lab("lan") as running:
        a, b = running.host("a"), running.host("b")
        async with trio.open_nursery() as nursery:
            joined = trio.Event()
            result: dict[str, object] = {}

            async def receive() -> None:
                proc = await trio.lowlevel.open_process(
                    a.argv([sys.executable, "-m", "mcast", "join", "232.1.2.3", "-p", "6000",
                            "-i", "eth0", "-s", B4, "-c", "2", "-t", "10", "--json", "--each"]),
                    stdout=-1, stderr=-1,
                )  # fmt: skip
                joined.set()
                out = await proc.stdout.receive_some(65536)  # type: ignore[union-attr]
                while proc.returncode is None and out.count(b"\n") < 2:
                    more = await proc.stdout.receive_some(65536)  # type: ignore[union-attr]
                    if not more:
                        break
                    out += more
                result["code"] = await proc.wait()
                result["out"] = out

            nursery.start_soon(receive)
            await joined.wait()
            await member_joined(a, "232.1.2.3")  # the command has joined
            for host in ("c", "b"):
                sent = await running.host(host).run(
                    [sys.executable, "-m", "mcast", "send", "232.1.2.3", "-p", "6000", "-i", "eth0",
                     "-c", "2", "--interval", "0.05"]
                )  # fmt: skip
                assert sent.returncode == 0
        assert result["code"] == 0
        out = result["out"]
        assert isinstance(out, bytes)
        lines = [json.loads(x) for x in out.decode().splitlines()]
        assert [x["source"] for x in lines] == [B4, B4]
        assert set(lines[0]) >= {
            "group",
            "source",
            "source_port",
            "port",
            "interface",
            "ifindex",
            "ttl",
            "length",
        }
        assert lines[0]["interface"] == "eth0" and lines[0]["port"] == 6000
        timeout = await b.run(
            [sys.executable, "-m", "mcast", "join", "239.1.1.9", "-p", "6001", "-i", "eth0",
             "-c", "1", "-t", "0.3"],
            check=False,
        )  # fmt: skip
        assert timeout.returncode == 3


async def test_show_joins_lists_the_memberships_with_mode_and_sources(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT) as rx:
        a = running.host("a")
        with a.inside():
            rx.join("232.5.5.5", "eth0", source=B4)
            rx.join("239.5.5.5", "eth0")
            rx.block("239.5.5.5", C4, "eth0")
            rx.join("ff3e::5", "eth0", source=B6)
        shown = json.loads(
            (await a.run([sys.executable, "-m", "mcast", "show", "joins", "--json"])).stdout
        )
        by_group = {j["group"]: j for j in shown}
        assert by_group["232.5.5.5"]["mode"] == "include" and by_group["232.5.5.5"]["sources"] == [
            B4
        ]
        assert by_group["239.5.5.5"]["mode"] == "exclude" and by_group["239.5.5.5"]["sources"] == [
            C4
        ]
        assert by_group["ff3e::5"]["mode"] == "include" and by_group["ff3e::5"]["sources"] == [B6]
        text = (
            await a.run([sys.executable, "-m", "mcast", "show", "joins", "-i", "eth0"])
        ).stdout.decode()
        assert "232.5.5.5" in text and "INCLUDE" in text


# --- iperf2 as an independent peer ---------------------------------------------


def iperf() -> str:
    path = shutil.which("iperf")
    assert path, "iperf (iperf2) is not installed: run the test command from the README"
    return path


async def test_iperf2_sender_reaches_our_ssm_receiver(lab) -> None:
    async with lab("lan") as running, open_receiver(5002) as rx:
        with running.host("a").inside():
            rx.join("232.10.10.10", "eth0", source=B4)
        for host in ("b", "c"):
            await running.host(host).run(
                [iperf(), "-c", "232.10.10.10", "-u", "-p", "5002", "-T", "1", "-t", "0.5",
                 "-b", "200k", "-l", "200"],
                check=False,
            )  # fmt: skip
        got = await collect(rx)
        assert got and sources_of(got) == {B4}
        assert all(len(d.payload) == 200 for d in got)


async def test_our_sender_reaches_an_iperf2_ssm_receiver(lab) -> None:
    async with lab("lan") as running:
        a = running.host("a")
        async with trio.open_nursery() as nursery:
            outcome: dict[str, bytes] = {}

            async def serve() -> None:
                done = await a.run(
                    ["timeout", "4", iperf(), "-s", "-u", "-B", "232.11.11.11%eth0", "-H", B4,
                     "-p", "5003", "-i", "1"],
                    check=False,
                )  # fmt: skip
                outcome["out"] = done.stdout + done.stderr

            nursery.start_soon(serve)
            await bound(a, 5003, "udp")
            # iperf2 reads its own header from the payload: send it iperf-shaped datagrams.
            header = struct.Struct("!iII")
            for sender in ("b", "c"):
                with running.host(sender).inside():
                    tx = open_sender("232.11.11.11", interface="eth0")
                with tx:
                    for seq in range(1, 40):
                        await tx.send(header.pack(seq, seq, 0) + bytes(188), "232.11.11.11", 5003)
                        await trio.sleep(0.01)  # time under test: a paced stream
        out = outcome["out"].decode(errors="replace")
        # iperf2 reports a connection from the included source only.
        assert f"connected with {B4}" in out, out
        assert C4 not in out, out


async def test_sending_without_loopback_and_by_interface_address(lab) -> None:
    async with lab("lan") as running, open_receiver(PORT) as rx:
        with running.host("b").inside():
            rx.join("239.12.0.1", "eth0")
            quiet = open_sender("239.12.0.1", interface=B4, loop=False)
            heard = open_sender("239.12.0.1", interface=B4, loop=True)
        with quiet:
            await quiet.send(b"not looped", "239.12.0.1", PORT)
        assert await collect(rx, 0.3) == []
        with heard:
            await heard.send(b"looped", "239.12.0.1", PORT)
        got = await collect(rx, 0.3)
        assert [d.payload for d in got] == [b"looped"] and got[0].source == B4


@pytest.mark.parametrize("batched", [True, False], ids=["recvmmsg", "recvmsg"])
async def test_a_measuring_receiver_counts_bursts_exactly(lab, monkeypatch, batched) -> None:
    """Bursts (many datagrams a read), read in batches with recvmmsg or one by
    one with recvmsg where the platform has no recvmmsg: the same numbers."""
    from ipv6 import batch
    from mcast.streams._streamheader import encode_iperf2, encode_toolkit

    if not batched:
        monkeypatch.setattr(batch, "recvmmsg_available", lambda: False)
    order = [n for n in range(200) if n not in (50, 51, 120)] + [100, 120]  # 50, 51 lost
    async with lab("lan") as running, open_receiver(PORT, measure="auto") as rx:
        with running.host("a").inside():
            rx.join("239.8.8.8", "eth0")
        toolkit = [encode_toolkit(3, n, time.time_ns(), 200) for n in order]
        await send_from(running, "b", "239.8.8.8", toolkit)
        iperf2 = [encode_iperf2(n, time.time_ns(), 60) for n in (1, 2, 3, 5, -6)]
        await send_from(running, "c", "239.8.8.8", iperf2)
        await collect(rx, 0.5)
    assert rx.streams is not None and rx.dropped == 0
    found = {r.source: r for r in rx.streams.reports()}
    ours, theirs = found[B4], found[C4]
    numbers = ("received", "lost", "reordered", "duplicates")
    assert [getattr(ours, k) for k in numbers] == [198, 2, 1, 1]
    assert (ours.stream, ours.format, ours.group, ours.bytes) == (
        3,
        "toolkit",
        "239.8.8.8",
        198 * 200,
    )
    low, high = ours.delay_ms.min, ours.delay_ms.max
    assert low is not None and high is not None and 0 <= low <= high < 1000
    assert [getattr(theirs, k) for k in numbers] == [4, 1, 0, 0]
    assert rx.streams.finals == 1
