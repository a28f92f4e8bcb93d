"""A multicast ping among a set of hosts: does every host's multicast reach every other?

Each host runs an agent (``mcast ping --matrix HOST...``): a responder that
answers only the hosts named, and a client that pings every other named host
at once (:func:`~mcast.ping._pingclient.multicast_ping`, each on a port of its
own). The pair (source S, receiver R) is R's ping of S: the unicast path both
ways, and the multicast path from S to the group to R. ``--lab NAME`` starts
an agent in every host of a running lab and puts their pairs together.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from ipv6 import Result

from .._errors import McastBadInput, McastError
from . import _mping
from ._pingclient import Target, multicast_ping, resolve_target
from ._pingresponder import Responder
from ._pingstats import ANSWERED, NO_MULTICAST, NO_UNICAST, PathReport, verdict

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTLE = 1.5  # seconds an agent waits for the others' responders, and answers after its pings


@dataclass
class PairReport(Result):
    """One ordered pair: multicast from ``source`` to ``receiver``."""

    source: str  # the responder
    receiver: str  # the host that pinged it, and received its multicast
    unicast: PathReport
    multicast: PathReport
    exit_status: int


@dataclass
class MatrixReport(Result):
    hosts: list[str]
    group: str
    mode: str  # "ssm" or "asm"
    pairs: list[PairReport]
    silent: list[str] = field(default_factory=list)  # agents that reported nothing, and why
    exit_status: int = ANSWERED


def matrix_status(pairs: list[PairReport], silent: list[str]) -> int:
    """6 when any pair reached by unicast but not by multicast, else 3 when any
    pair (or agent) had no unicast answer, else 0."""
    codes = {pair.exit_status for pair in pairs}
    if NO_MULTICAST in codes:
        return NO_MULTICAST
    if NO_UNICAST in codes or silent:
        return NO_UNICAST
    return ANSWERED


async def resolve_hosts(hosts: list[str], *, group: IPAddress | None, asm: bool) -> list[Target]:
    """The hosts as ping targets: one IP version, none named twice."""
    targets = [await resolve_target(h, group=group, asm=asm, interface=None) for h in hosts]
    seen: dict[IPAddress, str] = {}
    for text, target in zip(hosts, targets, strict=True):
        if target.address in seen:
            raise McastBadInput(f"{text} and {seen[target.address]} are one host: name it once")
        seen[target.address] = text
    if len({t.address.version for t in targets}) > 1:
        raise McastBadInput("the hosts of a matrix are all IPv4 or all IPv6")
    if len(targets) < 2:
        raise McastBadInput("a matrix needs at least two hosts")
    return targets


def this_host(targets: list[Target]) -> Target:
    """The one target that is an address of this host."""
    local = [t for t in targets if _is_local(t.address)]
    if not local:
        raise McastBadInput("none of the hosts is this host: run the matrix on each of them")
    if len(local) > 1:
        names = ", ".join(str(t.address) for t in local)
        raise McastBadInput(f"this host is named more than once ({names}): name it once")
    return local[0]


def _is_local(address: IPAddress) -> bool:
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True


async def run_agent(
    targets: list[Target],
    *,
    duration: float,
    interval: float = 1.0,
    settle: float = SETTLE,
    on_pair: Callable[[PairReport], None] | None = None,
) -> list[PairReport]:
    """This host's part: answer the others, and ping each of them for ``duration``."""
    me = this_host(targets)
    others = [t for t in targets if t.address != me.address]
    responder = Responder(clients={t.address for t in others})
    responder.open()
    count = max(1, round(duration / interval))
    pairs: list[PairReport] = []

    async def ping(peer: Target) -> None:
        report = await multicast_ping(peer, count=count, interval=interval, wait=settle)
        pair = PairReport(
            source=str(peer.address),
            receiver=str(me.address),
            unicast=report.unicast,
            multicast=report.multicast,
            exit_status=verdict(report.unicast, report.multicast),
        )
        pairs.append(pair)
        if on_pair is not None:
            on_pair(pair)

    async with trio.open_nursery() as nursery:
        await nursery.start(responder.serve)
        await trio.sleep(settle)  # the other agents' responders are up by now
        async with trio.open_nursery() as pings:
            for peer in others:
                pings.start_soon(ping, peer)
        await trio.sleep(settle)  # late agents are still pinging this one
        nursery.cancel_scope.cancel()
    return sorted(pairs, key=lambda p: p.source)


