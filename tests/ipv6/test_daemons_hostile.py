"""The toolkit's daemons (netsh's router advertiser, the tunnel service) under
signals at start-up, hostile solicitations, interface removal and SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sys
from pathlib import Path

import psutil
import pytest
import trio

from ipv6 import _daemon
from ipv6.netsh._store import ADVERTISER, advertiser_log
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

SETUP = """\
pushd interface ipv6
add route 2001:db8:77::/64 eth0 publish=yes
set interface eth0 forwarding=enabled advertise=enabled
popd
"""
RS_HEADER = bytes([133, 0, 0, 0, 0, 0, 0, 0])


async def netsh(host, state: Path, *words: str):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6.cli.netsh", *words]
    return await host.run(command, check=False)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def wait_for_line(path: Path, text: str, seconds: float = 10.0) -> str:
    def found() -> str | None:
        lines = [line for line in log_lines(path) if text in line]
        return lines[-1] if lines else None

    return str(await wait_until(found, f"{text!r} in {path}", timeout=seconds))


async def terminate(process) -> None:
    """SIGTERM, and then status requests and reloads (SIGUSR1, SIGHUP) as fast as
    they go until it has stopped: none of them may end it otherwise than SIGTERM."""
    process.terminate()
    with trio.fail_after(10):
        n = 0
        while process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGHUP if n % 2 else signal.SIGUSR1)
            n += 1
            if n % 50 == 0:
                await trio.sleep(0.001)  # a checkpoint in the storm, not a wait


def storm(pid: int, count: int = 400) -> int:
    """SIGHUP and SIGUSR1, alternately, as fast as they go, from the moment of the spawn."""
    sent = 0
    for n in range(count):
        try:
            os.kill(pid, signal.SIGHUP if n % 2 else signal.SIGUSR1)
        except ProcessLookupError:
            break
        sent += 1
    return sent


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """netsh's and the tunnels' state for this test only (inherited by what it starts)."""
    monkeypatch.setenv("NETSH_STATE_DIR", str(tmp_path))
    return tmp_path


async def test_a_signal_storm_while_the_advertiser_starts_does_not_kill_it(
    lab, state: Path, figures
) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        log = a.call(advertiser_log, "eth0")
        process = a.call(_daemon.spawn, ADVERTISER, ("eth0",), log)
        try:
            assert storm(process.pid) == 400  # none of them ended it
            await wait_for_line(log, "started")
            await trio.sleep(0.5)  # time under test: it still runs half a second after the storm
            assert process.poll() is None, log_lines(log)
            process.send_signal(signal.SIGUSR1)
            counters = await wait_for_line(log, "counters:")
            assert "advertisements sent" in counters
        finally:
            await terminate(process)
        assert process.returncode == 0, log_lines(log)
        assert "stopped (exit status 0)" in log_lines(log)[-1]
    figures(
        "netsh router advertiser",
        "SIGHUP and SIGUSR1, alternately, from the moment it is spawned",
        count=400,
        seconds=0.0,
        held={
            "answers afterwards": "runs; counters on SIGUSR1; exit 0 on SIGTERM",
            "counters": "-",
            "RSS growth": "-",
        },
    )


async def test_a_signal_storm_while_the_tunnel_service_starts_does_not_kill_it(
    lab, state: Path, figures
) -> None:
    from ipv6.tunnel import _registry
    from ipv6.tunnel._control import SERVICE

    async with lab("two-hosts") as running:
        a = running.host("a")
        log = a.call(_registry.log_path)
        status = a.call(_registry.status_path)
        process = a.call(_daemon.spawn, SERVICE, (), log)
        try:
            assert storm(process.pid) == 400
            await wait_for_line(log, "started")
            # it reads the (empty) registry and reports
            await wait_until(status.exists, "its first status file", timeout=10)
            await trio.sleep(0.5)  # time under test: it still runs half a second after the storm
            assert process.poll() is None, log_lines(log)
        finally:
            await terminate(process)
        assert process.returncode == 0, log_lines(log)
    figures(
        "tunnel service",
        "SIGHUP and SIGUSR1, alternately, from the moment it is spawned",
        count=400,
        seconds=0.0,
        held={
            "answers afterwards": "runs; writes its status; exit 0 on SIGTERM",
            "counters": "-",
            "RSS growth": "-",
        },
    )


def test_why_stopped_names_the_signal_and_the_log(tmp_path: Path) -> None:
    """A daemon killed outright (SIGKILL) cannot speak: the parent names the signal,
    and the reader is told it left no last words, with where its log is."""
    log = tmp_path / "d.log"
    process = _daemon.spawn("ipv6.tunnel._service_absent_module", (), log)
    process.wait(timeout=30)
    why = _daemon.why_stopped(log, process.pid, process)
    assert why.startswith("exit status 1;") and str(log) in why, why
    sleeper = _daemon.spawn("http.server", ("0", "--bind", "127.0.0.1"), log)
    try:
        with open(log, "a") as f:  # as run_daemon would have written
            f.write(f"2026-01-01 00:00:00 x[{sleeper.pid}]: started\n")
    finally:
        sleeper.kill()
    why = _daemon.why_stopped(log, sleeper.pid, sleeper)
    assert why.startswith("killed by SIGKILL;") and "no last words" in why, why


def send_solicitations(seconds: float) -> dict[str, int]:
    """Junk, truncated, bit-flipped and forwarded-looking solicitations to ff02::2."""
    sent = {"valid": 0, "junk": 0, "bad_hop_limit": 0}
    rng = random.Random(7)
    index = socket.if_nametoindex("eth0")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    target = ("ff02::2", 0, 0, index)
    # This host's own address (psutil asks the kernel from this thread, which is
    # inside the host; /sys/class/net would show the root namespace's links).
    link = next(a for a in psutil.net_if_addrs()["eth0"] if a.family == psutil.AF_LINK)
    mac = bytes.fromhex(link.address.replace(":", ""))
    import time

    deadline = time.monotonic() + seconds
    n = 0
    with sock:
        # Every length from the bare header up to a full Ethernet frame's worth, then
        # every 7th up to the most IPv6 carries (sent as fragments, reassembled there).
        for length in [*range(4, 1453), *range(1453, 65528, 7)]:
            body = RS_HEADER[:4] + rng.randbytes(length - 4)
            sock.sendto(body, target)
            sent["junk"] += 1
        while time.monotonic() < deadline:
            n += 1
            if n % 100 == 0:  # from a router's distance: hop limit 64, to be ignored
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 64)
                sock.sendto(RS_HEADER, target)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
                sent["bad_hop_limit"] += 1
            elif n % 2:
                # Bits flipped in the header and the option's type and length, not in
                # the link-layer address itself: a router takes that address into its
                # neighbour cache (RFC 4861 6.2.6), so a random one would poison the
                # kernel's entry for this host, which no advertiser can help.
                flipped = bytearray(RS_HEADER + b"\x01\x01" + mac)
                flipped[rng.randrange(4, 10)] ^= 1 << rng.randrange(8)
                sock.sendto(bytes(flipped), target)
                sent["junk"] += 1
            else:
                sock.sendto(RS_HEADER, target)
                sent["valid"] += 1
    return sent


async def start_advertising(host, state: Path, ready: str = "started") -> tuple[Path, int]:
    """netsh's SETUP in ``host``: its advertiser's log, and its pid once ``ready`` is logged."""
    script = state / "setup.txt"
    script.write_text(SETUP)
    done = await netsh(host, state, "-f", str(script))
    assert done.returncode == 0, done.stderr
    log = host.call(advertiser_log, "eth0")
    return log, int((await wait_for_line(log, ready)).split("[")[1].split("]")[0])


def counted(line: str, name: str, end: str = ",") -> int:
    return int(line.split(f"{name} ")[1].split(end, maxsplit=1)[0].split(";", maxsplit=1)[0])


async def test_the_advertiser_survives_a_solicitation_flood_and_still_answers(
    lab, state: Path, figures
) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        log, pid = await start_advertising(a, state, "answering router solicitations")
        rss_before = psutil.Process(pid).memory_info().rss
        backlog_before = softnet_drops()
        reassembly_before = await a.run_sync(reassembly_failures, "Ip6ReasmFails")
        sent = await b.run_sync(send_solicitations, 10.0)
        lost_in_backlog = softnet_drops() - backlog_before
        lost_in_backlog += await a.run_sync(reassembly_failures, "Ip6ReasmFails")
        lost_in_backlog -= reassembly_before
        # A well-formed solicitation still gets its answer (rdisc6 as the client).
        answer = await b.run(["rdisc6", "-1", "-w", "3000", "eth0"], check=False)
        said = sum("counters:" in x for x in log_lines(log))
        os.kill(pid, signal.SIGUSR1)
        await wait_until(lambda: sum("counters:" in x for x in log_lines(log)) > said,
                         "the counters asked for in its log")  # fmt: skip
        line = [x for x in log_lines(log) if "counters:" in x][-1]
        queue_drops = await a.run_sync(icmpv6_socket_drops)
        assert "2001:db8:77::/64" in answer.stdout.decode(), (answer, line)
        rss_growth = psutil.Process(pid).memory_info().rss - rss_before
        assert _daemon.alive(pid, ADVERTISER)
        done = await netsh(
            a, state, "int", "ipv6", "set", "interface", "eth0", "advertise=disabled"
        )
        assert done.returncode == 0, done.stderr
    flood = sum(sent.values())  # and rdisc6's one to three (it stops at the first answer)
    solicitations = counted(line, "solicitations")
    answered = counted(line, "answered")
    limited = counted(line, "rate-limited", ";")
    dropped = counted(line, "dropped by the kernel", ";")
    ignored = line.split("ignored: ")[1].split(";")[0]
    ignored_total = sum(int(part.split()[-1]) for part in ignored.split(", ") if part != "none")
    # Everything the kernel delivered is accounted for: received, or dropped at
    # the socket's queue, or lost before, in the backlog. The socket's drops are
    # the kernel's own count (the oracle), next to what the advertiser learnt of
    # them with SO_RXQ_OVFL.
    assert 0 < dropped <= queue_drops, (line, queue_drops)
    assert solicitations + queue_drops <= flood + 3, (line, queue_drops)
    assert flood + 1 <= solicitations + queue_drops + lost_in_backlog, (line, queue_drops)
    assert answered + limited + ignored_total == solicitations, line
    # Those sent with hop limit 64 that were not lost in the queue are ignored as such.
    forwarded = int(ignored.split("hop_limit_not_255 ")[1].split(",")[0])
    assert 0 < forwarded <= sent["bad_hop_limit"], line
    assert answered >= 1 and limited > 0, line
    assert rss_growth < 20 << 20, rss_growth
    figures(
        "netsh router advertiser",
        "router solicitations: every length to 1,452 bytes and every 7th to 65,527 (in "
        "fragments), bit flips in header and options, hop limit 64, valid ones, as fast as "
        "one Python sender goes",
        count=flood,
        seconds=10.0,
        held={
            "answers afterwards": "rdisc6 gets its advertisement",
            "counters": f"received {solicitations:,} + dropped in the socket queue "
            f"{queue_drops:,} = sent (backlog and reassembly drops {lost_in_backlog}); "
            f"answered {answered}, "
            f"rate-limited {limited:,}, ignored {ignored_total:,}",
            "RSS growth": f"{rss_growth / 2**20:.1f} MB",
        },
    )


def icmpv6_socket_drops() -> int:
    """Drops of this host's raw ICMPv6 sockets, as /proc says (the advertiser's is the one)."""
    with open("/proc/thread-self/net/raw6") as f:
        rows = [line.split() for line in f][1:]
    return sum(int(row[-1]) for row in rows if row[1].endswith(":003A"))


def reassembly_failures(counter: str) -> int:
    """Fragmented packets this host could not put together again (its /proc/net/snmp6)."""
    with open("/proc/thread-self/net/snmp6") as f:
        return next(int(line.split()[1]) for line in f if line.split()[0] == counter)


def softnet_drops() -> int:
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f)


async def test_the_advertiser_stops_with_one_line_when_its_interface_goes(lab, state: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        log, pid = await start_advertising(a, state)
        await a.run(["ip", "link", "del", "eth0"])
        os.kill(pid, signal.SIGHUP)  # advertise now: it finds the interface gone
        last = await wait_for_line(log, "stopped")
        assert "stopped: interface eth0 is gone (deleted, or renamed)" in last, log_lines(log)
        await wait_until(lambda: not _daemon.alive(pid, ADVERTISER), "the advertiser to end",
                         timeout=5)  # fmt: skip


async def test_an_interface_gone_before_the_advertisers_socket_is_made(monkeypatch) -> None:
    """The interface goes after the advertiser looked it up but before its socket
    is bound to it (CI saw this: the kernel's ENODEV was its last word)."""
    from ipv6.netsh import _advertiser

    monkeypatch.setattr(_advertiser, "read_advertisement", lambda ifname: (None, 2**31 - 1))
    with pytest.raises(_advertiser.InterfaceGone):
        await _advertiser.advertise("gone-if0")


def test_a_daemon_just_spawned_counts_as_running_for_the_command_that_spawned_it(
    tmp_path: Path,
) -> None:
    """For a moment after exec, /proc/PID/cmdline is still empty (about 3 % of
    spawns here), so the command that spawned the service asks the process."""
    from ipv6._supervise import Service

    service = Service("a web server", "http.server", "web", ("0", "--bind", "127.0.0.1"))
    for _ in range(100):
        process = _daemon.spawn(service.module, service.args, tmp_path / "log")
        try:
            assert service.running(process.pid, process)
        finally:
            process.kill()
            process.wait()
        assert not service.running(process.pid, process)


async def test_netsh_shows_why_an_advertiser_stopped(lab, state: Path) -> None:
    async with lab("two-hosts") as running:
        a = running.host("a")
        log, pid = await start_advertising(a, state)

        async def shown() -> dict[str, object]:
            done = await netsh(a, state, "int", "ipv6", "show", "interfaces", "eth0", "--json")
            assert done.returncode == 0, done.stderr
            (row,) = json.loads(done.stdout)
            return dict(row)

        assert (await shown())["advertiser"] == "running"
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: not _daemon.alive(pid, ADVERTISER), "the advertiser to end",
                         timeout=5)  # fmt: skip
        why = str((await shown())["advertiser"])
        assert why.startswith("stopped: it left no last words (killed by SIGKILL"), why
        assert str(log) in why
        done = await netsh(
            a, state, "int", "ipv6", "set", "interface", "eth0", "advertise=disabled"
        )
        assert done.returncode == 0, done.stderr
