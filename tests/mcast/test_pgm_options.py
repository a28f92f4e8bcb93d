"""The seeds' RM_RATE_WINDOW_SIZE (an RM_SEND_WINDOW of rate, window in ms and
window in bytes) as SenderOptions.send_window gives it."""

from __future__ import annotations

import pytest

from mcast import McastBadInput
from mcast.pgm import SenderOptions


def test_the_seeds_defaults_make_a_window_of_1428_seconds() -> None:
    """The seeds: 56 kbit/s and 10 MB, "the default window size is therefore 1428
    seconds"."""
    options = SenderOptions.send_window()
    assert options.rate == 7_000  # bytes a second
    assert int(options.window_seconds or 0) == 1428
    assert options.window == 7_143  # 10 MB in packets of 1,400 octets, rounded up


@pytest.mark.parametrize(
    ("members", "rate", "seconds", "packets"),
    [((8_000, 30_000, 0), 1_000_000, 30.0, 21_429), ((0, 2_000, 1_000_000), 500_000, 2.0, 715),
     ((1_000, 0, 500_000), 125_000, 4.0, 358), ((1_000, 4_000, 500_000), 125_000, 4.0, 358)],
)  # fmt: skip
def test_a_member_given_as_0_is_worked_out_from_the_others(
    members: tuple[int, int, int], rate: int, seconds: float, packets: int
) -> None:
    options = SenderOptions.send_window(*members)
    assert (options.rate, options.window_seconds, options.window) == (rate, seconds, packets)


@pytest.mark.parametrize(
    ("members", "words"),
    [((1_000, 4_000, 900_000), "is 500,000 bytes, not 900,000"), ((0, 0, 10), "two of"),
     ((-1, 10, 10), "none negative")],
)  # fmt: skip
def test_members_that_disagree_are_refused(members: tuple[int, int, int], words: str) -> None:
    with pytest.raises(McastBadInput, match=words):
        SenderOptions.send_window(*members)


def test_other_options_go_with_it() -> None:
    options = SenderOptions.send_window(8_000, 1_000, 0, max_tsdu=1000, ttl=4, mode="stream")
    assert (options.window, options.ttl, options.mode) == (1_000, 4, "stream")
