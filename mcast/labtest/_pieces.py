"""The pieces a test of a program commonly needs in a lab, each started by the
toolkit's own commands inside the lab's hosts and stopped with the lab: a
NAT64 + DNS64 gateway, a 6in4 or 6to4 tunnel, a multicast stream sent and
measured, a multicast ping; and an assertion whose failure says what the
network did.

Each returns a typed result (a dataclass with ``to_json``) read from the
command's ``--json``.
"""

from __future__ import annotations

import ipaddress
import json
import select
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ipv6 import LabError, Result

from ._support import READY, stop_process, wait_for

if TYPE_CHECKING:
    from mcast import PingReport

    from ._testlab import Host, Lab

# --- NAT64 + DNS64 -------------------------------------------------------------------------


@dataclass
class Nat64Gateway(Result):
    """A NAT64 (and its DNS64) running in a lab's gateway host."""

    host: str
    prefix: str
    pool: str
    dns: str | None  # where the DNS64 answers (None: none started)
    zone: dict[str, str] = field(default_factory=dict)  # name -> IPv4 address

    def synthesized(self, ipv4: str) -> str:
        """The IPv6 address an IPv6-only host uses for ``ipv4`` (RFC 6052)."""
        from ipv6.translate import Prefix64

        prefix = Prefix64.parse(self.prefix)
        prefix.strict = False
        found = prefix.embed(int(ipaddress.IPv4Address(ipv4)))
        assert found is not None
        return str(ipaddress.IPv6Address(found))

    def status(self, lab: Lab) -> Any:
        """The translator's status (``ipv6 nat64 status --json``): a TranslatorStatus."""
        from ipv6.translate import TranslatorStatus

        done = lab.host(self.host).toolkit("ipv6", "nat64", "status", "nat64", "--json")
        (row,) = json.loads(done.stdout)
        return TranslatorStatus.from_json(row)


def start_nat64(
    lab: Lab, gateway: str, *, prefix: str = "64:ff9b:1::/96", pool: str = "203.0.113.0/28",
    dns64: bool = True, zone: dict[str, str] | None = None, origin: str = "lab.example",
    listen: str | None = None, clients: Sequence[str] | None = None,
) -> Nat64Gateway:  # fmt: skip
    """A NAT64 (RFC 6146) in ``gateway``, and a DNS64 (RFC 6147) answering for ``zone``
    (names under ``origin`` to IPv4 addresses) on ``listen`` (default: the gateway's
    first IPv6 address), the resolver of ``clients`` (default: the lab's IPv6-only
    hosts), so that a program run there finds ``www.lab.example`` by name."""
    gw = lab.host(gateway)
    gw.toolkit("ipv6", "nat64", "add", "nat64", "--prefix", prefix, "--pool", pool)
    dns = None
    names = dict(zone or {})
    if dns64:
        dns = listen or gw.address(6)
        path = lab.state / f"{gateway}.zone"
        path.write_text(_zone_text(origin, dns, names), encoding="ascii")
        gw.spawn([sys.executable, "-m", "ipv6", "dns64", "--prefix", prefix, "--zone", str(path),
                  "--listen", dns])  # fmt: skip
        gw.wait_listening(53, "udp")
        if clients is None:
            clients = [h for h in lab.hosts if h != gateway and _ipv6_only(lab.host(h))]
        for client in clients:
            lab.host(client).resolver(dns, search=[origin])
    return Nat64Gateway(gateway, prefix, pool, dns, names)


def _ipv6_only(host: Host) -> bool:
    versions = {a.version for found in host.addresses.values() for a in found}
    return versions == {6}


def _zone_text(origin: str, server: str, names: dict[str, str]) -> str:
    origin = origin.rstrip(".") + "."
    lines = [f"$ORIGIN {origin}", "$TTL 60", "@ IN SOA ns hostmaster 1 3600 600 86400 60",
             "@ IN NS ns", f"ns IN AAAA {server}"]  # fmt: skip
    for name, address in names.items():
        owner = name if name.endswith(".") else f"{name}."
        if not owner.endswith(origin) and owner != origin:
            raise LabError(f"zone name {name!r} is not under {origin}")
        ipaddress.IPv4Address(address)
        lines.append(f"{owner} IN A {address}")
    return "\n".join(lines) + "\n"


