"""Router advertisements from netsh, seen by a host in the lab, by rdisc6
(ndisc6) and compared with what radvd sends for the same configuration."""

from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from ipv6._derive import eui64_address, parse_mac
from tests.waiting import wait_until

pytestmark = pytest.mark.needs_root
PREFIX = ipaddress.IPv6Network("2001:db8:77::/64")

SETUP = """\
pushd interface ipv6
add route 2001:db8:77::/64 eth0 publish=yes validlifetime=1h preferredlifetime=30m
add route ::/0 eth0 publish=yes
add route 2001:db8:88::/48 eth0 2001:db8:0:1::2 publish=yes
set interface eth0 forwarding=enabled advertise=enabled
popd
"""
RADVD = """\
interface eth0 {
    AdvSendAdvert on;
    AdvDefaultLifetime 1800;
    AdvLinkMTU 1500;
    prefix 2001:db8:77::/64 {
        AdvOnLink on; AdvAutonomous on;
        AdvValidLifetime 3600; AdvPreferredLifetime 1800;
    };
    route 2001:db8:88::/48 { AdvRouteLifetime infinity; };
};
"""


async def netsh(host, *words: str, state: Path):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6.cli.netsh", *words]
    return await host.run(command, check=False)


async def text(host, *command: str) -> str:
    return str((await host.run(list(command), check=False)).stdout.decode())


async def until(what, check, seconds: float = 15.0):
    seen: list[Any] = []

    async def passed():
        seen[:] = [await what()]
        return seen[0] if check(seen[0]) else None

    try:
        return await wait_until(passed, "the state", timeout=seconds, every=0.2)
    except AssertionError:
        raise AssertionError(f"not seen in {seconds} s: {seen[0] if seen else None!r}") from None


def rdisc6_view(output: str) -> list[str]:
    """What rdisc6 says an advertisement holds, line by line."""
    keep = []
    for line in output.splitlines():
        if not line.strip() or line.startswith("Soliciting"):
            continue
        keep.append(re.sub(r"\s+", " ", line.strip()))
    return keep


async def test_advertisements_configure_a_host_and_agree_with_radvd(lab, tmp_path: Path) -> None:
    async with lab("two-hosts") as running:
        a, b = running.host("a"), running.host("b")
        detail = await running.describe()

        def mac(host: str) -> str:
            return str(next(i.mac for i in detail.hosts[host].interfaces if i.name == "eth0"))

        script = tmp_path / "advertise.txt"
        script.write_text(SETUP)
        done = await netsh(a, "-f", str(script), state=tmp_path)
        assert done.returncode == 0, done.stderr

        # b autoconfigures an address from the /64 and a default route from a.
        mine = str(eui64_address(parse_mac(mac("b")), PREFIX))
        addresses = await until(
            lambda: text(b, "ip", "-6", "addr", "show", "dev", "eth0"), lambda out: mine in out
        )
        assert "valid_lft 3" in addresses and "preferred_lft 1" in addresses  # 3600 / 1800 s
        a_link_local = str(eui64_address(parse_mac(mac("a"))))
        routes = await until(lambda: text(b, "ip", "-6", "route"), lambda out: "default via" in out)
        assert f"default via {a_link_local} dev eth0 proto ra" in routes
        # The advertising interface autoconfigured itself too, as the seeds say.
        own = str(eui64_address(parse_mac(mac("a")), PREFIX))
        assert own in await text(a, "ip", "-6", "addr", "show", "dev", "eth0")

        # rdisc6 decodes what netsh's advertiser sends.
        ours = await text(b, "rdisc6", "-1", "-w", "3000", "eth0")
        view = rdisc6_view(ours)
        assert "Router lifetime : 1800 (0x00000708) seconds" in view
        assert "MTU : 1500 bytes (valid)" in view
        assert "Prefix : 2001:db8:77::/64" in view
        assert "Valid time : 3600 (0x00000e10) seconds" in view
        assert "Pref. time : 1800 (0x00000708) seconds" in view
        assert any(line.startswith("Route : 2001:db8:88::/48") for line in view), view
        assert mac("a").upper() in ours

        # Stopping sends router lifetime 0: b drops its default route at once.
        done = await netsh(a, "int", "ipv6", "set", "interface", "eth0", "advertise=disabled",
                           state=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        await until(lambda: text(b, "ip", "-6", "route"), lambda out: "default" not in out)
        assert "ipv6.netsh._advertiser" not in await text(a, "ps", "-eo", "args")

        # radvd, given the same configuration, says the same thing.
        conf = tmp_path / "radvd.conf"
        conf.write_text(RADVD)
        pid = tmp_path / "radvd.pid"
        async with trio.open_nursery() as nursery:
            radvd = ["radvd", "-n", "-C", str(conf), "-p", str(pid), "-m", "stderr"]
            nursery.start_soon(lambda: a.run(radvd, check=False))
            theirs = await until(
                lambda: text(b, "rdisc6", "-1", "-w", "3000", "eth0"), lambda out: "Prefix" in out
            )
            await a.run(["pkill", "-f", f"radvd -n -C {conf}"], check=False)
        assert rdisc6_view(theirs) == view, "\n".join(["radvd:", theirs, "netsh:", ours])
