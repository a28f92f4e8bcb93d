"""Tour scene: a small netsh script applied, shown, dumped and undone."""

from __future__ import annotations

import socket
import sys
import tempfile

from ipv6.netsh import parse_script, plan

from ._stage import Stage

SCRIPT = """\
pushd interface ipv6
add address {ifname} 2001:db8:ac::1/64 validlifetime=1h preferredlifetime=30m
add address {ifname} 2001:db8:ac::99 type=anycast
add route 2001:db8:ad::/48 {ifname} {gateway} metric=5
popd
"""
UNDO = """\
pushd interface ipv6
delete route 2001:db8:ad::/48 {ifname} {gateway}
delete address {ifname} 2001:db8:ac::99
delete address {ifname} 2001:db8:ac::1
popd
"""
FAILING = "interface ipv6 add address {ifname} 2001:db8:ae::1/64\n" + (
    "interface ipv6 add route 2001:db8:af::/48 {ifname} 2001:db8:77::1\n"
)


async def netsh_script(stage: Stage) -> bool:
    if stage.lab is None:
        return _on_loopback(stage)
    a = stage.lab.host("a")
    values = {"ifname": "eth0", "gateway": "2001:db8:0:2::2"}
    with tempfile.TemporaryDirectory(prefix="tour-netsh-") as state:

        async def netsh(*words: str) -> tuple[int, str]:
            command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6.cli.netsh"]
            done = await a.run([*command, *words], check=False)
            return done.returncode, (done.stdout + done.stderr).decode().rstrip()

        async def step(shown: str, *words: str) -> tuple[int, str]:
            code, out = await netsh(*words)
            stage.show([f"a$ {shown}", *out.splitlines()])
            return code, out

        paths = {}
        for name, text in (("setup", SCRIPT), ("undo", UNDO), ("failing", FAILING)):
            paths[name] = f"{state}/{name}.txt"
            with open(paths[name], "w", encoding="utf-8") as script:
                script.write(text.format(**values))
        stage.say("On host a, a script of netsh words, applied as one transaction:")
        stage.show(SCRIPT.format(**values).splitlines(), indent="   | ")
        applied, _ = await step("netsh -f setup.txt", "-f", paths["setup"])
        _, shown = await step(
            "netsh interface ipv6 show addresses eth0", "interface", "ipv6", "show", "addr", "eth0"
        )
        _, dumped = await step("netsh interface ipv6 dump", "interface", "ipv6", "dump")
        stage.say("A script whose last line the kernel refuses changes nothing:")
        failed, why = await step("netsh -f failing.txt", "-f", paths["failing"])
        undone, _ = await step("netsh -f undo.txt", "-f", paths["undo"])
        _, after = await netsh("interface", "ipv6", "show", "addresses", "eth0")
        gone = "2001:db8:ac::1" not in after and "2001:db8:ae::1" not in after
        stage.say(
            "After undo.txt, eth0 holds only what the lab gave it."
            if gone
            else "!! addresses are left on eth0"
        )
    return (
        applied == 0
        and undone == 0
        and failed == 1
        and "undone" in why
        and "2001:db8:ac::1" in shown
        and "metric=5" in dumped
        and gone
    )


def _on_loopback(stage: Stage) -> bool:
    stage.say(
        "On loopback the tour changes no interface (that needs root and a lab), so it shows "
        "what netsh would do: each line of a script and the kernel operations it plans."
    )
    interfaces = {name: index for index, name in socket.if_nameindex()}
    text = SCRIPT.format(ifname="lo", gateway="::1")
    lines = []
    for line in parse_script(text.splitlines()):
        lines.append(f"line {line.number}: {line.text}")
        lines += [f"    {op}" for op in plan(line.command, interfaces)]
    stage.show(lines)
    stage.say("As root, `netsh -f FILE` applies such a script as one transaction.")
    return len(lines) > 3
