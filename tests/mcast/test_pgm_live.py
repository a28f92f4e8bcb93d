"""PGM between lab hosts: a sender and three receivers on one bridged LAN, over
raw IP protocol 113 and over UDP, IPv4 and IPv6; random loss injected on the
receivers' links with iptables' statistic match (there is no netem here)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.mcast.labs import joined

pytestmark = pytest.mark.needs_root

LAB = "pgm-lan"  # configs/lab/pgm-lan.toml: s sends; r1, r2, r3 receive
RECEIVERS = ("r1", "r2", "r3")


def same(got: bytes, sent: bytes) -> str:
    """Empty when equal; else where they part (not a megabyte-long diff)."""
    if got == sent:
        return ""
    at = next((i for i, (a, b) in enumerate(zip(got, sent, strict=False)) if a != b),
              min(len(got), len(sent)))  # fmt: skip
    return f"{len(got)} octets against {len(sent)} sent; they part at offset {at}"


def pgm(*words: str) -> list[str]:
    return [sys.executable, "-m", "mcast", "pgm", *words]


async def lose(host, fraction: float, udp: int | None) -> None:
    """Drop ``fraction`` of what PGM brings to ``host``, at random."""
    match = ["-p", "udp", "--dport", str(udp)] if udp else ["-p", "113"]
    for tables in ("iptables", "ip6tables"):
        await host.run([tables, "-A", "INPUT", *match, "-m", "statistic", "--mode", "random",
                        "--probability", str(fraction), "-j", "DROP"])  # fmt: skip


async def transfer(running, tmp_path: Path, size: int, group: str, *, udp: int | None = None,
                   rate: str = "80M", window: str = "65536", loss: float = 0.0,
                   late: str | None = None, late_join: bool = True, send: tuple[str, ...] = (),
                   content: bytes | None = None) -> dict[str, Any]:  # fmt: skip
    """The sender's file (``content``, or ``size`` random octets), and each receiver's
    outcome: exit status, file, statistics. ``send``: more of the sender's options."""
    sent = tmp_path / "sent.bin"
    sent.write_bytes(os.urandom(size) if content is None else content)
    encapsulation = ["--udp", str(udp)] if udp else []
    for name in RECEIVERS:
        if loss:
            await lose(running.host(name), loss, udp)
    outcomes: dict[str, Any] = {}

    async def receive(name: str) -> None:
        out = tmp_path / f"{name}.bin"
        extra = ["--late-join"] if late == name and late_join else []
        done = await running.host(name).run(pgm(
            "recv", group, "-p", "7500", "-i", "eth0", *encapsulation, "-o", str(out), "--json",
            "--timeout", "30", *extra), check=False)  # fmt: skip
        outcomes[name] = (done.returncode, out.read_bytes() if out.exists() else b"",
                          json.loads(done.stdout or b"{}"), done.stderr.decode())  # fmt: skip

    async with trio.open_nursery() as nursery:
        for name in RECEIVERS:
            if name != late:
                nursery.start_soon(receive, name)
        for name in RECEIVERS:
            if name != late:
                await joined(running.host(name), group)
        # The source stays for repairs until the receivers are done (a loaded machine's
        # receivers may need their repairs long after the data is out), then goes.
        sender = await trio.lowlevel.open_process(running.host("s").argv(pgm(
            "send", group, str(sent), "-p", "7500", "-i", "eth0", *encapsulation, "--rate", rate,
            "--window", window, "--json", "--linger", "120", *send)), stdout=-1,
            stderr=-1)  # fmt: skip
        if late:

            async def later() -> None:
                await trio.sleep(1.0)  # time under test: it joins a second late
                await receive(late)

            nursery.start_soon(later)
    # Every receiver is done: once its data is out, the source may go (SIGTERM ends
    # its wait for repairs).
    assert sender.stdout is not None and sender.stderr is not None
    err = b""
    with trio.fail_after(120):
        while b"staying for repairs" not in err:
            chunk = await sender.stderr.receive_some(65536)
            assert chunk, err.decode()
            err += chunk
    sender.send_signal(signal.SIGTERM)
    with trio.fail_after(60):
        out = await read_all(sender.stdout)
        err += await read_all(sender.stderr)
        await sender.wait()
    assert sender.returncode == 0, err.decode()
    outcomes["sender"] = json.loads(out)
    outcomes["sent"] = sent.read_bytes()
    return outcomes


async def read_all(stream: Any) -> bytes:
    out = b""
    while chunk := await stream.receive_some(65536):
        out += chunk
    return out