# --- tunnels -------------------------------------------------------------------------------


@dataclass
class Tunnel(Result):
    """A tunnel between two lab hosts: its mode and each end's inner IPv6 address."""

    mode: str
    device: str
    ends: dict[str, str]  # host -> its inner IPv6 address


def start_tunnel(
    lab: Lab, a: str, b: str, *, mode: str = "6in4", prefix: str = "2001:db8:ff00::/64",
) -> Tunnel:  # fmt: skip
    """A configured 6in4 tunnel (RFC 4213) between ``a`` and ``b`` over their IPv4
    addresses, with ``prefix``'s ::1 and ::2 inside; or each host a 6to4 site (RFC
    3056) with the 2002::/16 address its IPv4 address makes."""
    first, second = lab.host(a), lab.host(b)
    ends = {}
    if mode == "6in4":
        net = ipaddress.IPv6Network(prefix)
        for number, (here, there) in enumerate(((first, second), (second, first)), 1):
            here.toolkit("ipv6", "tunnel", "add", "tun6in4", "--mode", "6in4", "--local",
                         here.address(4), "--remote", there.address(4), "--lab")  # fmt: skip
            inner = f"{net.network_address + number}/{net.prefixlen}"
            here.run(["ip", "-6", "addr", "add", inner, "dev", "tun6in4", "nodad"], check=True)
            ends[here.name] = str(net.network_address + number)
        return Tunnel(mode, "tun6in4", ends)
    if mode == "6to4":
        from ipv6 import sixto4_prefix

        for here in (first, second):
            v4 = ipaddress.IPv4Address(here.address(4))
            here.toolkit("ipv6", "tunnel", "add", "tun6to4", "--mode", "6to4", "--local",
                         str(v4), "--lab")  # fmt: skip
            address = str(sixto4_prefix(v4).network_address + 1)
            here.run(["ip", "-6", "addr", "add", f"{address}/16", "dev", "tun6to4", "nodad"],
                     check=True)  # fmt: skip
            ends[here.name] = address
        return Tunnel(mode, "tun6to4", ends)
    raise LabError(f"tunnel mode {mode!r}: 6in4 or 6to4")


# --- multicast --------------------------------------------------------------------------------


@dataclass
class StreamResult(Result):
    """A multicast stream sent and measured: what ``mcast join --json`` reported.
    ``loss`` is in percent; ``network_lost`` leaves out the receiver's own drops."""

    group: str
    sent: int
    received: int
    lost: int
    loss: float
    duplicates: int
    reordered: int
    jitter_ms: float | None  # None: not measured (a program of yours received it)
    first_after_join_ms: float | None
    kernel_drops: int
    network_lost: int
    receive_buffer: int | None

    def __str__(self) -> str:
        return (
            f"{self.group}: sent {self.sent}, received {self.received}, lost {self.lost} "
            f"({self.loss:.3g} %; the receiver's own drops {self.kernel_drops}), jitter "
            f"{'-' if self.jitter_ms is None else f'{self.jitter_ms:.3f} ms'}, first after join "
            f"{'-' if self.first_after_join_ms is None else f'{self.first_after_join_ms:.1f} ms'}"
        )


