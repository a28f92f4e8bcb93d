"""The translator against its conformance table (tests/ipv6/translation_table.py):
each case's packets byte by byte against what scapy built from the RFC's text;
the same cases through the fast path for remembered flows, which must give
the same bytes as the full path; every ICMP error the cases make read by
tshark; and docs/translation.md's compliance statement made from the table."""

from __future__ import annotations

import shutil
import struct
import subprocess
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6

from ipv6._errors import BadInput
from ipv6.translate._fastpath import FlowCache
from ipv6.translate._siit import Translator
from ipv6.translate._spec import TranslatorSpec, check, make_translator, routes
from tests.ipv6 import translation_table as table

CASES = [c for req in table.TABLE for c in req.checks if isinstance(c, table.Case)]
REFUSALS = [c for req in table.TABLE for c in req.checks if isinstance(c, table.Refusal)]
ROUTED = [c for req in table.TABLE for c in req.checks if isinstance(c, table.Routed)]


def spec_of(config: dict[str, Any], subnets: dict[str, list[str]]) -> TranslatorSpec:
    spec = TranslatorSpec(name="t", **config)
    nets = {name: [IPv4Network(n) for n in found] for name, found in subnets.items()}
    check(spec, subnets=nets, names=set())
    return spec


def translator(case: table.Case) -> Translator:
    return make_translator(spec_of(case.config, case.subnets))


def send(t: Translator, sent: table.Send) -> tuple[list[bytes], str | None]:
    t.expire(sent.at)  # the service's timer, run before the packet as it would have
    data = sent.packet if isinstance(sent.packet, bytes) else raw(sent.packet)
    out = (t.from_v6 if sent.family == "6" else t.from_v4)(data, sent.at)
    return [bytes(p) for p in out.packets], out.drop


def outputs(case: table.Case, t: Translator | None = None) -> tuple[list[bytes], str | None]:
    t = t or translator(case)
    for earlier in case.before:
        send(t, earlier)
    packets, drop = send(t, case.send)
    if case.expire_at is not None:
        packets += [bytes(p) for p in t.expire(case.expire_at)]
    return packets, drop


def shown(packet: bytes) -> str:
    """A packet as scapy decodes it, for a failure's message."""
    decoded = IPv6(packet) if packet and packet[0] >> 4 == 6 else IP(packet)
    return str(decoded.show2(dump=True))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_packets_are_what_the_rfc_says(case: table.Case) -> None:
    got, drop = outputs(case)
    expected = [raw(p) if not isinstance(p, bytes) else p for p in case.expect]
    assert drop == case.drop
    assert len(got) == len(expected), [shown(p) for p in got]
    for n, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert mine == theirs, f"packet {n}:\n{shown(mine)}\nexpected:\n{shown(theirs)}"


@pytest.mark.parametrize("refusal", REFUSALS, ids=[c.name for c in REFUSALS])
def test_what_cannot_work_is_refused_before_anything_starts(refusal: table.Refusal) -> None:
    with pytest.raises(BadInput, match=refusal.why):
        spec_of(refusal.config, {})


@pytest.mark.parametrize("routed", ROUTED, ids=[c.name for c in ROUTED])
def test_the_device_gets_the_routes_the_table_says(routed: table.Routed) -> None:
    assert [str(r) for r in routes(spec_of(routed.config, routed.subnets))] == list(routed.routes)


def test_every_requirement_has_a_check_and_every_case_a_unique_name() -> None:
    assert all(req.checks for req in table.TABLE)
    names = [c.name for req in table.TABLE for c in req.checks]
    assert len(names) == len(set(names))
    assert {req.status for req in table.TABLE} <= {"yes", "partly", "deviates"}


def again(case: table.Case) -> tuple[bytes | None, list[bytes], str | None]:
    """The case's packet a second time, after the first went the full way: through
    the fast path of one translator (None when it does not take that packet) and
    the full path of a twin that has been through the same (its remembered flows
    forgotten, so that it cannot take the fast path)."""
    fast, full = translator(case), translator(case)
    for t in (fast, full):
        outputs(case, t)
    sent = case.send
    data = sent.packet if isinstance(sent.packet, bytes) else raw(sent.packet)
    quick = (fast.fast_from_v6 if sent.family == "6" else fast.fast_from_v4)(data, sent.at)
    full.flows = FlowCache()
    out = (full.from_v6 if sent.family == "6" else full.from_v4)(data, sent.at)
    return (None if quick is None else bytes(quick)), [bytes(p) for p in out.packets], out.drop


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_fast_path_gives_the_full_paths_bytes(case: table.Case) -> None:
    quick, full, drop = again(case)
    if quick is not None:
        assert (drop, full) == (None, [quick])


