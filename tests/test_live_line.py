"""Long work shows a live line on a terminal: what it has done, its rate, the
time left; nothing on a pipe, nothing with --json. The terminal is a real
pseudo-terminal (the kernel's), the command a real process on loopback."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys

from ipv6.cli import kit

SEND = [sys.executable, "-m", "mcast", "send", "239.1.1.1", "-p", "5000", "-i", "lo",
        "--count", "1500", "--rate", "1000"]  # fmt: skip


def stderr_on_a_terminal(command: list[str]) -> bytes:
    """What ``command`` writes to its stderr when that is a pseudo-terminal."""
    master, slave = pty.openpty()
    process = subprocess.Popen(command, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other end closed
                break
            if not chunk:
                break
            out += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    assert process.wait(timeout=30) == 0, out
    return out


def test_a_long_send_shows_its_progress_on_a_terminal() -> None:
    shown = stderr_on_a_terminal(SEND).decode()
    updates = [
        part for part in shown.split("\r") if part.startswith("sent ") and " of 1,500" in part
    ]
    assert len(updates) >= 3, shown  # a second and a half, four updates a second
    assert any("/s" in u and "s left" in u for u in updates), updates
    # Cleared before the summary: spaces over the last line, the cursor at its start.
    assert re.search(r"\r +\rsent 1500 datagrams", shown), shown[-300:]


def test_no_live_line_on_a_pipe_or_with_json() -> None:
    piped = subprocess.run(SEND, capture_output=True, text=True, timeout=30, check=True)
    assert "\r" not in piped.stderr and "s left" not in piped.stderr
    shown = stderr_on_a_terminal([*SEND, "--json"]).decode()
    assert "s left" not in shown, shown


def test_the_line_is_drawn_over_itself_and_cleared() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    line = kit.LiveLine(stream=screen, every=0)
    line.show("sent 10 datagrams")
    line.show("sent 2")
    line.close()
    assert screen.getvalue() == "\rsent 10 datagrams\rsent 2           \r" + " " * 6 + "\r"
    assert (
        kit.amount(250, "datagrams", 1000, 2.0)
        == "250 of 1,000 datagrams (25 %), 125/s, 6.0 s left"
    )