async def lab_matrix(
    lab: str,
    *,
    version: int = 4,
    group: IPAddress | None = None,
    asm: bool = False,
    duration: float = 5.0,
    interval: float = 1.0,
) -> MatrixReport:
    """Start an agent in every host of a running lab and gather their pairs."""
    from ipv6.lab import describe, exec_argv, find

    record = find(lab)
    view = await trio.to_thread.run_sync(describe, record)
    addresses: dict[str, str] = {}
    for name, host in sorted(view.hosts.items()):
        for interface in host.interfaces:
            usable = [
                a.address.split("/", 1)[0]
                for a in interface.addresses
                if a.family == f"ipv{version}" and a.scope == "global"
            ]
            if usable and name not in addresses:
                addresses[name] = usable[0]
    if len(addresses) < 2:
        raise McastError(
            f"lab {record.name!r} has fewer than two hosts with IPv{version} addresses"
        )
    chosen = _mping.DEFAULT_GROUPS[version] if group is None else group
    argv = [sys.executable, "-m", "mcast", "ping", "--matrix", *addresses.values(),
            "--duration", str(duration), "--interval", str(interval), "--json", "--quiet",
            "--group", str(chosen), *(["--asm"] if asm else [])]  # fmt: skip
    outputs: dict[str, tuple[bytes, bytes]] = {}

    async def agent(name: str) -> None:
        done = await trio.run_process(
            exec_argv(record, name, argv), capture_stdout=True, capture_stderr=True, check=False
        )
        outputs[name] = done.stdout, done.stderr

    async with trio.open_nursery() as nursery:
        for name in addresses:
            nursery.start_soon(agent, name)
    pairs: list[PairReport] = []
    silent = []
    for name, address in addresses.items():
        out, err = outputs.get(name, (b"", b""))
        summaries = [
            json.loads(line)
            for line in out.decode().splitlines()
            if line.startswith("{") and '"summary"' in line
        ]
        if not summaries:
            said = err.decode(errors="replace").strip().splitlines()
            silent.append(f"{address} ({name}): {said[-1] if said else 'no output'}")
            continue
        pairs += [_pair(p) for p in summaries[-1]["pairs"]]
    pairs.sort(key=lambda p: (p.receiver, p.source))
    return MatrixReport(
        hosts=list(addresses.values()),
        group=str(chosen),
        mode="asm" if asm else "ssm",
        pairs=pairs,
        silent=silent,
        exit_status=matrix_status(pairs, silent),
    )


def _pair(data: dict[str, object]) -> PairReport:
    from ._pingstats import Rtt

    def path(raw: object) -> PathReport:
        assert isinstance(raw, dict)
        return PathReport(**{**raw, "rtt_ms": Rtt(**raw["rtt_ms"])})

    return PairReport(
        source=str(data["source"]),
        receiver=str(data["receiver"]),
        unicast=path(data["unicast"]),
        multicast=path(data["multicast"]),
        exit_status=int(str(data["exit_status"])),
    )


def _cell(pair: PairReport) -> str:
    u, m = pair.unicast, pair.multicast
    if u.received == 0:
        return "no unicast"
    if m.received == 0:
        return f"u {u.loss_percent:g}%, MULTICAST LOST"
    return f"u {u.loss_percent:g}%, m {m.loss_percent:g}% (avg {m.rtt_ms.avg} ms)"


def pair_line(pair: PairReport) -> str:
    return f"from {pair.source} to {pair.receiver}: {_cell(pair)}"


def grid_text(report: MatrixReport) -> str:
    """The matrix as a table. Rows: the receiving host; columns: the source."""
    from ipv6.cli.kit import table

    by = {(p.receiver, p.source): p for p in report.pairs}
    receivers = sorted({p.receiver for p in report.pairs}, key=report.hosts.index)
    rows = [
        [receiver, *("-" if receiver == s else _cell(by[receiver, s]) if (receiver, s) in by
                     else "?" for s in report.hosts)]
        for receiver in receivers
    ]  # fmt: skip
    head = f"multicast ping matrix, group {report.group} ({report.mode}): rows receive, "
    head += "columns send"
    return head + "\n" + table(rows, ["TO \\ FROM", *report.hosts])
