"""The seeds' Configuration 3 in the link-local lab: hosts a and b secure all
their traffic with AH (HMAC-MD5, SPIs 3000 and 3001, the key "This is a test")
by ipsec6 c, editing the files as the seeds' tables say, and ipsec6 a. This
kernel has no AH, so the userspace plane carries it.

Oracles: tshark decodes what is on the wire (next header 51, SPIs, sequence
numbers); scapy's IPsec verifies the captured ICVs and signs a packet the
toolkit must accept; a third host m sends what the toolkit must refuse, and
a's own socket shows what got through."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
import trio
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import AH, SecurityAssociation
from scapy.utils import rdpcap

from tests.mcast.labs import output_while
from tests.waiting import bound, wait_until

pytestmark = pytest.mark.needs_root

A = "fe80::210:5aff:feaa:20a2"  # a's eth0
B = "fe80::260:97ff:fe02:6ea5"  # b's eth0
KEY = b"This is a test"
PORT = 9999


async def ipsec6(host, state: Path, *words: str, check: bool = True):
    command = ["env", f"NETSH_STATE_DIR={state}", sys.executable, "-m", "ipv6.cli.ipsec6", *words]
    done = await host.run(command, check=False)
    if check:
        assert done.returncode == 0, f"ipsec6 {' '.join(words)}: {done.stderr.decode()}"
    return done


async def configure(host, state: Path, folder: Path, me: str, peer: str) -> Path:
    """The seeds' steps: ipsec6 c test, then the policy and the two SAs added to
    the templates (Host 1 sends with SPI 3001, Host 2 with SPI 3000), and Test.key."""
    folder.mkdir()
    base = folder / "test"
    await ipsec6(host, state, "c", str(base))
    host1, host2 = A, B
    spd = base.with_suffix(".spd")
    lines = spd.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("1 "))
    lines.insert(first, f"2 {peer.upper()} * * * * AH TRANSPORT * NONE BIDIRECT APPLY 0 ;")
    spd.write_text("\n".join(lines) + "\n")
    out, into = ("OUTBOUND", "INBOUND") if me == host1 else ("INBOUND", "OUTBOUND")
    with base.with_suffix(".sad").open("a") as sad:
        sad.write(f"2 3001 {host2.upper()} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 "
                  f"Test.key {out} 2 ;\n")  # fmt: skip
        sad.write(f"1 3000 {host1.upper()} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 "
                  f"Test.key {into} 2 ;\n")  # fmt: skip
    (folder / "Test.key").write_text('"This is a test"\n')
    return base


async def protect_both(a, b, state: Path, tmp_path: Path) -> None:
    """Configuration 3 on a (Host 1) and b (Host 2), applied with ipsec6 a."""
    for host, me, peer in ((a, A, B), (b, B, A)):
        base = await configure(host, state, tmp_path / host.name, me, peer)
        await ipsec6(host, state, "a", str(base))


async def chains(host) -> str:
    return str((await host.run(["ip6tables", "-t", "mangle", "-S"])).stdout.decode())


async def capture(host, path: Path, during, seconds: float) -> None:
    argv = ["tshark", "-i", "eth0", "-w", str(path), "-f", "ip6 and not ip6 multicast",
            "-a", f"duration:{seconds}"]  # fmt: skip
    status, _ = await output_while(host, argv, during, says=b"Capturing on")
    assert status == 0


async def decoded(host, path: Path) -> list[list[str]]:
    fields = ["ipv6.src", "ipv6.dst", "ipv6.nxt", "ah.spi", "ah.sequence"]
    argv = ["tshark", "-r", str(path), "-T", "fields"]
    for name in fields:
        argv += ["-e", name]
    out = (await host.run(argv)).stdout.decode()
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def scapy_sa(spi: int, key: bytes = KEY, sequence: int = 1) -> SecurityAssociation:
    sa = SecurityAssociation(AH, spi=spi, auth_algo="HMAC-MD5-96", auth_key=key)
    sa.seq_num = sequence
    return sa


async def test_configuration_3_protects_ping_and_tcp_and_scapy_agrees(lab, tmp_path) -> None:
    state = tmp_path / "state"
    async with lab("link-local") as running:
        a, b = running.host("a"), running.host("b")
        await bad_input_changes_nothing(a, state, tmp_path)
        base_a = await configure(a, state, tmp_path / "a", A, B)
        base_b = await configure(b, state, tmp_path / "b", B, A)
        for host, base in ((a, base_a), (b, base_b)):
            done = await ipsec6(host, state, "a", str(base))
            assert b"on the userspace plane" in done.stdout, done.stdout

        pcap = tmp_path / "b.pcap"
        results = {}

        async def traffic() -> None:
            ping = await a.run(["ping", "-c", "3", "-i", "0.2", f"{B}%eth0"], check=False)
            results["ping"] = ping.stdout.decode()
            listen = f"TCP6-LISTEN:{PORT},reuseaddr"
            async with trio.open_nursery() as nursery:

                async def serve() -> None:
                    got = await b.run(["timeout", "5", "socat", "-u", listen, "STDOUT"])
                    results["tcp"] = got.stdout

                nursery.start_soon(serve)
                await bound(b, PORT, "tcp")
                payload = b"the seeds' configuration 3\n" * 400  # some full-sized segments
                await a.run(["socat", "-u", "STDIN", f"TCP6:[{B}%eth0]:{PORT}"], stdin=payload)
            results["sent"] = payload

        await capture(b, pcap, traffic, seconds=9)
        assert " 0% packet loss" in results["ping"], results["ping"]
        assert results["tcp"] == results["sent"]

        # tshark: every packet between a and b has an AH, with its SPI, numbered upwards.
        rows = [r for r in await decoded(b, pcap) if {r[0], r[1]} == {A, B}]
        assert len(rows) >= 10
        seen: dict[str, list[int]] = {A: [], B: []}
        for src, _, next_header, spi, sequence in rows:
            assert next_header == "51", rows
            assert int(spi, 16) == (3001 if src == A else 3000)
            seen[src].append(int(sequence))
        for numbers in seen.values():
            # upwards, one by one: no protected packet of the capture's time went missing
            assert numbers == list(range(numbers[0], numbers[-1] + 1)), numbers

        # scapy: each captured ICV is right for the SA that made it.
        for frame in rdpcap(str(pcap)):
            packet = frame[IPv6]
            if {packet.src, packet.dst} == {A, B}:
                scapy_sa(3001 if packet.src == A else 3000).decrypt(packet)

        shown = json.loads((await ipsec6(a, state, "sa", "--json")).stdout)
        counted = {row["spi"]: row for row in shown["associations"]}
        # The plane counted what the wire showed (and what a sent before the capture began).
        assert counted[3001]["packets"] >= len(seen[A])
        assert counted[3001]["sequence"] >= max(seen[A])


async def bad_input_changes_nothing(host, state: Path, tmp_path: Path) -> None:
    """Each mistake: one line, exit 2, nothing active, no rule."""
    good = await configure(host, state, tmp_path / "bad", A, B)
    spd, sad = good.with_suffix(".spd"), good.with_suffix(".sad")
    spd_text, sad_text = spd.read_text(), sad.read_text()
    key = tmp_path / "bad" / "Test.key"
    mistakes = [
        (spd_text.replace("APPLY 0 ;", "APPLY 0"), sad_text, "ends with a semicolon"),
        (spd_text, sad_text.replace("OUTBOUND 2 ;", "OUTBOUND 5 ;"), "no policy 5"),
        (spd_text, sad_text.replace("HMAC-MD5 Test.key OUT", "HMAC-SHA1 Test.key OUT"),
         "'HMAC-SHA1'"),
        (spd_text.replace("\n2 ", "\n0 ", 1), sad_text, "not a positive number"),
        (spd_text.replace("\n1 *", "\n3 *"), sad_text, "decreasing numerical order"),
        (spd_text, sad_text.replace("Test.key", "Missing.key"), "no key file 'Missing.key'"),
        (spd_text.replace("APPLY 0 ;", "APPLY 999 ;"), sad_text, "no interface 999"),
    ]  # fmt: skip
    for spd_now, sad_now, words in mistakes:
        spd.write_text(spd_now)
        sad.write_text(sad_now)
        done = await ipsec6(host, state, "a", str(good), check=False)
        error = done.stderr.decode()
        assert done.returncode == 2 and words in error and error.count("\n") == 1, error
    spd.write_text(spd_text)
    sad.write_text(sad_text)
    key.write_text("")
    done = await ipsec6(host, state, "a", str(good), check=False)
    assert done.returncode == 2 and "Test.key is empty" in done.stderr.decode()
    shown = json.loads((await ipsec6(host, state, "sp", "--json")).stdout)
    assert shown["policies"] == [] and "IPSEC6" not in await chains(host)


def send_raw(packets: list[bytes], interface: str) -> None:
    """Runs inside host m: each packet as it is, source address and all."""
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        for packet in packets:
            raw.sendto(packet, (A, 0, 0, socket.if_nametoindex(interface)))


async def listen(seconds: float) -> list[bytes]:
    """Runs inside host a: what a's own UDP socket receives."""
    sock = trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    await sock.bind(("::", PORT))
    got = []
    with sock, trio.move_on_after(seconds):
        while True:
            got.append(await sock.recv(2048))
    return got


