"""Tour scene: multicast across a router, by a static route, and what a
router-less LAN's snooping bridge would do instead."""

from __future__ import annotations

import json
import os
import sys
import tempfile

import trio

from ._stage import Stage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipv6.lab import LabHost

GROUP = "239.5.5.5"


async def _joined(host: LabHost, group: str) -> None:
    """Until the member's kernel lists the group (its join is on the wire)."""
    from ipv6 import read_host_joins

    with trio.move_on_after(10):
        while not any(str(j.group) == group for j in await host.run_sync(read_host_joins)):
            await trio.sleep(0.05)


async def across_a_router(stage: Stage) -> bool:
    if stage.lab is None:
        stage.say(
            "Routing multicast needs a router between two links: as root, the tour builds the "
            "routed-multicast lab for it (configs/lab/routed-multicast.toml). Here it only "
            "shows the commands:"
        )
        stage.show([f"mcast route add {GROUP} --in eth0 --out eth1", "mcast route show"],
                   indent="   r$ ")  # fmt: skip
        return True
    from ipv6.lab import builtin_lab, load_config, open_lab

    path = builtin_lab("routed-multicast")
    assert path is not None
    config = load_config(path, name=f"tourR{os.getpid() % 10000}")
    stage.say(
        f"A second lab, {config.name!r}: source s on LAN 1, router r, members on LAN 2. Until "
        "r has a multicast route, no group crosses it; the route's datagrams arrive with "
        "their TTL one less:"
    )
    with tempfile.TemporaryDirectory(prefix="tour-routes-") as state:
        async with open_lab(config) as lab:
            r, s, m1 = lab.host("r"), lab.host("s"), lab.host("m1")
            env = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "mcast"]

            async def arrivals() -> list[int]:
                listen = [*env, "join", GROUP, "-p", "7000", "-i", "eth0", "-t", "2", "--each",
                          "--json"]  # fmt: skip
                member = await trio.lowlevel.open_process(m1.argv(listen), stdout=-1, stderr=-1)
                await _joined(m1, GROUP)
                await s.run([*env, "send", GROUP, "-p", "7000", "-i", "eth0", "--ttl", "5",
                             "--count", "3", "--interval", "0.05", "-q"], check=False)  # fmt: skip
                await member.wait()
                assert member.stdout is not None
                out = (await member.stdout.receive_some(1 << 20)).decode()
                return [json.loads(x)["ttl"] for x in out.splitlines() if '"ttl"' in x]

            before = await arrivals()
            stage.show([f"m1 receives {len(before)} of 3 datagrams sent with TTL 5"])
            added = await r.run([*env, "route", "add", GROUP, "--in", "eth0", "--out", "eth1"],
                                check=False)  # fmt: skip
            stage.show([f"r$ mcast route add {GROUP} --in eth0 --out eth1",
                        *added.stdout.decode().splitlines()], indent="   ")  # fmt: skip
            after = await arrivals()
            stage.show([f"m1 receives {len(after)} of 3, with TTL {sorted(set(after))}"])
            shown = await r.run([*env, "route", "show"], check=False)
            stage.show(["r$ mcast route show", *shown.stdout.decode().splitlines()])
            status = await r.run([*env, "route", "status"], check=False)
            stage.show(["r$ mcast route status", *status.stdout.decode().splitlines()])
            planes = await r.run([*env, "route", "status", "--json"], check=False)
            plane = next((p["plane"] for p in json.loads(planes.stdout or b"[]")), None)
            await r.run([*env, "route", "delete", GROUP, "--in", "eth0"], check=False)
    ok = before == [] and after == [4, 4, 4]
    if ok and plane == "ebpf":
        stage.say(
            "This kernel has no multicast routing (CONFIG_IP_MROUTE is not set), so r's "
            "routing daemon forwarded on the toolkit's eBPF plane: a tc program on eth0 "
            "copies each routed datagram out of eth1 in the kernel, and Python only keeps "
            "the table ('ipv6 capabilities' says what this host has)."
        )
    elif ok and plane == "userspace":
        stage.say(
            "This kernel has no multicast routing (CONFIG_IP_MROUTE is not set), so r's "
            "routing daemon forwarded on the toolkit's userspace plane: it reads each datagram "
            "off eth0 and sends its copies itself ('ipv6 capabilities' says what this host has)."
        )
    if ok:
        stage.say(
            "Deleting the last route stops the routing daemon, and the group stops at r again. "
            "mcast show mdb says what a snooping bridge learnt; docs/multicast.md has both."
        )
    return ok