@pytest.mark.parametrize(
    ("group", "udp"),
    [("239.192.0.5", None), ("ff3e::8000:5", None), ("239.192.0.6", 3056), ("ff3e::8000:6", 3056)],
    ids=["raw-ipv4", "raw-ipv6", "udp-ipv4", "udp-ipv6"],
)
async def test_three_receivers_get_the_file_whole_through_loss(lab, tmp_path, group, udp) -> None:
    async with lab(LAB) as running:
        got = await transfer(running, tmp_path, 20 << 20, group, udp=udp, loss=0.05)
    sent = got["sent"]
    for name in RECEIVERS:
        status, data, statistics, stderr = got[name]
        assert status == 0, stderr
        assert not same(data, sent), (name, same(data, sent), statistics, stderr)
        assert statistics["naks_sent"] > 0 and statistics["repairs_received"] > 0
    assert got["sender"]["repairs_sent"] > 0


async def test_loss_beyond_the_window_is_said_with_its_offset(lab, tmp_path) -> None:
    async with lab(LAB) as running:
        got = await transfer(running, tmp_path, 2 << 20, "239.192.0.7", window="64", loss=0.3)
    sent = got["sent"]
    for name in RECEIVERS:
        status, data, statistics, stderr = got[name]
        assert status == 5, stderr
        offset = statistics["unrecoverable_at"]
        assert f"data became unrecoverable at offset {offset}" in stderr
        assert not same(data, sent[:offset])  # all before the loss, nothing after or corrupt


async def test_a_late_joiner_gets_what_the_window_holds_then_the_rest(lab, tmp_path) -> None:
    async with lab(LAB) as running:
        got = await transfer(running, tmp_path, 3 << 20, "239.192.0.8", rate="8M",
                             window="30s", late="r3")  # fmt: skip
    sent = got["sent"]
    status, data, statistics, stderr = got["r3"]
    assert status == 0, stderr
    assert not same(data, sent), (same(data, sent), statistics, stderr)
    assert statistics["naks_sent"] > 0


async def test_a_receiver_too_late_for_the_window_says_so_in_one_line(lab, tmp_path) -> None:
    async with lab(LAB) as running:
        got = await transfer(running, tmp_path, 3 << 20, "239.192.0.9", rate="8M", window="64",
                             late="r3", late_join=False)  # fmt: skip
    status, data, statistics, stderr = got["r3"]
    assert status == 5 and data == b"", stderr
    assert stderr.count("\n") == 1 and "beginning has left the sender's window" in stderr
    assert statistics["unrecoverable_at"] == 0
    for name in ("r1", "r2"):
        assert got[name][0] == 0 and not same(got[name][1], got["sent"])


@pytest.mark.parametrize(
    ("group", "udp", "fec"),
    [("239.192.0.10", None, ("--fec", "16/32", "--ondemand")),
     ("ff3e::8000:10", 3056, ("--fec", "8/16", "--proactive", "1", "--ondemand"))],
    ids=["raw-ipv4-ondemand", "udp-ipv6-proactive-and-ondemand"],
)  # fmt: skip
async def test_fec_repairs_the_receivers_losses_with_parity(lab, tmp_path, group, udp,
                                                            fec) -> None:  # fmt: skip
    """RM_USE_FEC through iptables loss: the receivers follow the sender's parity policy
    unasked, ask for parity per group and rebuild what they lost from it."""
    async with lab(LAB) as running:
        got = await transfer(running, tmp_path, 8 << 20, group, udp=udp, loss=0.03, send=fec)
    sent = got["sent"]
    for name in RECEIVERS:
        status, data, statistics, stderr = got[name]
        assert status == 0, stderr
        assert not same(data, sent), (name, same(data, sent), statistics, stderr)
        assert statistics["fec_rebuilt"] > 0 and statistics["parity_naks_sent"] > 0, statistics
        rm = statistics["RM_RECEIVER_STATISTICS"]
        assert rm["TotalParityNaksSent"] == statistics["parity_naks_sent"]
    sender = got["sender"]
    assert sender["parity_repairs_sent"] > 0 and sender["parity_naks_received"] > 0, sender
    if "--proactive" in fec:
        assert sender["parity_sent"] == sender["data_sent"] // 8


async def test_message_mode_sends_each_line_as_one_message(lab, tmp_path) -> None:
    """--message-mode: every line one APDU (SOCK_RDM), whatever its length, through loss."""
    lines = b"".join(b"%d " % n + os.urandom(n * 37 % 5000).hex().encode() + b"\n"
                     for n in range(800))  # fmt: skip
    async with lab(LAB) as running:
        got = await transfer(running, tmp_path, 0, "239.192.0.11", loss=0.03, content=lines,
                             send=("--message-mode",))  # fmt: skip
    for name in RECEIVERS:
        status, data, statistics, stderr = got[name]
        assert status == 0, stderr
        assert not same(data, lines), (name, same(data, lines), stderr)
        assert statistics["apdus_delivered"] == 800
    assert got["sender"]["apdus"] == 800