async def test_a_third_host_cannot_get_past_and_d_restores_the_clear(lab, tmp_path) -> None:
    state = tmp_path / "state"
    async with lab("link-local") as running:
        a, b, m = running.host("a"), running.host("b"), running.host("m")
        await protect_both(a, b, state, tmp_path)

        def udp(data: bytes) -> IPv6:
            return IPv6(src=B, dst=A, hlim=64) / UDP(sport=4000, dport=PORT) / data

        pcap = tmp_path / "a.pcap"
        received: list[bytes] = []
        numbers: dict[str, int] = {}

        async def exchange() -> None:
            async with trio.open_nursery() as nursery:

                async def hear() -> None:
                    received.extend(await a.run_trio(listen, 6.0))

                nursery.start_soon(hear)
                await bound(a, PORT, "udp")
                send = f"import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'legit', ('{A}%eth0', {PORT}))"  # noqa: E501
                await b.run([sys.executable, "-c", send])

                def captured() -> list[bytes]:
                    return [bytes(f[IPv6]) for f in rdpcap_now(pcap)
                            if f.haslayer(IPv6) and f[IPv6].src == B and f[IPv6].nh == 51
                            and f[IPv6].haslayer(AH)]  # fmt: skip

                await wait_until(captured, "the capture to hold b's datagram")
                legit = captured()[0]
                # b's next numbers stay inside the window scapy's packet moves
                sas_b = json.loads((await ipsec6(b, state, "sa", "--json")).stdout)
                ahead = next(r for r in sas_b["associations"] if r["direction"] == "OUTBOUND")
                numbers["scapy"] = ahead["sequence"] + 20
                forged = [
                    bytes(udp(b"forged: unsigned")),
                    bytes(scapy_sa(3000, b"a wrong key", 900).encrypt(udp(b"forged: key"))),
                    bytes(scapy_sa(4000, KEY, 901).encrypt(udp(b"forged: spi"))),
                    legit,  # replayed as it was captured
                    cut_short(udp(b"forged: an AH that claims more than there is")),
                    bytes(scapy_sa(3000, KEY, numbers["scapy"]).encrypt(udp(b"signed by scapy"))),
                ]
                await m.run_sync(send_raw, forged, "eth0")

        await capture(a, pcap, exchange, seconds=6)
        assert sorted(received) == [b"legit", b"signed by scapy"], received
        shown = json.loads((await ipsec6(a, state, "sp", "--json")).stdout)
        assert shown["drops"] == {"bad_icv": 1, "malformed": 1, "replayed": 1,
                                  "unknown_spi": 1, "unprotected": 1}  # fmt: skip
        sas = json.loads((await ipsec6(a, state, "sa", "--json")).stdout)["associations"]
        inbound = next(row for row in sas if row["direction"] == "INBOUND")
        assert inbound["drops"] == {"bad_icv": 1, "replayed": 1}
        assert inbound["sequence"] >= numbers["scapy"]  # scapy's packet moved the window

        # Packets the AH makes too big for the link are fragmented by the service (1452
        # octets of echo data), bigger ones again by the kernel after the AH (3000).
        for size in ("1452", "3000"):
            big = await a.run(["ping", "-c", "2", "-i", "0.2", "-s", size, f"{B}%eth0"],
                              check=False)  # fmt: skip
            assert big.returncode == 0, big.stdout
        shown = json.loads((await ipsec6(a, state, "sp", "--json")).stdout)
        assert shown["handled"]["protected_fragmented"] == 2

        # Stopping b's service leaves no rule behind (and b's traffic then stops).
        rules_b = await chains(b)
        assert "IPSEC6-OUT" in rules_b and "TCPMSS" in rules_b and "NFQUEUE" in rules_b
        await stop_service(b, state, signal.SIGTERM)
        assert "IPSEC6" not in await chains(b)

        # a's service killed outright: its rules stay, and with no one to answer the
        # queue the protected traffic is dropped, not sent in the clear.
        await stop_service(a, state, signal.SIGKILL)
        assert "NFQUEUE" in await chains(a)
        cut = await a.run(["ping", "-c", "1", "-W", "1", f"{B}%eth0"], check=False)
        assert cut.returncode != 0

        # ipsec6 d on a removes the SAs and the policy (and the dead service's rules): a's
        # traffic is clear again.
        for words in (("d", "type=sa", "2"), ("d", "type", "=", "sa", "1"), ("d", "type=sp", "2")):
            await ipsec6(a, state, *words)
        assert "IPSEC6" not in await chains(a)
        clear = tmp_path / "clear.pcap"

        async def ping() -> None:
            done = await a.run(["ping", "-c", "2", "-i", "0.2", f"{B}%eth0"], check=False)
            assert done.returncode == 0, done.stdout

        await capture(b, clear, ping, seconds=4)
        rows = [r for r in await decoded(b, clear) if r[0] == A and r[1] == B]
        assert rows and all(r[2] == "58" for r in rows), rows


def cut_short(packet: IPv6) -> bytes:
    """An AH whose length field runs past the packet (the service must count, not end)."""
    signed = bytearray(bytes(scapy_sa(3000, KEY, 950).encrypt(packet)))
    signed[41] = 200  # the AH's payload length: 808 octets
    return bytes(signed)


def rdpcap_now(path: Path):
    """The frames tshark has written so far (it flushes each packet to the file)."""
    return rdpcap(str(path))


async def stop_service(host, state: Path, how: signal.Signals) -> None:
    """A signal to the ipsec6 service of ``host``'s namespace, as an administrator would send."""
    inode = (await host.run(["stat", "-L", "-c", "%i", "/proc/self/ns/net"])).stdout.decode()
    data = json.loads((state / f"ipsec6-netns-{inode.strip()}.json").read_text())
    pid = data["service"]
    os.kill(pid, how)
    await wait_until(lambda: b"ipsec" not in _cmdline(pid), "the ipsec6 service to end",
                     timeout=10)  # fmt: skip


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