def measured_stream(
    lab: Lab, sender: str, receiver: str, *, group: str = "239.1.2.3", port: int = 5001,
    count: int = 1000, rate: float = 1000.0, size: int = 100, interface: str = "eth0",
    source_specific: bool = False, margin: float = 5.0, program: Sequence[str] | None = None,
) -> StreamResult:  # fmt: skip
    """``count`` datagrams of ``size`` bytes from ``sender`` to ``group`` at ``rate`` a
    second, measured by ``mcast join`` in ``receiver`` (joined before the first is
    sent; source-specific from the sender's address with ``source_specific``).

    With ``program``, the receiver is that program (yours: ``["socat", "-u",
    "UDP4-RECV:5001,ip-add-membership=239.1.2.3:eth0", "STDOUT"]``), which writes
    each datagram it receives to its standard output: the stream is sent once it
    has joined, and what it wrote is measured (the datagrams cut by the lengths
    their headers give; jitter and the time to the first are then unknown, the
    kernel's drops are its socket's)."""
    family = ipaddress.ip_address(group).version
    tx, rx = lab.host(sender), lab.host(receiver)
    if program is not None:
        return _program_stream(
            lab, tx, rx, list(program), group=group, port=port, count=count, rate=rate,
            size=size, interface=interface, margin=margin,
        )  # fmt: skip
    wait = f"{count / rate + margin:g}"
    join = [sys.executable, "-m", "mcast", "join", group, "-p", str(port), "-i", interface,
            "--json", "--quiet", "--count", str(count), "-t", wait]  # fmt: skip
    if source_specific:
        join += ["--source", tx.address(family)]
    process = rx.spawn(join)
    _until_line(process, "joined", f"mcast join in {receiver} to join {group}")
    _send(tx, group, port, interface, count=count, rate=rate, size=size)
    try:
        out, _ = process.communicate(timeout=count / rate + margin + READY)
    except Exception as exc:
        raise LabError(f"mcast join in {receiver} did not end: {exc}") from None
    summary = next(
        (json.loads(line) for line in reversed(out.splitlines()) if '"summary"' in line), None
    )  # fmt: skip
    if summary is None:
        raise LabError(f"mcast join in {receiver} printed no summary: {out[-300:]!r}")
    streams = summary["streams"]
    if not streams:
        drops, buffer = summary["kernel_drops"], summary.get("receive_buffer")
        return StreamResult(group, count, 0, count, 100.0, 0, 0, 0.0, None, drops, count, buffer)
    (s,) = streams
    lost = count - s["received"]
    return StreamResult(
        group, count, s["received"], lost, 100.0 * lost / count, s["duplicates"],
        s["reordered"], s["jitter_ms"], s["first_after_join_ms"], summary["kernel_drops"],
        max(0, lost - summary["kernel_drops"]), summary.get("receive_buffer"),
    )  # fmt: skip


def _send(tx: Host, group: str, port: int, interface: str, *, count: int, rate: float,
          size: int) -> None:  # fmt: skip
    tx.toolkit("mcast", "send", group, "-p", str(port), "-i", interface, "--count", str(count),
               "--rate", f"{rate:g}", "--size", str(max(size, 32)), "-q", "--json")  # fmt: skip


def _program_stream(
    lab: Lab, tx: Host, rx: Host, program: list[str], *, group: str, port: int, count: int,
    rate: float, size: int, interface: str, margin: float,
) -> StreamResult:  # fmt: skip
    from mcast.streams._streamheader import split_toolkit
    from mcast.streams._streamstats import StreamStats

    size = max(size, 32)
    written = lab.state / f"{rx.name}-{port}.received"
    with open(written, "wb") as out, open(lab.state / f"{rx.name}-{port}.stderr", "wb") as err:
        process = rx.spawn(program, stdout=out, stderr=err, text=False)

    def ready() -> bool:
        if process.poll() is not None:
            said = (lab.state / f"{rx.name}-{port}.stderr").read_text(errors="replace").strip()
            raise LabError(f"{program[0]} in {rx.name} ended (status {process.returncode}) "
                           f"before it joined {group}: {said[-300:]}")  # fmt: skip
        return rx.joined(group, interface)

    wait_for(ready, f"{program[0]} in {rx.name} to join {group} on {interface}")
    _send(tx, group, port, interface, count=count, rate=rate, size=size)
    # What it wrote grows until the last datagram is out (or lost): wait for all of it,
    # or for the output to stand still a while.
    deadline, still, last = time.monotonic() + margin, time.monotonic(), -1
    while time.monotonic() < deadline and written.stat().st_size < count * size:
        now_size = written.stat().st_size
        if now_size != last:
            last, still = now_size, time.monotonic()
        elif time.monotonic() - still > min(1.0, margin):
            break
        time.sleep(0.05)
    drops = rx.udp_drops(port)
    stop_process(process)
    stamps, _rest = split_toolkit(written.read_bytes())
    stats = StreamStats("", 0, group, 0)
    for stamp in stamps:
        stats.add(stamp, size, stamp.sent_ns)
    lost = count - stats.received
    return StreamResult(group, count, stats.received, lost, 100.0 * lost / count,
                        stats.duplicates, stats.reordered, None, None, drops,
                        max(0, lost - drops), None)  # fmt: skip


