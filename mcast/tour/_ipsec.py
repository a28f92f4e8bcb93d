"""Tour scene: IPsec between two hosts, as the seeds' Configuration 3 sets it up
(ipsec6 c, the files edited, ipsec6 a), and a third host's forgery refused."""

from __future__ import annotations

import socket
import sys
import tempfile
from ipaddress import IPv6Address
from pathlib import Path

from ipv6.ipsec import Engine, read_sad, read_spd
from ipv6.tunnel import ipv6_packet

from ._stage import Stage

A, B = "2001:db8:0:2::1", "2001:db8:0:2::2"  # the lan lab's a and b
POLICY = "2 {peer} * * * * AH TRANSPORT * NONE BIDIRECT APPLY 0 ;"
SAS = (
    "2 3001 {b} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key {out} 2 ;\n"
    "1 3000 {a} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key {into} 2 ;\n"
)


def write_files(base: Path, me: str, peer: str) -> None:
    """The seeds' step 2 and 3: the policy above the template's policy 1, two SAs."""
    spd = base.with_suffix(".spd")
    lines = spd.read_text().splitlines()
    lines.insert(len(lines) - 1, POLICY.format(peer=peer))
    spd.write_text("\n".join(lines) + "\n")
    first = me == A
    with base.with_suffix(".sad").open("a") as sad:
        sad.write(SAS.format(a=A, b=B, out="OUTBOUND" if first else "INBOUND",
                             into="INBOUND" if first else "OUTBOUND"))  # fmt: skip
    (base.parent / "Test.key").write_text('"This is a test"\n')


def forged_echo() -> bytes:
    """An echo request that says it comes from b, with no AH: what host c sends."""
    body = bytes([128, 0, 0, 0, 0, 7, 0, 1]) + b"forged by c"
    return ipv6_packet(int(IPv6Address(B)), int(IPv6Address(A)), 58, body)


def send_as_is(packet: bytes) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.sendto(packet, (A, 0))


async def configuration_3(stage: Stage) -> bool:
    if stage.lab is None:
        return _on_loopback(stage)
    hosts = {name: stage.lab.host(name) for name in ("a", "b", "c")}
    with tempfile.TemporaryDirectory(prefix="tour-ipsec6-") as work:

        async def ipsec6(name: str, *words: str, show: bool = True) -> tuple[int, str]:
            command = ["env", f"NETSH_STATE_DIR={work}/state", sys.executable, "-m",
                       "ipv6.cli.ipsec6", *words]  # fmt: skip
            done = await hosts[name].run(command, check=False)
            out = (done.stdout + done.stderr).decode().rstrip()
            if show:
                shown = " ".join(w if not w.startswith(work) else Path(w).name for w in words)
                stage.show([f"{name}$ ipsec6 {shown}", *out.splitlines()])
            return done.returncode, out

        stage.say("a and b secure all their traffic with AH (HMAC-MD5, the seeds' SPIs 3000 "
                  "and 3001, the key file's \"This is a test\"):")  # fmt: skip
        applied = []
        for name, me, peer in (("a", A, B), ("b", B, A)):
            folder = Path(work) / name
            folder.mkdir()
            await ipsec6(name, "c", str(folder / "test"), show=name == "a")
            write_files(folder / "test", me, peer)
            if name == "a":
                stage.show((folder / "test.spd").read_text().splitlines()[-2:], indent="   | ")
                stage.show((folder / "test.sad").read_text().splitlines()[-2:], indent="   | ")
            applied.append((await ipsec6(name, "a", str(folder / "test")))[0])
        ping = await hosts["a"].run(["ping", "-c", "3", "-i", "0.2", "-q", B], check=False)
        summary = [line for line in ping.stdout.decode().splitlines() if "transmitted" in line]
        stage.show([f"a$ ping -c 3 {B}", *summary])
        stage.say("Host c sends a an echo request that claims to come from b, unsigned:")
        await hosts["c"].run_sync(send_as_is, forged_echo())
        _, counted = await ipsec6("a", "sp")
        stage.say("ipsec6 d takes the SAs and the policy away; traffic flows in the clear:")
        for name in ("a", "b"):
            for words in (("sa", "2"), ("sa", "1"), ("sp", "2")):
                await ipsec6(name, "d", f"type={words[0]}", words[1], show=name == "a")
        clear = await hosts["a"].run(["ping", "-c", "1", "-q", B], check=False)
    return (
        applied == [0, 0]
        and ping.returncode == 0
        and "unprotected 1" in counted
        and clear.returncode == 0
    )


def _on_loopback(stage: Stage) -> bool:
    stage.say(
        "On loopback the tour sets up no IPsec (that needs root and two hosts); it shows "
        "what the userspace plane decides for packets under the seeds' Configuration 3:"
    )
    from ipv6.ipsec import SAD_TEMPLATE, SPD_TEMPLATE

    spd = SPD_TEMPLATE.replace("\n1 ", "\n" + POLICY.format(peer=B) + "\n1 ")
    sad = SAD_TEMPLATE + SAS.format(a=A, b=B, out="OUTBOUND", into="INBOUND")
    policies = read_spd(spd, "test.spd")
    engine = Engine(policies, read_sad(sad, "test.sad", policies,
                                       {"Test.key": '"This is a test"'}))  # fmt: skip
    echo = ipv6_packet(int(IPv6Address(A)), int(IPv6Address(B)), 58, bytes(8))
    sent = engine.outbound(echo)
    refused = engine.inbound(forged_echo())
    stage.show([
        f"a's echo request to b: {getattr(sent, 'how', sent)} (an AH with SPI 3001, sequence 1)",
        f"an unsigned one that claims to come from b: dropped, {getattr(refused, 'reason', '')}",
    ])  # fmt: skip
    return getattr(sent, "how", "") == "protected" and getattr(refused, "reason", "") == (
        "unprotected"
    )
