"""Lab files and helpers shared by the multicast lab tests."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import trio

from tests.waiting import bound, stderr_says, wait_until

# Host a retransmits its unsolicited reports at once (10 ms), so each change's
# messages, robustness retransmissions included, are all on the wire before
# the next step; {v4} and {v6} force an IGMP and MLD version (0: the newest).
QUICK_REPORTS = """
[hosts.a]
sysctls = {{ force_igmp_version = {v4}, force_mld_version = {v6} }}
[hosts.b]
[[links]]
name = "l"
[[links.endpoints]]
host = "a"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]
dad = false
[links.endpoints.sysctls]
"ipv4.igmpv3_unsolicited_report_interval" = 10
"ipv4.igmpv2_unsolicited_report_interval" = 10
"ipv6.mldv2_unsolicited_report_interval" = 10
"ipv6.mldv1_unsolicited_report_interval" = 10
[[links.endpoints]]
host = "b"
addresses = ["10.0.0.2/24", "2001:db8::2/64"]
dad = false
"""


async def output_while(
    host: Any, argv: list[str], during: Any, *, ready: Any = None, says: bytes | None = None
) -> Any:
    """Run ``argv`` in lab ``host``; once it is ready (``await ready()`` returns, or it
    said ``says`` on stderr), await ``during()``; then wait for ``argv`` to end. Its
    exit status and everything it printed on stdout."""
    process = await trio.lowlevel.open_process(host.argv(argv), stdout=-1, stderr=-1)
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout, process.stderr
    out = b""
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            nonlocal out
            while chunk := await stdout.receive_some(65536):
                out += chunk

        async def drain() -> None:
            while await stderr.receive_some(65536):
                pass

        nursery.start_soon(read)
        if says is not None:
            await stderr_says(stderr, says, argv[0])
        nursery.start_soon(drain)
        if ready is not None:
            await ready()
        await during()
        await process.wait()
    return process.returncode, out


# -- the routed lab (configs/lab/routed-multicast.toml) --------------------------


async def joined(host: Any, group: str, interface: str = "eth0") -> None:
    """Until the kernel of ``host`` lists ``group`` on ``interface``: a receiver
    started there has joined (under load a command may take seconds to)."""

    async def listed() -> bool:
        shown = await host.run(["ip", "maddr", "show", "dev", interface])
        return group in shown.stdout.decode()

    await wait_until(listed, f"{group} joined on {interface}")


async def address_ready(host: Any, address: str, interface: str = "eth0") -> None:
    """Until ``address`` on ``host`` can be used (an IPv6 one past its DAD)."""

    async def usable() -> bool:
        shown = (await host.run(["ip", "addr", "show", "dev", interface])).stdout.decode()
        line = next((w for w in shown.splitlines() if f" {address}/" in w), "")
        return bool(line) and "tentative" not in line

    await wait_until(usable, f"{address} usable on {interface}")


async def udp_bound(host: Any, port: int, sockets: int = 1) -> None:
    await bound(host, port, "udp", sockets)


async def routing_daemon_ready(host: Any, interfaces: tuple[str, ...] = ()) -> None:
    """Until a routing daemon (smcroute, say) holds ``host``'s IPv4 routing socket (a
    raw IGMP socket is open: MRT_INIT follows it at once) and has given the kernel a
    slot for each of ``interfaces``."""

    async def ready() -> bool:
        raw = (await host.run(["cat", "/proc/net/raw"])).stdout.decode()
        held = any(line.split()[1].endswith(":0002") for line in raw.splitlines()[1:])
        vifs = (await host.run(["cat", "/proc/net/ip_mr_vif"], check=False)).stdout.decode()
        return held and all(f" {name} " in f" {vifs} " for name in interfaces)

    await wait_until(ready, "the routing daemon's socket and interfaces")


async def mcast(host: Any, *args: str, check: bool = True) -> Any:
    """``python -m mcast ARGS`` in a lab host; its exit status must be 0 when ``check``."""
    done = await host.run([sys.executable, "-m", "mcast", *args], check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


async def arrivals(
    running: Any, group: str, *, ttl: int, source: str | None = None, member: str = "m1"
) -> list[int]:
    """The TTLs of what reaches ``member`` (joined for 2 s, any source) when s sends
    three datagrams to ``group`` from ``source`` (else its own address)."""
    m1, s = running.host(member), running.host("s")
    listen = [sys.executable, "-m", "mcast", "join", group, "-p", "7000", "-i", "eth0",
              "-t", "2", "--each", "--json"]  # fmt: skip

    async def send() -> None:
        chosen = ["--source", source] if source else []
        await mcast(s, "send", group, "-p", "7000", "-i", "eth0", "--ttl", str(ttl), "--count",
                    "3", "--interval", "0.05", "-q", *chosen)  # fmt: skip

    _, out = await output_while(m1, listen, send, ready=lambda: joined(m1, group))
    return [json.loads(line)["ttl"] for line in out.decode().splitlines() if '"ttl"' in line]


async def frames_at(
    host: Any,
    capture_filter: str,
    during: Any,
    *,
    seconds: float = 6,
    fields: str = "frame.number",
    interface: str = "eth0",
) -> list[str]:
    """A line of tshark ``fields`` (comma-separated names; the values of one frame
    tab-separated) per frame matching ``capture_filter`` on ``host``'s ``interface``
    while ``during`` runs (once tshark says it captures; stopped after ``seconds``)."""
    capture = ["tshark", "-i", interface, "-l", "-f", capture_filter, "-a",
               f"duration:{seconds}", "-T", "fields"]  # fmt: skip
    for name in fields.split(","):
        capture += ["-e", name]
    status, out = await output_while(host, capture, during, says=b"Capturing on")
    assert status == 0, f"tshark -f {capture_filter!r} failed"
    return [line for line in out.decode().splitlines() if line.strip()]


# -- a service under test: started, asked for its counters, stopped ------------


async def start(host: Any, tmp_path: Path, *command: str) -> tuple[trio.Process, Path, Path]:
    out, err = tmp_path / "out", tmp_path / "err"
    argv = host.argv([sys.executable, "-m", "mcast", *command])
    with open(out, "wb") as o, open(err, "wb") as e:
        process = await trio.lowlevel.open_process(argv, stdout=o, stderr=e)
    await wait_until(err.read_text, "its first line (it is set up)", timeout=15)
    return process, out, err


async def stop(process: trio.Process) -> int:
    process.send_signal(signal.SIGINT)
    with trio.fail_after(15):
        return await process.wait()


def last_counters(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        if line.startswith("counters: "):
            return dict(json.loads(line.removeprefix("counters: ")))
        if line.startswith("{") and '"event": "counters"' in line:
            return dict(json.loads(line))
    raise AssertionError(f"no counters in {text[-2000:]!r}")


async def settled(read: Any, mark: Any) -> dict[str, Any]:
    """A service's counters once it has taken in what was sent to it: two readings
    (``await read()``) 0.2 s apart agree on ``mark(counters)``. A deadline, not a
    guess at how long a loaded machine takes."""
    readings = [await read()]

    async def agreed() -> dict[str, Any] | None:
        readings.append(await read())
        now, last = readings[-1], readings[-2]
        return dict(now) if mark(now) == mark(last) else None

    await trio.sleep(0.2)  # time under test: the two readings are 0.2 s apart
    return await wait_until(agreed, "two readings 0.2 s apart to agree", timeout=60, every=0.2)


async def counters_now(process: Any, out: Path) -> dict[str, Any]:
    before = out.read_text().count('"event": "counters"')
    process.send_signal(signal.SIGUSR1)
    await wait_until(lambda: out.read_text().count('"event": "counters"') > before,
                     "the counters asked for", timeout=10)  # fmt: skip
    return last_counters(out.read_text())