def _until_line(process: Any, marker: str, what: str) -> str:
    """Read a process's stderr until a line holds ``marker``; what was read."""
    seen = ""
    deadline = time.monotonic() + READY
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LabError(f"waited {READY:g} s for {what}, in vain: {seen[-300:]!r}")
        ready, _, _ = select.select([process.stderr], [], [], left)
        if ready:
            line = process.stderr.readline()
            if not line:
                raise LabError(f"{what}: it ended first: {seen[-300:]!r}")
            seen += line
    return seen


def multicast_ping(
    lab: Lab, client: str, responder: str, *, count: int = 3, interval: float = 0.2,
    family: int = 4,
) -> PingReport:  # fmt: skip
    """``mcast ping`` from ``client`` to a ``mcast ping --serve`` in ``responder``: its
    report (a :class:`mcast.PingReport`: both paths' replies, distances, exit status)."""
    from mcast import PingReport

    server, asker = lab.host(responder), lab.host(client)
    server.spawn([sys.executable, "-m", "mcast", "ping", "--serve"])

    def listening() -> bool:  # the responder's IPv4 and IPv6 sockets
        return server.listening(4321, "udp", 4) and server.listening(4321, "udp", 6)

    wait_for(listening, f"the multicast ping responder in {responder}")
    done = asker.run(
        [sys.executable, "-m", "mcast", "ping", server.address(family), "-c", str(count),
         "--interval", f"{interval:g}", "--json"], timeout=READY + count * interval,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    summary = next((x for x in reversed(lines) if x.get("event") == "summary"), None)
    if summary is None:
        raise LabError(f"mcast ping in {client} printed no summary: {done.stderr.strip()!r}")
    summary.pop("event")
    return PingReport.from_json(summary)


# --- assertions ----------------------------------------------------------------------------

PROBE = """\
import errno, socket, sys, time
address, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(timeout)
try:
    s.connect((address, port))
    print("connected")
except TimeoutError:
    print("timeout")
except OSError as exc:
    print(errno.errorcode.get(exc.errno, str(exc.errno)))
"""

# Drops no unicast probe causes (the device's own MLD and ND, say): not reported.
BACKGROUND = frozenset({"ipv6_multicast", "ipv4_multicast", "icmp_untranslatable"})

_WHAT = {
    "timeout": "SYN sent, no answer within {timeout:g} s",
    "ECONNREFUSED": "refused (a RST, or an ICMP port unreachable)",
    "EACCES": "refused by an ICMP 'administratively prohibited'",
    "EPERM": "refused by an ICMP 'administratively prohibited'",
    "ENETUNREACH": "no route to the network",
    "EHOSTUNREACH": "no route to the host (ICMP host or address unreachable)",
    "EADDRNOTAVAIL": "no address of that family to send from",
}


def assert_reaches(
    lab: Lab, host: str, address: str, port: int, *, through: Nat64Gateway | None = None,
    timeout: float = 3.0,
) -> None:  # fmt: skip
    """That ``host`` can open a TCP connection to ``address``:``port`` (an IPv4 address
    reached ``through`` a NAT64 is dialled at its IPv6 form). The AssertionError says
    what happened: the SYN unanswered, a RST, which ICMP error; and through a NAT64,
    what the translator dropped meanwhile, by reason."""
    target = address
    if through is not None and ipaddress.ip_address(address).version == 4:
        target = through.synthesized(address)
    before = through.status(lab).drops if through is not None else {}
    done = lab.host(host).run([sys.executable, "-c", PROBE, target, str(port), f"{timeout:g}"],
                              timeout=timeout + READY)  # fmt: skip
    outcome = done.stdout.strip() or done.stderr.strip()[-200:]
    if outcome == "connected":
        return
    what = _WHAT.get(outcome, outcome).format(timeout=timeout)
    via = ""
    if through is not None:
        after = through.status(lab).drops
        grew = {
            k: v - before.get(k, 0) for k, v in after.items()
            if v > before.get(k, 0) and k not in BACKGROUND
        }  # fmt: skip
        total = sum(grew.values())
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(grew.items()))
        dropped = (
            f"translator dropped {total} ({reasons})" if total else "translator dropped nothing"
        )
        via = f" through NAT64 ({through.host}, {target})"
        what += f"; {dropped}"
    raise AssertionError(f"{host} could not reach {address}:{port}{via}: {what}")
