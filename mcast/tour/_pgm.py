"""Tour scene: a file to two receivers with PGM (RFC 3208), one of them behind a
lossy link, repaired through NAKs and on-demand FEC parity (RM_USE_FEC); on
loopback, the pure machines in memory."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import trio

from ..pgm._pgm import decode_pgm_untrusted, encode_pgm
from ..pgm._pgmreceiver import Deliver, Receiver, ReceiverConfig, SendNak
from ..pgm._pgmsource import Source, SourceConfig
from ._stage import Stage

GROUP = "239.192.0.77"


async def reliable_file(stage: Stage) -> bool:
    if stage.lab is None:
        return _in_memory(stage)
    from ipv6.capabilities import has

    hosts = {name: stage.lab.host(name) for name in ("a", "b", "c")}
    drop = ["INPUT", "-p", "113", "-m", "statistic", "--mode", "random", "--probability",
            "0.05", "-j", "DROP"]  # fmt: skip
    lossy = has("statistic")
    if lossy:
        await hosts["c"].run(["iptables", "-A", *drop])
    outcome: dict[str, tuple[int, dict[str, int], str]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="tour-pgm-") as work:
            sent = Path(work) / "file.bin"
            sent.write_bytes(os.urandom(2_000_000))

            async def receive(name: str) -> None:
                out = Path(work) / f"{name}.bin"
                done = await hosts[name].run([
                    sys.executable, "-m", "mcast", "pgm", "recv", GROUP, "-p", "7500",
                    "-i", "eth0", "-o", str(out), "--json", "--timeout", "20", "--expiry", "20",
                ], check=False)  # fmt: skip
                digest = hashlib.sha256(out.read_bytes()).hexdigest() if out.exists() else ""
                outcome[name] = (done.returncode, json.loads(done.stdout or b"{}"), digest)

            if lossy:
                stage.say("c drops 5 % of what PGM brings it (iptables); a sends a 2 MB file "
                          "to the group with on-demand FEC (parity over groups of 16 packets, "
                          "which receivers ask for and rebuild their losses from), b and c "
                          "receive:")  # fmt: skip
            else:
                stage.say(
                    "This kernel has no iptables statistic match "
                    "(CONFIG_NETFILTER_XT_MATCH_STATISTIC), so nothing is dropped on "
                    "purpose: a sends a 2 MB file to the group, b and c receive:"
                )
            stage.show([
                f"b, c$ mcast pgm recv {GROUP} -p 7500 -i eth0 -o copy.bin --json",
                f"a$ mcast pgm send {GROUP} file.bin -p 7500 -i eth0 --rate 20M "
                "--fec 16/32 --ondemand",
            ])  # fmt: skip
            async with trio.open_nursery() as nursery:
                for name in ("b", "c"):
                    nursery.start_soon(receive, name)
                await trio.sleep(1.0)
                done = await hosts["a"].run([
                    sys.executable, "-m", "mcast", "pgm", "send", GROUP, str(sent), "-p", "7500",
                    "-i", "eth0", "--rate", "20M", "--linger", "2", "--json", "--fec", "16/32",
                    "--ondemand",
                ], check=False)  # fmt: skip
            expected = hashlib.sha256(sent.read_bytes()).hexdigest()
    finally:
        if lossy:
            await hosts["c"].run(["iptables", "-D", *drop], check=False)
    sender = json.loads(done.stdout or b"{}")
    stage.show([f"a: {sender.get('data_sent', 0)} packets, {sender.get('naks_received', 0)} "
                f"NAKs received, {sender.get('repairs_sent', 0)} repairs and "
                f"{sender.get('parity_repairs_sent', 0)} parity packets sent"])  # fmt: skip
    whole = True
    for name in ("b", "c"):
        status, stats, digest = outcome.get(name, (-1, {}, ""))
        same = digest == expected
        whole = whole and status == 0 and same
        stage.show([f"{name}: exit {status}, {stats.get('bytes_delivered', 0):,} octets, "
                    f"{stats.get('naks_sent', 0)} NAKs, {stats.get('fec_rebuilt', 0)} packets "
                    f"rebuilt from parity, {stats.get('repairs_received', 0)} repairs, "
                    f"{'the same file' if same else 'NOT the same file'}"])  # fmt: skip
    repaired = outcome["c"][1].get("repairs_received", 0) > 0
    return done.returncode == 0 and whole and (repaired or not lossy)


def _in_memory(stage: Stage) -> bool:
    stage.say("On loopback the tour sends nothing on a wire (PGM needs an interface with an "
              "address); it runs the source and receiver machines in memory, 5 % of every "
              "packet to the receiver lost:")  # fmt: skip
    from ipaddress import IPv4Address

    group, source_address = IPv4Address(GROUP), IPv4Address("10.0.0.1")
    gsi = bytes(6)
    source = Source(SourceConfig(gsi, 4000, 7500, group, source_address, rate=10_000_000),
                    now=0.0)  # fmt: skip
    receiver = Receiver(ReceiverConfig(group, 7500), (gsi, 4000), random.Random(1).random)
    loss = random.Random(7)
    data = [random.Random(n).randbytes(3000) for n in range(300)]
    got: list[bytes] = []
    naks = 0
    now, pending = 0.0, list(data)
    while now < 60 and len(got) < len(data):
        while pending and source.send(pending[0]):
            pending.pop(0)
        actions = []
        for transmit in source.tick(now):
            if loss.random() >= 0.05:
                actions += receiver.receive(decode_pgm_untrusted(encode_pgm(transmit.packet)), now)
        actions += receiver.tick(now)
        for action in actions:
            if isinstance(action, Deliver):
                got.append(action.apdu)
            elif isinstance(action, SendNak):
                naks += 1
                for transmit in source.receive(action.packet, now):
                    receiver.receive(transmit.packet, now)  # the NCF: the repair will come
        deadline = min(d for d in (source.next_deadline(), receiver.next_deadline(), now + 0.01)
                       if d is not None)  # fmt: skip
        now = max(now + 1e-4, deadline)
    stats = receiver.statistics
    stage.show([f"{len(data)} messages of 3,000 octets: {stats.apdus_delivered} delivered in "
                f"order, {naks} NAKs, {stats.repairs_received} repairs, "
                f"{'all whole' if got == data else 'NOT whole'}"])  # fmt: skip
    return got == data and stats.repairs_received > 0
