"""The NAT64 translator and the DNS64 resolver under hostile traffic from lab
hosts (configs/lab/nat64.toml): junk of every length and protocol, bit flips,
floods of new sessions past the table's bound; both still answer, count every
packet they were handed, and hold their memory."""

from __future__ import annotations

import json
import random
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

PREFIX, POOL = "64:ff9b:1::/96", "203.0.113.0/28"
SERVER4, SERVER6 = "198.51.100.10", "64:ff9b:1::c633:640a"
GW6 = "2001:db8:64::1"
MAX_SESSIONS = 1000


async def tool(host, state: Path, *words: str):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6", *words]
    result = await host.run(command, check=False)
    assert result.returncode == 0, f"ipv6 {' '.join(words)}: {result.stderr.decode()}"
    return result


async def nat64_status(host, state: Path) -> dict[str, Any]:
    (row,) = json.loads((await tool(host, state, "nat64", "status", "--json")).stdout)
    return dict(row)


def device_counts(name: str) -> tuple[int, int]:
    """(handed to the translator, dropped in the device's full queue): the kernel's
    transmit counters of the TUN device (tun counts a packet sent when it is read),
    from this thread's namespace (psutil reads the process's)."""
    with open("/proc/thread-self/net/dev") as f:
        for line in f:
            if line.strip().startswith(f"{name}:"):
                fields = line.split(":", 1)[1].split()
                return int(fields[9]), int(fields[11])
    raise AssertionError(f"no device {name}")


