"""``mcast pgm`` refuses what cannot work in one line and exit 2, before any socket."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["send", "10.1.2.3", "-p", "7500", "-i", "lo"], "not a multicast"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--rate", "0"], "at least 8 bits"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--window", "0"], "at least one packet"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--window", "0s"], "more than 0 seconds"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--window", "x"], "or seconds"),
        (["recv", "ff02::1:2", "-p", "7500", "-i", "lo", "--expiry", "0"], "--expiry"),
        (
            ["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--late-join", "80"],
            "the window in % (0 to 75)",
        ),
        (["recv", "2001:db8::1", "-p", "7500", "-i", "lo"], "not a multicast"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--fec", "8"], "K/N, as 8/16"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--fec", "6/12"], "2, 4, 8 ... 128"),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--fec", "8/300"], "9 to 255"),
        (
            ["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--fec", "8/10", "--proactive", "3"],
            "makes at most 2",
        ),
        (["send", "239.1.2.3", "-p", "7500", "-i", "lo", "--ondemand"], "go with --fec"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: str) -> None:
    result = run_cli("mcast", "pgm", *args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""
