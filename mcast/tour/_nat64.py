"""Tour scene: an IPv6-only network reaching an IPv4-only server through the
toolkit's NAT64 and DNS64, and an IPv4-only application through a CLAT."""

from __future__ import annotations

import os
import sys
import tempfile
from ipaddress import IPv4Address, IPv4Network, IPv6Address

import trio

from ipv6.translate import Nat64Mapper, Prefix64, Translator

from ._stage import Stage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipv6.lab import LabHost

PREFIX = "64:ff9b:1::/96"
POOL = "203.0.113.0/28"
SERVER4 = "198.51.100.10"
GW6 = "2001:db8:64::1"
ZONE = """\
$ORIGIN lab.example.
$TTL 300
@       IN SOA ns hostmaster 1 3600 600 86400 60
@       IN NS  ns
ns      IN AAAA 2001:db8:64::1
server  IN A 198.51.100.10
"""


async def ipv6_only(stage: Stage) -> bool:
    if stage.lab is None:
        return _on_loopback(stage)
    from ipv6.lab import builtin_lab, load_config, open_lab

    path = builtin_lab("nat64")
    assert path is not None
    config = load_config(path, name=f"tour64{os.getpid() % 10000}")
    stage.say(
        f"A third lab, {config.name!r}: h6 and c6 have IPv6 only, s4 ({SERVER4}) IPv4 only; "
        "gw between them runs the toolkit's NAT64 (RFC 6146) and DNS64 (RFC 6147), and "
        "advertises its DNS server and NAT64 prefix (RFC 8106, RFC 8781)."
    )
    with tempfile.TemporaryDirectory(prefix="tour-nat64-") as state:
        zone = os.path.join(state, "lab.zone")
        with open(zone, "w", encoding="ascii") as f:
            f.write(ZONE)
        async with open_lab(config) as lab:
            gw, h6, c6 = lab.host("gw"), lab.host("h6"), lab.host("c6")

            async def run(host: LabHost, *words: str, shown: bool = True) -> str:
                done = await host.run(list(words), check=False)
                out = str((done.stdout + done.stderr).decode()).rstrip()
                if shown:
                    command = " ".join(words).replace(f"env NETSH_STATE_DIR={state} ", "")
                    command = command.replace(f"{sys.executable} -m ", "")
                    stage.show([f"{host.name}$ {command}", *out.splitlines()])
                return out

            env = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m"]
            await run(gw, *env, "ipv6", "nat64", "add", "nat64", "--prefix", PREFIX,
                      "--pool", POOL)  # fmt: skip
            await run(gw, *env, "ipv6.cli.netsh", "interface", "ipv6", "set", "interface",
                      "lan0", "forwarding=enabled", "advertise=enabled",
                      f"dnsservers={GW6}", f"nat64prefix={PREFIX}", shown=False)  # fmt: skip
            async with trio.open_nursery() as nursery:
                dns64 = [*env, "ipv6", "dns64", "--prefix", PREFIX, "--zone", zone,
                         "--listen", GW6, "--duration", "30"]  # fmt: skip
                nursery.start_soon(gw.run, dns64)
                with trio.move_on_after(10):
                    while ":53 " not in (await gw.run(["ss", "-lnuH"])).stdout.decode():
                        await trio.sleep(0.05)
                stage.say("h6 asks DNS64 for the IPv4-only server's name, and pings the answer:")
                answer = await run(h6, "dig", "+short", "AAAA", "server.lab.example", f"@{GW6}")
                reached = await run(h6, "ping", "-c", "2", "-i", "0.2", "-W", "2",
                                    answer.split()[0] if answer else "::1")  # fmt: skip
                stage.say(
                    "c6 runs a CLAT: the prefix comes from gw's advertisement, and IPv4-only "
                    "programs there reach IPv4 addresses:"
                )
                await run(c6, *env, "ipv6", "clat", "add", "clat")
                through = await run(c6, "ping", "-c", "2", "-i", "0.2", "-W", "2", SERVER4)
                status = await run(gw, *env, "ipv6", "nat64", "status", "--sessions", "4")
                await run(c6, *env, "ipv6", "clat", "delete", "clat", shown=False)
                nursery.cancel_scope.cancel()
    stage.say("The lab is down again.")
    return " 0% packet loss" in reached and " 0% packet loss" in through and "running" in status


def _on_loopback(stage: Stage) -> bool:
    stage.say(
        "Without root there is no lab, so the tour translates in memory: an IPv6-only "
        f"host's UDP datagram to {SERVER4}, through a NAT64 with prefix {PREFIX} and pool "
        f"{POOL}, and the server's answer back (RFC 6146, RFC 7915):"
    )
    prefix = Prefix64.parse(PREFIX)
    own4 = int(IPv4Network(POOL).network_address)  # the translator's, never handed out
    mapper = Nat64Mapper(prefix, IPv4Network(POOL), reserved=frozenset({own4}))
    translator = Translator(mapper, own4, prefix.embed_any(own4))
    server6 = IPv6Address(prefix.embed(int(IPv4Address(SERVER4))) or 0)
    host6 = IPv6Address("2001:db8:64::10")
    sent = _udp6(host6, server6, 5353, 53, b"question")
    (out,) = translator.from_v6(sent, 0).packets
    src4, dst4 = IPv4Address(bytes(out[12:16])), IPv4Address(bytes(out[16:20]))
    sport = int.from_bytes(out[20:22], "big")
    lines = [
        f"[{host6}]:5353 -> [{server6}]:53   becomes   {src4}:{sport} -> {dst4}:53 "
        f"(TTL {out[8]}, checksum moved, RFC 1624)"
    ]
    answer = bytearray(out)
    answer[12:16], answer[16:20] = out[16:20], out[12:16]
    answer[20:22], answer[22:24] = out[22:24], out[20:22]
    (back,) = translator.from_v4(bytes(answer), 0).packets
    to6 = IPv6Address(bytes(back[24:40]))
    lines.append(f"{dst4}:53 -> {src4}:{sport}   becomes   [{server6}]:53 -> [{to6}]:5353")
    (row,) = mapper.rows(0)
    lines.append(f"session: {row.protocol} {row.state or 'open'}, expires in {row.expires_in:g} s")
    stage.show(lines)
    return to6 == host6


def _udp6(src: IPv6Address, dst: IPv6Address, sport: int, dport: int, data: bytes) -> bytes:
    from ipv6.tunnel import ipv6_packet

    length = 8 + len(data)
    body = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + length.to_bytes(2, "big")
    pseudo = src.packed + dst.packed + length.to_bytes(4, "big") + bytes([0, 0, 0, 17])
    total = int.from_bytes(pseudo + body + data + b"\0" * (len(data) % 2), "big") % 0xFFFF
    body += ((~total & 0xFFFF) or 0xFFFF).to_bytes(2, "big")
    return ipv6_packet(int(src), int(dst), 17, body + data)