async def settled(gw, state: Path) -> tuple[dict[str, Any], tuple[int, int]]:
    """The translator's status and the device's counters once nothing moves: the
    device handed over nothing while the status was written."""

    async def still() -> tuple[Any, Any] | None:
        first = await gw.run_sync(device_counts, "nat64")
        status = await nat64_status(gw, state)
        return (status, first) if await gw.run_sync(device_counts, "nat64") == first else None

    return await wait_until(still, "the translator's device to stand still", timeout=20,
                            every=0.5)  # fmt: skip


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv6 UDP packet, checksum computed (the translator moves it, and checks nothing)."""
    from ipv6._checksum import checksum

    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    length = 8 + len(payload)
    head = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + length.to_bytes(2, "big")
    pseudo = s + d + length.to_bytes(4, "big") + bytes([0, 0, 0, 17])
    csum = checksum(pseudo + head + b"\0\0" + payload) or 0xFFFF
    body = head + csum.to_bytes(2, "big") + payload
    return bytes([0x60, 0, 0, 0]) + len(body).to_bytes(2, "big") + bytes([17, 64]) + s + d + body


def throw_ipv6(src: str, seconds: float) -> int:
    """From the IPv6 side into the prefix: junk after a valid header for every next
    header and length, bit flips of a valid datagram, then new sessions for ``seconds``."""
    rng = random.Random(64)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, SERVER6)
    sent = 0
    with sock:
        for length in range(0, 1400, 3):
            nh = rng.choice([0, 6, 17, 43, 44, 47, 58, 60, 59, 132])
            payload = rng.randbytes(length)
            header = bytes([0x60, 0, 0, 0]) + length.to_bytes(2, "big") + bytes([nh, 64])
            sock.sendto(header + s + d + payload, (SERVER6, 0))
            sent += 1
        valid = udp_packet(src, SERVER6, 4000, 9, b"valid")
        for _ in range(3000):
            flipped = bytearray(valid)
            flipped[rng.randrange(40, len(flipped))] ^= 1 << rng.randrange(8)
            sock.sendto(bytes(flipped), (SERVER6, 0))
            sent += 1
        deadline = time.monotonic() + seconds
        port = 10000
        while time.monotonic() < deadline:
            for _ in range(200):
                port = 10000 + (port - 9999) % 50000
                sock.sendto(udp_packet(src, SERVER6, port, 9, b"new"), (SERVER6, 0))
            sent += 200
    return sent


def throw_ipv4(pool_address: str) -> int:
    """From the IPv4 side at the pool: random protocols and payloads, and UDP for
    ports no binding has."""
    rng = random.Random(4)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    with sock:
        for length in range(0, 1400, 3):
            proto = rng.choice([1, 6, 17, 47, 50, 132])
            payload = rng.randbytes(length)
            total = 20 + length
            header = bytearray(
                bytes([0x45, 0]) + total.to_bytes(2, "big") + b"\0\0\0\0" + bytes([64, proto])
                + b"\0\0" + socket.inet_aton(SERVER4) + socket.inet_aton(pool_address)
            )  # fmt: skip
            sock.sendto(bytes(header) + payload, (pool_address, 0))
            sent += 1
    return sent


@pytest.mark.parametrize(
    "plane", [pytest.param("ebpf", marks=pytest.mark.needs_feature("ebpf_tc")), "userspace"]
)
async def test_the_translator_counts_hostile_traffic_and_still_translates(
    lab, tmp_path: Path, figures, plane: str
) -> None:
    """On each plane. On the eBPF plane the kernel's program translates what it
    can of the remembered flows (bit flips of a datagram that went through, say)
    and leaves the rest to the service: the two together count every packet."""
    async with lab("nat64") as running:
        gw, h6, s4 = running.host("gw"), running.host("h6"), running.host("s4")
        await tool(
            gw, tmp_path, "nat64", "add", "nat64", "--prefix", PREFIX, "--pool", POOL,
            "--max-sessions", str(MAX_SESSIONS), "--udp-timeout", "2", "--plane", plane,
        )  # fmt: skip
        ping = await h6.run(["ping", "-c", "1", "-W", "3", SERVER6], check=False)
        assert ping.returncode == 0, ping.stdout
        pid = int(json.loads(next(tmp_path.glob("tunnels-*[0-9].json")).read_text())["service"])
        rss_before = psutil.Process(pid).memory_info().rss
        before, (handed_before, queue_before) = await settled(gw, tmp_path)
        pool_address = before["sessions"][0]["ipv4_pool"].split(":")[0]
        began = time.monotonic()
        sent = await h6.run_sync(throw_ipv6, "2001:db8:64::10", 8.0)
        # The IPv6 flood's backlog taken in first: the IPv4 side's few hundred packets
        # then find a queue with room, however slowly this machine worked through it.
        await settled(gw, tmp_path)
        sent += await s4.run_sync(throw_ipv4, pool_address)
        took = time.monotonic() - began
        after, (handed_after, queue_after) = await settled(gw, tmp_path)

        # Still translates, once the flood's sessions have timed out (2 s here) and
        # the full table takes new ones again.
        async def answers() -> bool:
            pinged = await h6.run(["ping", "-c", "1", "-W", "1", SERVER6], check=False)
            return bool(pinged.returncode == 0)

        await wait_until(answers, "the server to answer through NAT64 again", timeout=15,
                         every=0.5)  # fmt: skip
        rss_growth = psutil.Process(pid).memory_info().rss - rss_before

    def counted(row: dict[str, Any]) -> int:
        c = row["counters"]
        translated = c["to_ipv4_packets"] + c["to_ipv6_packets"] + c["fragments_released"]
        held = c["fragments_held"] + c["syns_held"]
        return int(translated + held + sum(row["drops"].values()))

    def in_kernel(row: dict[str, Any]) -> tuple[int, int]:
        """(translated or dropped by the kernel's program, left by it to the device)."""
        k = row.get("kernel_plane") or {}
        kept = sum(k.get(n, 0) for n in ("to_ipv4_packets", "to_ipv6_packets", "rewrite_failed"))
        return kept, k.get("to_userspace", 0)

    # Every packet the kernel handed the translator is counted once: translated,
    # dropped by reason, or held (a fragment ahead of its datagram's first, an
    # IPv4 SYN that no session took, for 6 s); on the eBPF plane, with what its
    # program translated without handing it over.
    handed = handed_after - handed_before
    queue_lost = queue_after - queue_before
    kernel_translated = in_kernel(after)[0] - in_kernel(before)[0]
    assert counted(after) - counted(before) == handed + kernel_translated, (
        handed,
        kernel_translated,
        counted(after) - counted(before),
        after["drops"],
        after["counters"],
    )
    assert after["plane_running"] == plane, after["plane_reason"]
    if plane == "ebpf":
        # What the program left went into the device: read, or lost in its queue.
        assert in_kernel(after)[1] - in_kernel(before)[1] == handed + queue_lost
        assert kernel_translated > 0  # the bit flips of a remembered datagram, at least
    assert after["kernel_dropped"] - before["kernel_dropped"] == queue_lost  # shown in status
    assert after["session_count"] <= MAX_SESSIONS
    assert after["drops"].get("session_limit", 0) > 1000
    assert after["drops"].get("no_binding", 0) > 100  # the IPv4 side found no binding
    assert rss_growth < 40 << 20, rss_growth
    figures(
        f"NAT64 translator ({plane} plane)",
        "IPv6 into the prefix: random payloads after a valid header for 10 next headers and "
        "every 3rd length to 1,400 bytes, 3,000 bit flips of a UDP datagram, then new UDP "
        f"sessions for 8 s against --max-sessions {MAX_SESSIONS}; IPv4 at a pool address: "
        "random protocols and payloads",
        count=sent,
        seconds=took,
        held={
            "answers afterwards": "ping through the NAT64 once the flood's sessions timed out",
            "counters": f"translated + dropped by reason + held = {handed:,} handed over by "
            f"the kernel (its TUN counters) + {kernel_translated:,} translated by the eBPF "
            f"program, {queue_lost:,} more lost in the device's full "
            f"queue (the kernel's count); sessions held at {after['session_count']} of "
            f"{MAX_SESSIONS}",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )


def throw_dns(server: str, seconds: float) -> int:
    """Junk datagrams of every length to 512, bit flips of a query, responses, then
    a flood of queries for ``seconds``."""
    import dns.message

    rng = random.Random(53)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sent = 0
    with sock:
        # The kinds first, paced (a pause every 50) so that the queue holds them all
        # and each is counted by kind; then the flood, as fast as one sender goes.
        for length in range(0, 513):
            sock.sendto(rng.randbytes(length), (server, 53))
            sent += 1
            if sent % 50 == 0:
                time.sleep(0.005)  # time under test: a pace the queue keeps up with
        query = dns.message.make_query("server.lab.example", "AAAA").to_wire()
        for _ in range(2000):
            flipped = bytearray(query)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            sock.sendto(bytes(flipped), (server, 53))
            sent += 1
            if sent % 50 == 0:
                time.sleep(0.005)  # time under test: a pace the queue keeps up with
        response = dns.message.make_response(dns.message.make_query("x.example", "A")).to_wire()
        for _ in range(100):
            sock.sendto(response, (server, 53))
            sent += 1
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(100):
                sock.sendto(query, (server, 53))
            sent += 100
    return sent


def udp_drops(port: int) -> int:
    """What the kernel dropped for the UDP sockets on ``port`` (full queues)."""
    total = 0
    for table in ("/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    total += int(fields[-1])
    return total


def hold_tcp(server: str, count: int) -> list[socket.socket]:
    """``count`` TCP connections to the resolver, opened and left silent."""
    held = []
    for _ in range(count):
        sock = socket.create_connection((server, 53), timeout=5)
        held.append(sock)
    return held


async def test_the_dns64_resolver_counts_hostile_queries_and_still_answers(
    lab, tmp_path: Path, figures
) -> None:
    zone = tmp_path / "lab.zone"
    zone.write_text(
        "$ORIGIN lab.example.\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n"
        "@ IN NS ns\nns IN AAAA 2001:db8:64::1\nserver IN A 198.51.100.10\n"
    )
    async with lab("nat64") as running:
        gw, h6 = running.host("gw"), running.host("h6")
        log = tmp_path / "dns64.out"
        command = (
            f"exec {sys.executable} -m ipv6 dns64 --prefix {PREFIX} --zone {zone} "
            f"--listen {GW6} --json --duration 60 > {log}"
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gw.run, ["sh", "-c", command])
            await wait_until(lambda: "listening" in (log.read_text() if log.exists() else ""),
                             "the DNS64 to listen", timeout=10)  # fmt: skip
            process = next(
                p for p in psutil.process_iter(["cmdline"])
                if "dns64" in (p.info["cmdline"] or []) and str(zone) in p.info["cmdline"]
            )  # fmt: skip
            rss_before = process.memory_info().rss
            kernel_before = await gw.run_sync(udp_drops, 53)
            began = time.monotonic()
            held = await h6.run_sync(hold_tcp, GW6, 80)  # more than the 64 it serves at once
            sent = await h6.run_sync(throw_dns, GW6, 5.0)
            took = time.monotonic() - began

            async def answered() -> bool:  # asked again while the flood's backlog drains
                dig = ["dig", "+short", "+tries=1", "AAAA", "server.lab.example", f"@{GW6}"]
                return bool((await h6.run(dig, check=False)).stdout.split() == [SERVER6.encode()])

            await wait_until(answered, "DNS64 to answer a name after the flood")
            for sock in held:
                sock.close()
            kernel_lost = await gw.run_sync(udp_drops, 53) - kernel_before
            rss_growth = process.memory_info().rss - rss_before
            process.send_signal(15)  # SIGTERM: it stops and writes its counters
        lines = [json.loads(x) for x in log.read_text().splitlines()]
    (counters,) = [x for x in lines if x.get("event") == "counters"]
    dropped = counters["dropped"]
    seen = counters["queries"] + dropped.get("malformed", 0) + dropped.get("not_a_query", 0)
    seen += dropped.get("busy", 0)
    # Every datagram sent is counted by the resolver, or by the kernel as lost in
    # its queue; dig's closing query is one more.
    assert seen - 1 <= sent <= seen - 1 + kernel_lost, (sent, counters, kernel_lost)
    assert dropped.get("malformed", 0) > 300 and dropped.get("not_a_query", 0) >= 100, dropped
    assert dropped.get("tcp_busy", 0) >= 1  # the connections past 64 were closed at once
    assert rss_growth < 40 << 20, rss_growth
    figures(
        "DNS64 resolver",
        "UDP: random datagrams of every length 0 to 512 bytes, 2,000 bit flips of a query, "
        "100 responses, then a flood of queries for 5 s; 80 TCP connections held open",
        count=sent,
        seconds=took,
        held={
            "answers afterwards": "dig AAAA through DNS64",
            "counters": f"queries + malformed + not a query + busy, plus {kernel_lost:,} lost "
            "in the socket queue (the kernel's count) = sent",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )
