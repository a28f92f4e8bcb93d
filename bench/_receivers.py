"""Receivers measured by bench/mcast_receive.py, one per process.

Run inside a lab host: ``python bench/_receivers.py MODE GROUP PORT SECONDS``.
Prints one JSON line: datagrams received, kernel drops, and the CPU seconds
(user + system) this process spent receiving.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import time


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def blocking(group: str, port: int, seconds: float, rcvbuf: int) -> dict[str, float]:
    """The baseline: a plain blocking recv loop, as a script would write it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setsockopt(socket.SOL_SOCKET, 40, 1)  # SO_RXQ_OVFL, to count drops the same way
    sock.bind(("0.0.0.0", port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(group) + socket.inet_aton("0.0.0.0"))  # fmt: skip
    sock.settimeout(0.5)
    print("ready", flush=True)
    received = 0
    started = None
    recv = sock.recv
    deadline = time.monotonic() + seconds + 30
    cpu0 = cpu()
    while time.monotonic() < deadline:
        try:
            recv(2048)
        except TimeoutError:
            if started is not None:
                break  # the sender has finished
            continue
        if started is None:
            started = time.monotonic()
        received += 1
    return {"received": received, "cpu": cpu() - cpu0, "dropped": _drops(sock)}


def _drops(sock: socket.socket) -> int:
    # One more datagram would carry the counter; read it from /proc instead.
    inode = str(__import__("os").fstat(sock.fileno()).st_ino)
    with open("/proc/thread-self/net/udp") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 12 and fields[9] == inode:
                return int(fields[12])
    return 0


def toolkit(
    group: str, port: int, seconds: float, rcvbuf: int, measure: str | None = None
) -> dict[str, float]:
    import trio

    from mcast import open_receiver

    async def main() -> dict[str, float]:
        async with open_receiver(port, rcvbuf=rcvbuf, pace=PACE, measure=measure) as rx:
            rx.join(group, "eth0")
            print("ready", flush=True)
            cpu0 = cpu()
            started = False
            while True:
                with trio.move_on_after(0.5 if started else seconds + 30) as scope:
                    await rx.receive_batch()
                    started = True
                if scope.cancelled_caught:
                    break
            result = {"received": rx.received, "cpu": cpu() - cpu0, "dropped": _sum_drops(rx)}
            if rx.streams is not None:  # what the statistics saw, for the record
                result["lost"] = sum(r.lost for r in rx.streams.reports())
            return result

    return trio.run(main)


def measuring(group: str, port: int, seconds: float, rcvbuf: int) -> dict[str, float]:
    """The toolkit's receiver with per-stream statistics on (iperf2's header)."""
    return toolkit(group, port, seconds, rcvbuf, measure="auto")


def _sum_drops(rx: object) -> int:
    socks = [slot.sock for slot in rx._slots]  # type: ignore[attr-defined]
    return sum(_drops(s) for s in socks)


PACE = float(__import__("os").environ.get("PACE", "0.0005"))


def awaiting(group: str, port: int, seconds: float, rcvbuf: int) -> dict[str, float]:
    """A Trio loop that awaits each datagram, as a first script would."""
    import trio

    async def main() -> dict[str, float]:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.bind(("0.0.0.0", port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        socket.inet_aton(group) + socket.inet_aton("0.0.0.0"))  # fmt: skip
        print("ready", flush=True)
        received, started = 0, False
        cpu0 = cpu()
        while True:
            with trio.move_on_after(0.5 if started else seconds + 30) as scope:
                await sock.recvfrom(2048)
                received += 1
                started = True
            if scope.cancelled_caught:
                break
        return {"received": received, "cpu": cpu() - cpu0, "dropped": 0}

    return trio.run(main)


def iperf2(group: str, port: int, seconds: float, rcvbuf: int) -> dict[str, float]:
    """iperf2's own receiver, as a child; its CPU time comes from RUSAGE_CHILDREN."""
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        ["iperf", "-s", "-u", "-B", f"{group}%eth0", "-p", str(port), "-l", "2048",
         *(["-w", str(rcvbuf)] if rcvbuf else []), "-y", "C"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    print("ready", flush=True)
    line = ""
    deadline = time.monotonic() + seconds + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.count(",") >= 12:
            break  # the server's report for the finished test
    proc.terminate()
    proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    fields = line.strip().split(",")
    lost, total = int(fields[10]), int(fields[11])
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"received": total - lost, "cpu": used, "dropped": lost, "reported_total": total}


def iperf2_default(group: str, port: int, seconds: float, rcvbuf: int) -> dict[str, float]:
    """iperf2's receiver as a user starts it: its own socket buffer (no -w)."""
    return iperf2(group, port, seconds, 0)


def join_command(group: str, port: int, seconds: float, rcvbuf: int) -> dict[str, float]:
    """``mcast join --json --quiet`` as a user runs it (its default buffer), measuring
    iperf2's header; the counts from its summary line."""
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "mcast", "join", group, "-p", str(port), "-i", "eth0",
         "--format", "iperf2", "--json", "--quiet", "-t", str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None and proc.stdout is not None
    while "joined" not in proc.stderr.readline():
        pass
    print("ready", flush=True)
    summary = json.loads(proc.stdout.read().strip().splitlines()[-1])
    proc.wait()
    (stream,) = summary["streams"]
    return {
        "received": stream["received"], "cpu": 0.0, "dropped": summary["kernel_drops"],
        "lost": stream["lost"], "buffer": summary["receive_buffer"],
    }  # fmt: skip


if __name__ == "__main__":
    mode, group, port, seconds, rcvbuf = (
        sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]),
    )  # fmt: skip
    modes = {
        "blocking": blocking,
        "toolkit": toolkit,
        "measuring": measuring,
        "awaiting": awaiting,
        "iperf2": iperf2,
        "iperf2-default": iperf2_default,
        "join-command": join_command,
    }
    result = modes[mode](group, port, seconds, rcvbuf)
    print(json.dumps(result), flush=True)
