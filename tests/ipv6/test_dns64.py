"""DNS64's rules (RFC 6147) on messages, RFC 7050 prefix discovery, and the
resolver answering a zone over UDP and TCP on loopback, asked by dig."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
import trio

from ipv6.translate._dns64 import Dns64, ipv4only_answer, zone_answer
from ipv6.translate._dns64server import Dns64Config, serve
from ipv6.translate._mapping import Prefix64
from ipv6.translate._prefixes import from_ipv4only

PREFIX = Prefix64.parse("64:ff9b:1::/96")
ZONE = """\
$ORIGIN lab.example.
$TTL 300
@       IN SOA ns hostmaster 1 3600 600 86400 60
@       IN NS  ns
ns      IN AAAA 2001:db8::53
server  IN A 198.51.100.10
server  IN A 198.51.100.11
both    IN A 198.51.100.10
both    IN AAAA 2001:db8::99
mapped  IN AAAA ::ffff:198.51.100.10
mapped  IN A 198.51.100.10
alias   IN CNAME server
loop    IN A 127.0.0.1
short   60 IN A 198.51.100.12
"""


@pytest.fixture
def zone() -> dns.zone.Zone:
    return dns.zone.from_text(ZONE, relativize=False)


def ask(
    zone: dns.zone.Zone, name: str, rdtype: str = "AAAA", cd: bool = False
) -> dns.message.Message:
    """What the DNS64 answers for (name, rdtype), the zone as its only source."""
    query = dns.message.make_query(name, rdtype)
    if cd:
        query.flags |= dns.flags.CD
    dns64 = Dns64(PREFIX)
    qname = query.question[0].name

    def resolve(rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        found = zone_answer(zone, query, qname, rdtype)
        assert found is not None
        return found

    if not dns64.wants_synthesis(query):
        return resolve(query.question[0].rdtype)
    aaaa = resolve(dns.rdatatype.AAAA)
    if dns64.aaaa_is_enough(aaaa):
        return dns64.filtered(query, aaaa)
    return dns64.synthesize(query, aaaa, resolve(dns.rdatatype.A))


def addresses(response: dns.message.Message) -> list[str]:
    return sorted(
        rd.address
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.AAAA
        for rd in rrset
    )


def test_aaaa_made_from_each_a_record(zone: dns.zone.Zone) -> None:
    got = ask(zone, "server.lab.example")
    assert addresses(got) == ["64:ff9b:1::c633:640a", "64:ff9b:1::c633:640b"]


def test_a_real_aaaa_record_is_the_answer(zone: dns.zone.Zone) -> None:
    assert addresses(ask(zone, "both.lab.example")) == ["2001:db8::99"]


def test_mapped_aaaa_records_are_excluded_and_replaced(zone: dns.zone.Zone) -> None:
    assert addresses(ask(zone, "mapped.lab.example")) == ["64:ff9b:1::c633:640a"]


def test_the_cname_chain_is_kept(zone: dns.zone.Zone) -> None:
    got = ask(zone, "alias.lab.example")
    assert [r.rdtype for r in got.answer] == [dns.rdatatype.CNAME, dns.rdatatype.AAAA]
    assert str(got.answer[1].name) == "server.lab.example."


def test_loopback_a_records_are_not_synthesised(zone: dns.zone.Zone) -> None:
    got = ask(zone, "loop.lab.example")
    assert got.rcode() == dns.rcode.NOERROR and addresses(got) == []


def test_name_error_is_passed_on(zone: dns.zone.Zone) -> None:
    assert ask(zone, "nowhere.lab.example").rcode() == dns.rcode.NXDOMAIN


def test_ttl_is_the_smaller_of_the_a_records_and_the_negative_one(zone: dns.zone.Zone) -> None:
    assert ask(zone, "server.lab.example").answer[0].ttl == 60  # SOA minimum 60 < 300
    assert ask(zone, "short.lab.example").answer[0].ttl == 60


def test_checking_disabled_gets_no_synthesis(zone: dns.zone.Zone) -> None:
    assert addresses(ask(zone, "server.lab.example", cd=True)) == []


def test_ptr_under_the_prefix_is_the_ipv4_reverse_name() -> None:
    query = dns.message.make_query(
        dns.reversename.from_address("64:ff9b:1::c633:640a"), dns.rdatatype.PTR
    )
    target = Dns64(PREFIX).ptr_target(query)
    assert str(target) == "10.100.51.198.in-addr.arpa."
    outside = dns.message.make_query(dns.reversename.from_address("2001:db8::1"), "PTR")
    assert Dns64(PREFIX).ptr_target(outside) is None


def test_ipv4only_arpa_has_its_well_known_a_records() -> None:
    answer = ipv4only_answer(dns.message.make_query("ipv4only.arpa.", "A"))
    assert answer is not None
    assert sorted(rd.address for rd in answer.answer[0]) == ["192.0.0.170", "192.0.0.171"]


@pytest.mark.parametrize(
    "text",
    [
        "64:ff9b::/96",
        "2001:db8:100::/40",
        "2001:db8:122::/48",
        "2001:db8:122:300::/56",
        "2001:db8:122:344::/64",
        "2001:db8::/32",
    ],
)
def test_rfc_7050_finds_the_prefix_of_every_length(text: str) -> None:
    prefix = Prefix64.parse(text)
    prefix.strict = False  # 192.0.0.170 is not global; the discovery finds it all the same
    synthesised = [ipaddress.IPv6Address(prefix.embed(0xC00000AA) or 0)]
    assert [str(p) for p in from_ipv4only(synthesised)] == [text]


def test_rfc_7050_ignores_what_is_not_a_nat64_address() -> None:
    assert from_ipv4only([ipaddress.IPv6Address("2001:db8::1")]) == []
    assert from_ipv4only([ipaddress.IPv6Address("2001:db8:0:0:ff00::c000:aa")]) == []


async def test_the_resolver_answers_dig_over_udp_and_tcp(tmp_path: Path) -> None:
    if shutil.which("dig") is None:
        pytest.fail("dig is needed (scripts/check installs bind9-dnsutils)")
    zone_file = tmp_path / "lab.zone"
    zone_file.write_text(ZONE)
    config = Dns64Config(prefix=str(PREFIX), listen=[("::1", 0)], zone_file=str(zone_file))
    async with trio.open_nursery() as nursery:
        ready = trio.Event()
        servers: list[Any] = []

        def started(server: object) -> None:
            servers.append(server)
            ready.set()

        nursery.start_soon(lambda: serve(config, started=started))
        await ready.wait()
        port = servers[0].addresses[0][1]
        for transport in ("+notcp", "+tcp"):
            out = await trio.run_process(
                ["dig", transport, "+short", "-p", str(port), "@::1", "AAAA", "server.lab.example"],
                capture_stdout=True,
            )
            assert sorted(out.stdout.decode().split()) == [
                "64:ff9b:1::c633:640a",
                "64:ff9b:1::c633:640b",
            ]
        refused = await trio.run_process(
            ["dig", "-p", str(port), "@::1", "AAAA", "elsewhere.example"], capture_stdout=True
        )
        assert b"status: REFUSED" in refused.stdout  # not the zone's, no upstream
        nursery.cancel_scope.cancel()
    counters = servers[0].counters
    assert counters.queries == 3 and counters.synthesized == 2


async def test_names_outside_the_zone_come_from_the_upstream_resolver() -> None:
    """An upstream written here (dnspython answering from a zone of its own) on
    loopback; the DNS64 asks it for AAAA, then A, and synthesises; when it is gone,
    SERVFAIL, counted."""
    import socket

    upstream_zone = dns.zone.from_text(
        "$ORIGIN far.example.\n$TTL 120\n@ IN SOA ns h 1 3600 600 86400 30\n@ IN NS ns\n"
        "ns IN A 192.0.2.53\nweb IN A 192.0.2.80\n",
        relativize=False,
    )
    sock = trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    await sock.bind(("::1", 0))
    upstream_port = sock.getsockname()[1]
    asked: list[str] = []

    upstream_scope = trio.CancelScope()

    async def upstream() -> None:
        with upstream_scope:
            await _answer_from(sock, upstream_zone, asked)

    config = Dns64Config(
        prefix=str(PREFIX), listen=[("::1", 0)], upstream=[("::1", upstream_port)], timeout=0.5
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(upstream)
        ready = trio.Event()
        servers: list[Any] = []

        def started(server: object) -> None:
            servers.append(server)
            ready.set()

        nursery.start_soon(lambda: serve(config, started=started))
        await ready.wait()
        port = servers[0].addresses[0][1]
        out = await trio.run_process(
            ["dig", "+short", "-p", str(port), "@::1", "AAAA", "web.far.example"],
            capture_stdout=True,
        )
        assert out.stdout.decode().split() == ["64:ff9b:1::c000:250"]
        assert asked == ["AAAA", "A"]
        missing = await trio.run_process(
            ["dig", "-p", str(port), "@::1", "AAAA", "nothing.far.example"], capture_stdout=True
        )
        assert b"status: NXDOMAIN" in missing.stdout
        upstream_scope.cancel()  # the upstream goes away
        await trio.sleep(0)  # a checkpoint: the upstream task sees its cancellation
        sock.close()
        failed = await trio.run_process(
            ["dig", "+tries=1", "+time=3", "-p", str(port), "@::1", "AAAA", "web2.far.example"],
            capture_stdout=True,
        )
        assert b"status: SERVFAIL" in failed.stdout
        nursery.cancel_scope.cancel()
    counters = servers[0].counters
    assert counters.forwarded >= 3 and counters.dropped["upstream_failed"] >= 1


async def _answer_from(sock: trio.socket.SocketType, zone: dns.zone.Zone, asked: list[str]) -> None:
    while True:
        wire, peer = await sock.recvfrom(4096)
        query = dns.message.from_wire(wire)
        question = query.question[0]
        asked.append(dns.rdatatype.to_text(question.rdtype))
        answer = zone_answer(zone, query, question.name, question.rdtype)
        assert answer is not None
        await sock.sendto(answer.to_wire(), peer)
