"""PGM sessions while a hostile host on the LAN floods: malformed packets, data
of hundreds of forged sessions, data for another port, NAKs of unknown sessions
to the sender. The real session's receivers still get the file whole, the
sender still sends it, and every fault is counted by its reason."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any

import pytest
import trio

from tests.mcast.labs import joined
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root

GROUP = "239.192.0.10"
FLOOD = textwrap.dedent("""
    import json, os, random, socket, sys, time
    from ipaddress import IPv4Address
    from mcast.pgm._pgm import Data, Header, Nak, Options, PgmType, encode_pgm
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 113)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.9.0.4"))
    group, sender = sys.argv[1], sys.argv[2]
    rng = random.Random(7)
    sent = {"malformed": 0, "forged": 0, "other_port": 0, "naks": 0}
    started = time.monotonic()
    until = started + 3.0
    while time.monotonic() < until:
        for _ in range(50):  # random bytes: bad checksums, bad lengths, bad types
            sock.sendto(rng.randbytes(rng.randrange(0, 200)), (group, 0))
            sent["malformed"] += 1
        for _ in range(10):  # data of forged sessions, one packet each, to the session's port
            header = Header(rng.randrange(1, 65536), 7500, os.urandom(6))
            sock.sendto(encode_pgm(Data(header, 5, 0, b"x" * 100)), (group, 0))
            sent["forged"] += 1
        header = Header(4000, 7501, os.urandom(6))  # data for another port
        sock.sendto(encode_pgm(Data(header, 5, 0, b"y" * 100)), (group, 0))
        sent["other_port"] += 1
        nak = Nak(Header(7500, rng.randrange(1, 65536), os.urandom(6)), PgmType.NAK, 9,
                  IPv4Address(sender), IPv4Address(group), Options(nak_list=(10, 11)))
        sock.sendto(encode_pgm(nak), (sender, 0))  # NAKs of unknown sessions, to the sender
        sent["naks"] += 1
    print(json.dumps({**sent, "seconds": time.monotonic() - started}))
""")


async def test_a_flood_from_a_hostile_host_is_counted_and_the_file_arrives(
    lab, tmp_path, figures
) -> None:
    sent = tmp_path / "sent.bin"
    sent.write_bytes(os.urandom(4 << 20))
    outcome: dict[str, Any] = {}
    async with lab("pgm-lan") as running:

        async def receive(name: str) -> None:
            out = tmp_path / f"{name}.bin"
            done = await running.host(name).run([
                sys.executable, "-m", "mcast", "pgm", "recv", GROUP, "-p", "7500", "-i", "eth0",
                "-o", str(out), "--json", "--timeout", "30", "--expiry", "30",
            ], check=False)  # fmt: skip
            statistics = json.loads(done.stdout or b"{}")
            data = out.read_bytes() if out.exists() else b""
            outcome[name] = (done.returncode, done.stderr.decode(), statistics, data)

        async def flood() -> None:
            # The real session has started: the receivers took its first data.
            await wait_until(
                lambda: all(
                    (tmp_path / f"{name}.bin").exists()
                    and (tmp_path / f"{name}.bin").stat().st_size
                    for name in ("r1", "r2")
                ),
                "both receivers writing the session's data",
            )
            done = await running.host("r3").run([sys.executable, "-c", FLOOD, GROUP, "10.9.0.1"])
            outcome["flood"] = json.loads(done.stdout)

        async with trio.open_nursery() as nursery:
            for name in ("r1", "r2"):
                nursery.start_soon(receive, name)
            for name in ("r1", "r2"):
                await joined(running.host(name), GROUP)
            nursery.start_soon(flood)
            done = await running.host("s").run([
                sys.executable, "-m", "mcast", "pgm", "send", GROUP, str(sent), "-p", "7500",
                "-i", "eth0", "--rate", "8M", "--json", "--linger", "3"], check=False)  # fmt: skip
            assert done.returncode == 0, done.stderr.decode()
            sender = json.loads(done.stdout)
    flooded = outcome["flood"]
    for name in ("r1", "r2"):
        status, stderr, statistics, data = outcome[name]
        assert status == 0, stderr
        assert data == sent.read_bytes()
        faults = statistics["faults"]
        assert faults["malformed"] > 1000 and faults["other_port"] > 10, faults
        assert faults["too_many_sessions"] + faults.get("accept_queue_full", 0) > 100, faults
    assert sender["faults"]["other_session"] > 10, sender
    faults = outcome["r1"][2]["faults"]
    figures(
        "mcast pgm",
        "from a third host on the LAN during a 4 MB session: random bytes, data of forged "
        "sessions, data for another port, NAKs of unknown sessions to the sender, as fast as "
        "one Python sender goes",
        count=sum(v for k, v in flooded.items() if k != "seconds"),
        seconds=flooded["seconds"],
        held={
            "answers afterwards": "both receivers get the file whole, exit 0",
            "counters": ", ".join(f"{k} {v:,}" for k, v in sorted(faults.items()))
            + f"; sender: other_session {sender['faults']['other_session']:,}",
            "RSS growth": "- (one-shot commands)",
        },
    )
