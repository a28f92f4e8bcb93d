"""One netsh command or script, start to end: what the ``netsh`` command line
calls (parse, one call here, print). Shows and dumps read; everything else
changes the kernel as one transaction, after the privilege check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._privilege import NETSH_NEEDS, require_capabilities
from .._result import Result
from ._executor import Executor
from ._grammar import Command, decode_script
from ._journal import kept_commands
from ._script import Line, parse_script
from ._show import dump, show
from ._store import load_state
from ._transaction import run_lines


@dataclass
class Outcome:
    """What a command gives the command line to print."""

    messages: list[str] = field(default_factory=list)  # what changed: "Ok. 3 changes made."
    rows: Sequence[Result] | None = None  # a show: one row per object
    script: list[str] | None = None  # a dump: the commands that recreate the configuration


def execute(command: Command) -> Outcome:
    """Carry out one parsed command."""
    if command.family == "6to4":
        return _sixto4(command)
    if command.verb in ("show", "dump"):
        executor = Executor(load_state())
        try:
            if command.verb == "dump":
                return Outcome(script=dump(executor, command.family))
            return Outcome(
                rows=show(executor, command.family, command.noun, command.values.get("interface"))
            )
        finally:
            executor.close()
    require_capabilities(command.text, NETSH_NEEDS)
    if command.verb == "reset":
        return Outcome(run_lines([Line(1, command.text, command)]))
    if command.verb == "restore":
        kept = kept_commands(load_state())
        if not kept:
            return Outcome(["Ok. (nothing persistent)"])
        return Outcome(run_lines(parse_script(kept), restoring=True))
    return Outcome(run_lines([Line(1, command.text, command)]))


def run_script(data: bytes, source: str) -> Outcome:
    """A script file's bytes, checked whole, then run as one transaction."""
    lines = parse_script(decode_script(data, source))
    require_capabilities(f"running {source}", NETSH_NEEDS)
    return Outcome(run_lines(lines))


def _sixto4(command: Command) -> Outcome:
    """The 6to4 context: settings kept by the toolkit, applied as 6to4cfg applies them."""
    from ._sixto4 import netsh_set, netsh_show

    if command.verb == "show":
        return Outcome(rows=netsh_show(command.noun))
    require_capabilities(command.text, NETSH_NEEDS)
    return Outcome(netsh_set(command.noun, command.values))


def run_ipv6exe(verb: str, words: list[str]) -> Outcome:
    """One of the seeds' Ipv6.exe subcommands (``ipv6 if``, ``ipv6 adu``...): a
    display read as netsh's show reads, a change run as one netsh transaction."""
    from ._ipv6exe import Change, Display, Host, NotHere, translate
    from ._rows import AddressRow, RouteRow

    executor = Executor(load_state())
    try:
        addresses = [a for a in show(executor, "ipv6", "addresses") if isinstance(a, AddressRow)]
        routes = [r for r in show(executor, "ipv6", "route") if isinstance(r, RouteRow)]
        (settings,) = show(executor, "ipv6", "global")
        host = Host(
            executor.interfaces(),
            {(a.ifindex, a.address): a.prefixlen for a in addresses},
            frozenset((r.prefix, r.ifindex, r.nexthop) for r in routes if r.ifindex is not None),
            bool(getattr(settings, "forwarding", False)),
        )
        result = translate(verb, words, host)
        if isinstance(result, NotHere):
            return Outcome([result.message], rows=[])
        if isinstance(result, Display):
            return Outcome(rows=_displayed(executor, result, addresses))
    finally:
        executor.close()
    assert isinstance(result, Change)
    require_capabilities(f"ipv6 {verb}", NETSH_NEEDS)
    return Outcome(run_lines(parse_script(list(result.lines))))


def _displayed(executor: Executor, display: Any, addresses: Sequence[Any]) -> list[Result]:
    from ._rows import AddressRow, InterfaceRow, Ipv6ExeInterface

    rows = [
        row
        for row in show(executor, "ipv6", display.noun)
        if display.ifindex is None or getattr(row, "ifindex", None) == display.ifindex
    ]
    if display.address is not None:
        named = ("address", "destination")
        rows = [r for r in rows if display.address in (getattr(r, n, None) for n in named)]
    if display.noun != "interfaces":
        return list(rows)
    out: list[Result] = []
    for link in rows:
        assert isinstance(link, InterfaceRow)
        (raw,) = executor.ipr.get_links(link.ifindex)
        mine = [a for a in addresses if isinstance(a, AddressRow) and a.ifindex == link.ifindex]
        out.append(Ipv6ExeInterface(
            link.ifindex, link.name, link.state, raw.get_attr("IFLA_ADDRESS"), link.mtu,
            raw.get_attr("IFLA_MAX_MTU") or raw.get_attr("IFLA_MTU"), link.forwarding,
            link.advertise,
            [f"{a.address}/{a.prefixlen} {a.state}" + (" anycast" if a.type == "anycast" else "")
             for a in mine],
        ))  # fmt: skip
    return out
