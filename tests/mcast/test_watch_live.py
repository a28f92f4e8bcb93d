"""mcast watch and mcast querier as a user runs them, and tshark reading what
the kernel itself put on the wire."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from mcast.streams._receiver import open_receiver
from mcast.wire._observer import Observed, Observer
from tests.mcast.labs import QUICK_REPORTS, output_while
from tests.mcast.test_wire import compare_with_tshark

pytestmark = pytest.mark.needs_root


async def test_watch_prints_json_per_message_and_times_out(lab) -> None:
    async with (
        lab(QUICK_REPORTS.format(v4=0, v6=0), text=True) as running,
        open_receiver(5000) as rx,
    ):
        a, b = running.host("a"), running.host("b")
        argv = [sys.executable, "-m", "mcast", "watch", "-i", "eth0", "--json", "-c", "40",
                "-t", "3"]  # fmt: skip

        async def changes() -> None:
            # One change at a time: changes made together are merged into one report.
            for change in (
                lambda: rx.join("232.1.1.1", "eth0", source="10.0.0.2"),
                lambda: rx.join("239.1.1.1", "eth0"),
                lambda: rx.block("239.1.1.1", "10.0.0.9", "eth0"),
            ):
                with a.inside():
                    change()
                await trio.sleep(0.2)  # time under test: apart, so each is its own report

        code, out = await output_while(b, argv, changes, says=b"watching IGMP and MLD")
        done = subprocess.CompletedProcess(argv, code, out, b"")
        lines = [json.loads(x) for x in done.stdout.decode().splitlines()]
        ours = [x for x in lines if x["source"] == "10.0.0.1" and x["direction"] == "in"]
        records = {
            (r["type"], r["group"], tuple(r["sources"])) for x in ours for r in x.get("records", [])
        }
        assert ("ALLOW", "232.1.1.1", ("10.0.0.2",)) in records
        assert ("TO_EX", "239.1.1.1", ()) in records
        assert ("BLOCK", "239.1.1.1", ("10.0.0.9",)) in records
        first = ours[0]
        assert {"time", "interface", "protocol", "version", "type", "source"} <= set(first)
        assert (first["protocol"], first["version"], first["type"]) == ("IGMP", 3, "report")
        # Fewer than 40 messages in 3 s: the timeout passed first.
        assert done.returncode == 3


async def test_watch_text_and_table(lab) -> None:
    async with (
        lab(QUICK_REPORTS.format(v4=0, v6=0), text=True) as running,
        open_receiver(5000) as rx,
    ):
        a, b = running.host("a"), running.host("b")
        outputs: dict[str, bytes] = {}
        watch = [sys.executable, "-m", "mcast", "watch", "-i", "eth0", "-t", "2"]

        async def join() -> None:
            with a.inside():
                rx.join("232.1.1.1", "eth0", source="10.0.0.2")

        async with trio.open_nursery() as nursery:

            async def run(name: str, extra: list[str], during: Callable[[], Any]) -> None:
                _, outputs[name] = await output_while(b, [*watch, *extra], during,
                                                      says=b"watching IGMP and MLD")  # fmt: skip

            table_ready = trio.Event()

            async def table_up() -> None:
                table_ready.set()

            async def join_once_both_watch() -> None:
                await table_ready.wait()
                await join()

            nursery.start_soon(run, "table", ["--table"], table_up)
            nursery.start_soon(run, "text", [], join_once_both_watch)
        text = outputs["text"].decode()
        assert "IGMPv3 report from 10.0.0.1: ALLOW(232.1.1.1 {10.0.0.2})" in text
        table = outputs["table"].decode()
        assert "GROUP" in table and "LAST REPORTER" in table
        assert any(
            "232.1.1.1" in row and "INCLUDE" in row and "10.0.0.1" in row
            for row in table.splitlines()
        )


async def test_querier_command_runs_and_stops_cleanly_on_ctrl_c(lab) -> None:
    async with (
        lab(QUICK_REPORTS.format(v4=0, v6=0), text=True) as running,
        open_receiver(5000) as rx,
    ):
        a, b = running.host("a"), running.host("b")
        with a.inside():
            rx.join("239.3.3.3", "eth0")
        command = b.argv(
            [
                sys.executable,
                "-m",
                "mcast",
                "querier",
                "-i",
                "eth0",
                "--json",
                "--interval",
                "4",
                "--response-interval",
                "0.5",
            ]
        )
        proc = await trio.lowlevel.open_process(command, stdout=-1, stderr=-1)
        assert proc.stdout is not None
        out = b""
        with trio.fail_after(30):  # until its table holds a's group (its query answered)
            while b'"239.3.3.3"' not in out or b'"table"' not in out:
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, out
                out += chunk
        proc.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            code = await proc.wait()
        while chunk := await proc.stdout.receive_some(65536):
            out += chunk
        err = await proc.stderr.receive_some(65536)  # type: ignore[union-attr]
        assert code == 130, err
        assert b"Traceback" not in err and b"interrupted" in err
        events = [json.loads(x) for x in out.decode().splitlines()]
        assert any(e["event"] == "sent" and e["protocol"] == "IGMP" for e in events)
        tables = [e for e in events if e["event"] == "table" and e["protocol"] == "IGMP"]
        assert any(
            g["group"] == "239.3.3.3" and g["mode"] == "exclude"
            for t in tables
            for g in t["groups"]
        )


async def test_tshark_agrees_on_what_the_kernel_sent(lab, tmp_path: Path) -> None:
    async with (
        lab(QUICK_REPORTS.format(v4=0, v6=0), text=True) as running,
        open_receiver(5000) as rx,
    ):
        a, b = running.host("a"), running.host("b")
        with b.inside():
            observer = Observer.open("eth0")
        frames: list[bytes] = []
        changes: list[Callable[[], object]] = [
            lambda: rx.join("232.1.1.1", "eth0", source="10.0.0.2"),
            lambda: rx.join("239.1.1.1", "eth0"),
            lambda: rx.block("239.1.1.1", "10.0.0.9", "eth0"),
            lambda: rx.join("ff3e::7", "eth0", source="2001:db8::2"),
            lambda: rx.set_filter("ff3e::8", "eth0", "exclude", ["2001:db8::5", "2001:db8::6"]),
            lambda: rx.leave("239.1.1.1", "eth0"),
        ]
        with observer:
            for change in changes:
                with a.inside():
                    change()
                with trio.move_on_after(0.2):
                    while True:
                        item = await observer.next()
                        if isinstance(item, Observed) and not item.outgoing:
                            frames.append(item.frame)
        protocols = {f[12:14] for f in frames}
        assert protocols == {b"\x08\x00", b"\x86\xdd"} and len(frames) >= 6
        compare_with_tshark(frames, tmp_path)
