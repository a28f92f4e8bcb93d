"""Link-local ping with and without a zone, in the seeds' Configuration 1 lab."""

from __future__ import annotations

import json
import sys

import pytest

pytestmark = pytest.mark.needs_root

B_LINK_LOCAL = "fe80::260:97ff:fe02:6ea5"  # host b's eth0 (00:60:97:02:6e:a5)
A_LINK_LOCAL = "fe80::210:5aff:feaa:20a2"  # host a's eth0 (00:10:5a:aa:20:a2)


async def test_host_a_pings_b_with_a_zone_and_is_refused_without_one(lab) -> None:
    async with lab("link-local") as running:
        a, b = running.host("a"), running.host("b")
        ok = await a.run(
            [sys.executable, "-m", "ipv6", "ping", f"{B_LINK_LOCAL}%eth0", "-c", "2", "-i", "0.2"],
            check=False,
        )
        out = ok.stdout.decode()
        assert ok.returncode == 0, out + ok.stderr.decode()
        assert f"bytes from {B_LINK_LOCAL}%eth0: icmp_seq=1" in out
        assert (
            "2 packets transmitted, 2 received, 0% packet loss" in out
            and "rtt min/avg/max/mdev" in out
        )
        by_option = await a.run(
            [sys.executable, "-m", "ipv6", "ping", B_LINK_LOCAL, "-I", "eth0", "-c", "1", "--json"],
            check=False,
        )
        result = json.loads(by_option.stdout)
        assert result["received"] == 1 and result["replies"][0]["hop_limit"] == 64
        # On the wrong link nothing answers.
        wrong = await a.run(
            [sys.executable, "-m", "ipv6", "ping", f"{B_LINK_LOCAL}%eth1", "-c", "1", "-W", "1"],
            check=False,
        )
        assert (
            wrong.returncode == 1 and "1 packets transmitted, 0 received" in wrong.stdout.decode()
        )
        # No zone on a host with two links: refused, naming them and how to choose.
        refused = await a.run(
            [sys.executable, "-m", "ipv6", "ping", B_LINK_LOCAL, "-c", "1"], check=False
        )
        err = refused.stderr.decode().strip()
        assert refused.returncode == 2 and "\n" not in err
        assert "this host has 2 (eth0, eth1)" in err and f"{B_LINK_LOCAL}%eth0" in err
        # b has one link: it is used, and the user is told.
        single = await b.run(
            [sys.executable, "-m", "ipv6", "ping", A_LINK_LOCAL, "-c", "1"], check=False
        )
        assert single.returncode == 0
        assert "no zone given: using eth0, the only link" in single.stderr.decode()