def test_the_fast_path_takes_the_flows_it_is_for() -> None:
    """Enough of the table's packets take the fast path for the comparison to mean
    something: its TCP and UDP flows without options, fragments or SYN/FIN/RST."""
    taken = [c.name for c in CASES if again(c)[0] is not None]
    assert len(taken) >= 25, taken
    assert "6to4 UDP" in taken and "4to6 TCP" not in taken  # a SYN-ACK: the full path's


def _pcap(packets: list[bytes]) -> bytes:
    """A pcap file of raw IP packets (LINKTYPE_RAW)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    out += [struct.pack("<IIII", 0, 0, len(p), len(p)) + p for p in packets]
    return b"".join(out)


def _is_error(packet: bytes) -> bool:
    if packet[0] >> 4 == 4:
        return packet[9] == 1 and packet[(packet[0] & 0x0F) * 4] in (3, 11, 12)
    return packet[6] == 58 and packet[40] < 128


FIELDS = ["ip.checksum.status", "icmp.checksum.status", "icmpv6.checksum.status",
          "icmp.ext.checksum.status", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
          "_ws.malformed", "_ws.expert.severity"]  # fmt: skip


def test_tshark_reads_every_icmp_error_the_table_makes(tmp_path: Path) -> None:
    """tshark, a decoder written apart from ours, checks each error's checksums (and its
    extension's), finds nothing malformed, and reads a quoted packet that the error's
    destination sent (RFC 792, RFC 4443 2.4: the error goes back to the source)."""
    if shutil.which("tshark") is None:
        pytest.fail("tshark is needed (scripts/check installs it)")
    errors = [p for c in CASES for p in outputs(c)[0] if _is_error(p)]
    assert len(errors) >= 50
    path = tmp_path / "errors.pcap"
    path.write_bytes(_pcap(errors))
    command = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t",
               "-E", "aggregator=,", "-o", "ip.check_checksum:TRUE",
               # Wireshark reads an ICMPv4 extension after a quoted datagram over 128
               # bytes only when told to favour them (ICMPv6's it always reads).
               "-o", "icmp.favor_icmp_mpls:TRUE"]  # fmt: skip
    command += [arg for f in FIELDS for arg in ("-e", f)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in result.stdout.splitlines()]
    assert len(rows) == len(errors)
    extensions = 0
    for n, (row, error) in enumerate(zip(rows, errors, strict=True)):
        where = f"error {n}: {row}"
        if row["ip.src"] and not row["ipv6.src"]:
            assert row["ip.checksum.status"].split(",")[0] == "1", where
            assert row["icmp.checksum.status"].split(",")[0] == "1", where
            outer_dst, inner_src = row["ip.dst"].split(",")[0], row["ip.src"].split(",")[1]
        else:
            assert row["icmpv6.checksum.status"].split(",")[0] == "1", where
            outer_dst, inner_src = row["ipv6.dst"].split(",")[0], row["ipv6.src"].split(",")[1]
        assert outer_dst == inner_src, where
        assert not row["_ws.malformed"], where
        # An error whose RFC 4884 length says an extension follows the datagram: tshark
        # finds it there, its own checksum good.
        v4 = error[0] >> 4 == 4
        if error[25] if v4 else (error[40] in (1, 3) and error[44]):
            assert row["icmp.ext.checksum.status"] == "1", where
            extensions += 1
    assert extensions >= 4  # the table's errors with RFC 4884 extensions, both ways


def test_the_compliance_statement_in_the_docs_is_the_tables() -> None:
    """docs/translation.md carries the table; `python -m tests.ipv6.translation_table
    --write` remakes it after the table changes."""
    text = table.DOC.read_text()
    assert table.rewritten(text) == text, "run: python -m tests.ipv6.translation_table --write"
