"""Tour scene: the seeds' Configuration 2, two 6to4 sites over an IPv4
internetwork, on the userspace tunnel plane."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from ipaddress import IPv4Address, IPv6Address

import trio

from ipv6.tunnel import (
    Drop,
    HostFacts,
    Options,
    Policy,
    Send,
    decapsulate,
    encapsulate,
    ipv6_packet,
    lab_block,
)
from ipv6.tunnel import plan_sixto4 as plan

from ._stage import Stage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipv6.lab import LabHost

SEEDS = IPv4Address("172.31.42.239")


async def two_sites(stage: Stage) -> bool:
    if stage.lab is None:
        return _on_loopback(stage)
    from ipv6.lab import builtin_lab, load_config, open_lab

    path = builtin_lab("6to4-two-sites")
    assert path is not None
    config = load_config(path, name=f"tour6{os.getpid() % 10000}")
    stage.say(
        f"A second lab, {config.name!r}: two sites (h1 behind gw1, h2 behind gw2) whose "
        "gateways meet only over IPv4, through router r. Each tunnel takes the plane this "
        "kernel has: its sit, else the eBPF plane (the toolkit's RFC 3964 checks, with tc "
        "programs carrying the address pairs they passed), else the userspace plane."
    )
    with tempfile.TemporaryDirectory(prefix="tour-6to4-") as state:
        async with open_lab(config) as lab:
            gw1, gw2, h1, h2 = (lab.host(n) for n in ("gw1", "gw2", "h1", "h2"))

            async def ipv6(host: LabHost, *words: str, shown: bool = True) -> str:
                env = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6"]
                done = await host.run([*env, *words], check=False)
                out = str((done.stdout + done.stderr).decode()).rstrip()
                if shown:
                    stage.show([f"{host.name}$ ipv6 {' '.join(words)}", *out.splitlines()])
                return out

            await ipv6(gw1, "6to4cfg", "-r", "--lab")
            await ipv6(gw2, "6to4cfg", "-r", "--lab", shown=False)
            stage.say("gw2 likewise. The hosts autoconfigure from the gateways' advertisements:")
            a1, a2 = await _autoconfigured(h1), await _autoconfigured(h2)
            stage.show([f"h1: {a1}", f"h2: {a2}"])
            done = await h1.run(["ping", "-c", "3", "-i", "0.2", a2], check=False)
            summary = [line for line in done.stdout.decode().splitlines() if "packets" in line]
            stage.show([f"h1$ ping -c 3 {a2}", *summary])
            status = await ipv6(gw1, "tunnel", "status")
            await ipv6(gw1, "6to4cfg", "-u")
            await ipv6(gw2, "6to4cfg", "-u", shown=False)
    stage.say("Both gateways are back as they were; the lab is down again.")
    return done.returncode == 0 and re.search(r"6to4 on the \w+ plane", status) is not None


async def _autoconfigured(host: LabHost) -> str:
    with trio.move_on_after(20):
        while True:
            listed = await host.run(["ip", "-6", "-o", "addr", "show", "scope", "global"])
            out = listed.stdout.decode()
            found = re.search(r"inet6 (2002:[0-9a-f:]+)/64 scope global (?!.*tentative)", out)
            if found:
                await trio.sleep(0.5)  # the default route comes with the same advertisement
                return found.group(1)
            await trio.sleep(0.2)
    return "(none)"


def _on_loopback(stage: Stage) -> bool:
    stage.say(
        "Without root there is no lab to tunnel through, so the tour shows what 6to4cfg "
        "would do for the seeds' gateway (172.31.42.239, one inner interface lan0):"
    )
    facts = HostFacts(ipv4=(("wan0", SEEDS),), outbound=SEEDS, interfaces=("wan0", "lan0"))
    made = plan(Options(router=True, lab=True), facts)
    stage.show([f"interface ipv6 {line}" for line in made.script], indent="   | ")
    stage.say("and how its tunnel judges two packets arriving from 172.30.7.10 (RFC 3964):")
    block = lab_block(SEEDS)
    assert block is not None
    policy = Policy(
        mode="6to4", local=int(SEEDS), router=0, own=frozenset({int(SEEDS)}), lab=(block,)
    )
    good = _packet("2002:ac1e:70a:1::10", "2002:ac1f:2aef:1::10")
    forged = _packet("2002:ac1e:70b:1::10", "2002:ac1f:2aef:1::10")
    verdicts = []
    for what, data in (("2002:ac1e:70a:1::10 (matches 172.30.7.10)", good),
                       ("2002:ac1e:70b:1::10 (claims 172.30.7.11)", forged)):  # fmt: skip
        verdict = decapsulate(policy, int(IPv4Address("172.30.7.10")), int(SEEDS), data)
        said = verdict.reason if isinstance(verdict, Drop) else "delivered"
        verdicts.append(f"from {what}: {said}")
    out = encapsulate(policy, _packet("2002:ac1f:2aef:1::10", "2002:ac1e:70a:1::10"))
    if isinstance(out, Send):
        verdicts.append(f"to 2002:ac1e:70a:1::10: encapsulated to {IPv4Address(out.dst)}")
    stage.show(verdicts)
    return verdicts[0].endswith("delivered") and "mismatch" in verdicts[1]


def _packet(src: str, dst: str) -> bytes:
    return ipv6_packet(int(IPv6Address(src)), int(IPv6Address(dst)), 59, b"")
