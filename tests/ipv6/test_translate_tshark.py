"""The translator's packets read by tshark, field by field, for a table of
cases from RFC 7915: tshark is a decoder written apart from ours, and checks
every header and ICMP checksum it reads (status 1: good)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrFragment,
)

from ipv6.translate._mapping import Prefix64, StatelessMapper
from ipv6.translate._siit import Translator

PREFIX = Prefix64.parse("64:ff9b:1::/96")
HOST6, SERVER6 = "64:ff9b:1::a00:5", "64:ff9b:1::c633:6407"
HOST4, SERVER4, ROUTER4 = "10.0.0.5", "198.51.100.7", "203.0.113.9"
ROUTER6 = "64:ff9b:1::cb00:7109"

FIELDS = [
    "ip.version", "ip.src", "ip.dst", "ip.ttl", "ip.proto", "ip.flags.df", "ip.flags.mf",
    "ip.frag_offset", "ip.id", "ip.dsfield", "ip.checksum.status",
    "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.nxt", "ipv6.tclass", "ipv6.flow",
    "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
    "tcp.srcport", "tcp.dstport", "tcp.checksum.status", "udp.srcport", "udp.dstport",
    "udp.checksum.status", "icmp.type", "icmp.code", "icmp.checksum.status", "icmp.mtu",
    "icmp.ident", "icmpv6.type", "icmpv6.code", "icmpv6.checksum.status", "icmpv6.mtu",
    "icmpv6.pointer", "icmpv6.echo.identifier",
]  # fmt: skip

INNER_UDP4 = IP(src=HOST4, dst=SERVER4, ttl=9) / UDP(sport=4000, dport=53) / b"question"
INNER_TCP6 = IPv6(src=SERVER6, dst=HOST6, hlim=9) / TCP(sport=80, dport=40000, flags="SA")

# (name, direction, packet in, the fields tshark must read in the first packet out)
CASES: list[tuple[str, str, Any, dict[str, str]]] = [
    ("tcp 6 to 4 (5.1)", "6", IPv6(src=HOST6, dst=SERVER6, hlim=30, tc=0x28, fl=77)
     / TCP(sport=40000, dport=80, flags="S") / b"data",
     {"ip.version": "4", "ip.src": HOST4, "ip.dst": SERVER4, "ip.ttl": "29", "ip.proto": "6",
      "ip.flags.df": "0", "ip.dsfield": "0x28", "ip.checksum.status": "1",
      "tcp.srcport": "40000", "tcp.dstport": "80", "tcp.checksum.status": "1"}),
    ("udp 6 to 4 over 1260 bytes: DF", "6", IPv6(src=HOST6, dst=SERVER6)
     / UDP(sport=5, dport=6) / (b"u" * 1300),
     {"ip.flags.df": "1", "udp.checksum.status": "1", "ip.checksum.status": "1"}),
    ("udp 4 to 6 (4.1)", "4", IP(src=SERVER4, dst=HOST4, ttl=20, tos=0xB8)
     / UDP(sport=53, dport=4000) / b"answer",
     {"ipv6.src": SERVER6, "ipv6.dst": HOST6, "ipv6.hlim": "19", "ipv6.nxt": "17",
      "ipv6.tclass": "0x000000b8", "ipv6.flow": "0x000000", "udp.checksum.status": "1"}),
    ("udp without checksum 4 to 6 (4.5)", "4", IP(src=SERVER4, dst=HOST4)
     / UDP(sport=53, dport=4000, chksum=0) / b"answer", {"udp.checksum.status": "1"}),
    ("echo request 4 to 6 (4.2)", "4", IP(src=SERVER4, dst=HOST4) / ICMP(type=8, id=99, seq=1),
     {"icmpv6.type": "128", "icmpv6.code": "0", "icmpv6.echo.identifier": "0x0063",
      "icmpv6.checksum.status": "1", "ipv6.nxt": "58"}),
    ("echo reply 6 to 4 (5.2)", "6", IPv6(src=HOST6, dst=SERVER6) / ICMPv6EchoReply(id=7, seq=2),
     {"icmp.type": "0", "icmp.code": "0", "icmp.ident": "7", "icmp.checksum.status": "1",
      "ip.proto": "1"}),
    ("port unreachable 4 to 6 (4.2)", "4", IP(src=ROUTER4, dst=HOST4)
     / ICMP(type=3, code=3) / INNER_UDP4,
     {"icmpv6.type": "1", "icmpv6.code": "4", "icmpv6.checksum.status": "1",
      "ipv6.src": f"{ROUTER6},{HOST6}", "ipv6.dst": f"{HOST6},{SERVER6}"}),
    ("fragmentation needed 4 to 6 (4.2)", "4", IP(src=ROUTER4, dst=HOST4)
     / ICMP(type=3, code=4, nexthopmtu=1400) / INNER_UDP4,
     {"icmpv6.type": "2", "icmpv6.mtu": "1420", "icmpv6.checksum.status": "1"}),
    ("time exceeded 4 to 6 (4.2)", "4", IP(src=ROUTER4, dst=HOST4)
     / ICMP(type=11, code=0) / INNER_UDP4,
     {"icmpv6.type": "3", "icmpv6.code": "0", "icmpv6.checksum.status": "1"}),
    ("parameter problem 4 to 6, pointer 9 to 6 (4.2)", "4", IP(src=ROUTER4, dst=HOST4)
     / ICMP(type=12, code=0, ptr=9) / INNER_UDP4,
     {"icmpv6.type": "4", "icmpv6.code": "0", "icmpv6.pointer": "6"}),
    ("packet too big 6 to 4 (5.2)", "6", IPv6(src=HOST6, dst=SERVER6)
     / ICMPv6PacketTooBig(mtu=1400) / INNER_TCP6,
     {"icmp.type": "3", "icmp.code": "4", "icmp.mtu": "1380", "icmp.checksum.status": "1",
      "ip.src": f"{HOST4},{SERVER4}", "ip.dst": f"{SERVER4},{HOST4}"}),
    ("time exceeded 6 to 4 (5.2)", "6", IPv6(src=HOST6, dst=SERVER6)
     / ICMPv6TimeExceeded(code=1) / INNER_TCP6,
     {"icmp.type": "11", "icmp.code": "1", "icmp.checksum.status": "1"}),
    ("parameter problem 6 to 4, pointer 7 to 8 (5.2)", "6", IPv6(src=HOST6, dst=SERVER6)
     / ICMPv6ParamProblem(code=0, ptr=7) / INNER_TCP6,
     {"icmp.type": "12", "icmp.code": "0", "icmp.checksum.status": "1"}),
    ("ipv4 fragment to ipv6 fragment (4.1)", "4", IP(src=SERVER4, dst=HOST4, id=4321, flags="MF",
     frag=0, proto=17) / (bytes(UDP(sport=1, dport=2, len=2008, chksum=0x1234)) + b"f" * 400),
     {"ipv6.nxt": "44", "ipv6.fraghdr.offset": "0", "ipv6.fraghdr.more": "1",
      "ipv6.fraghdr.ident": "0x000010e1"}),
    ("ipv6 fragment to ipv4 fragment (5.1)", "6", IPv6(src=HOST6, dst=SERVER6)
     / IPv6ExtHdrFragment(id=0x10203, offset=100, m=1, nh=17) / (b"g" * 400),
     {"ip.frag_offset": "100", "ip.flags.mf": "1", "ip.flags.df": "0", "ip.id": "0x0203",
      "ip.checksum.status": "1"}),
]  # fmt: skip


def _pcap(packets: list[bytes | bytearray]) -> bytes:
    """A pcap file of raw IP packets (LINKTYPE_RAW)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    out += [struct.pack("<IIII", 0, 0, len(p), len(p)) + bytes(p) for p in packets]
    return b"".join(out)


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    if shutil.which("tshark") is None:
        pytest.fail("tshark is needed (scripts/check installs it)")
    translator = Translator(StatelessMapper(PREFIX), 0xC0000201, PREFIX.embed(0xC0000201) or 0)
    packets = []
    for name, direction, sent, _ in CASES:
        translate = translator.from_v6 if direction == "6" else translator.from_v4
        out = translate(raw(sent), 0)
        assert out.packets, f"{name}: dropped ({out.drop})"
        packets.append(out.packets[0])
    path = Path(tmp_path_factory.mktemp("tshark")) / "translated.pcap"
    path.write_bytes(_pcap(packets))
    options = [f"{p}.check_checksum:TRUE" for p in ("ip", "tcp", "udp")]
    command = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t",
               "-E", "aggregator=,"]  # fmt: skip
    command += [arg for o in options for arg in ("-o", o)]
    command += [arg for f in FIELDS for arg in ("-e", f)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in result.stdout.splitlines()]
    assert len(rows) == len(CASES)
    return rows


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_tshark_reads_what_rfc_7915_says(decoded: list[dict[str, str]], index: int) -> None:
    name, _, _, expected = CASES[index]
    row = decoded[index]
    got = {field: row[field] for field in expected}
    assert got == expected, name
