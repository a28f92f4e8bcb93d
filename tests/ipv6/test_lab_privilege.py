"""Capabilities read from /proc/PID/status."""

from __future__ import annotations

from ipv6._capabilities import effective_capabilities, missing_capabilities

ROOT = "Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"
NOBODY = "Name:\tpython\nCapEff:\t0000000000000000\n"
NET_ONLY = f"CapEff:\t{1 << 12:016x}\n"


def test_root_has_what_a_lab_needs() -> None:
    assert missing_capabilities(effective_capabilities(ROOT)) == []


def test_nobody_lacks_both() -> None:
    assert missing_capabilities(effective_capabilities(NOBODY)) == [
        "CAP_NET_ADMIN",
        "CAP_SYS_ADMIN",
    ]


def test_net_admin_alone_is_not_enough() -> None:
    assert missing_capabilities(effective_capabilities(NET_ONLY)) == ["CAP_SYS_ADMIN"]


def test_no_capability_line_means_none() -> None:
    assert effective_capabilities("Name:\tx\n") == 0
