"""The Trio driver of :mod:`mcast.querier._querier`: a loop around a packet socket.

It asks each querier what is due, sends the queries as Ethernet frames
through the observer's packet socket, and feeds every IGMP or MLD message
seen on the link back in. Everything else is the pure core's business.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from ipv6 import AddressWatch, InterfaceRef, interface_present

from .._errors import McastBadInput, McastError
from .._lookup import find_interface
from ..wire._frames import WireMessage, encode_ipv4_igmp, encode_ipv6_mld, ethernet
from ..wire._igmp import IgmpQuery
from ..wire._observer import CaptureCounters, InterfaceGone, Observed, Observer
from ..wire._wiretext import describe
from ._querier import Action, Querier, QuerierConfig, Send
from ._routertable import GroupRow, Timers

LINK_GOING = 0.5  # seconds an address's removal waits to see if its link goes too


@dataclass
class Link:
    """What a querier needs of its interface: a capture, its MAC and addresses."""

    observer: Observer
    mac: bytes
    ipv4: ipaddress.IPv4Address | None
    ipv6_link_local: ipaddress.IPv6Address | None
    addresses: AddressWatch  # made with the capture, in the same network namespace

    @classmethod
    def open(cls, interface: str | int | InterfaceRef) -> Link:
        """Open in the calling thread's network namespace (needs CAP_NET_RAW)."""
        ref = interface if isinstance(interface, InterfaceRef) else find_interface(interface)
        mac, v4, v6 = _addresses(ref.name)
        if len(mac) != 6:
            raise McastBadInput(f"{ref} has no Ethernet address to send queries from")
        observer = Observer.open(ref)
        try:
            return cls(observer, mac, v4, v6, AddressWatch())
        except BaseException:
            observer.close()
            raise

    async def watch_addresses(self, queriers: list[Querier]) -> None:
        """Raise when an address a querier sends from leaves the interface (netlink)."""
        watch, ref = self.addresses, self.observer.interface
        ours = {q.config.address: q for q in queriers}
        while True:
            for event, index, address in await watch.events():
                if event != "deleted" or index != ref.index or address not in ours:
                    continue
                # A deleted interface loses its addresses first and then itself: give
                # the link a moment to go before saying only the address went.
                with trio.move_on_after(LINK_GOING):
                    while interface_present(ref):
                        await trio.sleep(0.05)
                if not interface_present(ref):
                    raise InterfaceGone(f"interface {ref.name} is gone")
                raise McastError(
                    f"{address} is no longer an address of {ref.name}: the "
                    f"{ours[address].config.protocol.upper()} querier stops (start it again to "
                    "query from the interface's new address)"
                )

    def send(self, action: Send, source: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        message, destination = action.message, action.destination
        if isinstance(message, IgmpQuery):
            assert isinstance(source, ipaddress.IPv4Address)
            assert isinstance(destination, ipaddress.IPv4Address)
            packet = encode_ipv4_igmp(message, source, destination)
        else:
            assert isinstance(source, ipaddress.IPv6Address)
            assert isinstance(destination, ipaddress.IPv6Address)
            packet = encode_ipv6_mld(message, source, destination)
        return self.observer.send_frame(ethernet(packet, destination, self.mac))

    def close(self) -> None:
        self.observer.close()
        self.addresses.close()


def _addresses(
    name: str,
) -> tuple[bytes, ipaddress.IPv4Address | None, ipaddress.IPv6Address | None]:
    """The interface's MAC, first IPv4 address and (last) link-local IPv6 address."""
    import psutil

    mac, v4, v6 = b"", None, None
    for entry in psutil.net_if_addrs().get(name, []):
        if entry.family == psutil.AF_LINK:
            mac = bytes.fromhex(entry.address.replace(":", ""))
        elif entry.family == socket.AF_INET and v4 is None:
            v4 = ipaddress.IPv4Address(entry.address)
        elif entry.family == socket.AF_INET6:
            address = ipaddress.IPv6Address(entry.address.split("%", 1)[0])
            if address.is_link_local:
                v6 = address
    return mac, v4, v6


def queriers_for(
    link: Link,
    *,
    igmp_version: int | None = 3,
    mld_version: int | None = 2,
    timers: Timers | None = None,
    now: float,
) -> list[Querier]:
    """An IGMP querier if the link has IPv4, an MLD one if it has a link-local address."""
    found = []
    if igmp_version and link.ipv4 is not None:
        found.append(Querier(QuerierConfig(link.ipv4, igmp_version, timers or Timers()), now))
    if mld_version and link.ipv6_link_local is not None:
        found.append(
            Querier(QuerierConfig(link.ipv6_link_local, mld_version, timers or Timers()), now)
        )
    if not found:
        raise McastBadInput(
            "the interface has neither an IPv4 address nor a link-local IPv6 address"
        )
    return found


async def run_queriers(
    link: Link, queriers: list[Querier], report: Callable[[Querier, Action], None]
) -> None:
    """Run until cancelled; ``report`` hears every action (sends included)."""

    def perform(querier: Querier, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                link.send(action, querier.config.address)
            report(querier, action)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.watch_addresses, queriers)
        await _serve(link, queriers, perform)


async def _serve(
    link: Link, queriers: list[Querier], perform: Callable[[Querier, list[Action]], None]
) -> None:
    while True:
        now = trio.current_time()
        for querier in queriers:
            perform(querier, querier.tick(now))
        deadline = min(q.next_deadline() for q in queriers)
        with trio.move_on_at(deadline):
            item = await link.observer.next()
            if isinstance(item, Observed) and not item.outgoing:
                now = trio.current_time()
                for querier in queriers:
                    perform(querier, querier.receive(item.wire, now))


@dataclass(frozen=True)
class QuerierCounts:
    """What one querier counted."""

    groups: int
    refused: dict[str, int]  # reports its table would not take, by reason
    queries_suppressed: int
    queries_dropped: int


@dataclass(frozen=True)
class Counters:
    """What the queriers and their capture counted, for ``mcast querier``'s report."""

    capture: CaptureCounters
    queriers: dict[str, QuerierCounts]  # by protocol: "igmp", "mld"

    def to_json(self) -> dict[str, object]:
        return {
            "capture": self.capture.to_json(),
            **{protocol: vars(counts) for protocol, counts in self.queriers.items()},
        }


def counters(link: Link, queriers: list[Querier]) -> Counters:
    return Counters(
        link.observer.statistics(),
        {
            q.config.protocol: QuerierCounts(
                len(q.table.groups),
                dict(sorted(q.table.refused.items())),
                q.suppressed,
                q.dropped_queries,
            )
            for q in queriers
        },
    )


@dataclass(frozen=True)
class Happening:
    """One thing a querier did or saw, as ``mcast querier`` reports it."""

    protocol: str  # "IGMP" or "MLD"
    kind: str  # "sent", "table", or the querier's event ("elected", "report"...)
    text: str
    detail: dict[str, Any]


def explain(querier: Querier, action: Action, now: float) -> Happening:
    """An action in words: a query sent (its fields), or a report with the table
    rows of the groups it named (not the whole table: a flood of reports would
    print a thousand groups each time), or another event as the querier said it."""
    protocol = querier.config.protocol.upper()
    if isinstance(action, Send):
        wire = WireMessage(
            querier.config.protocol,
            querier.config.address,
            action.destination,
            1,
            True,
            action.message,
        )
        info = describe(wire)
        if info["group"] in ("0.0.0.0", "::"):
            what = "general query"
        else:
            sources = info.get("sources")
            what = f"query for {info['group']}" + (
                f" sources {{{', '.join(sources)}}}" if sources else ""
            )
        return Happening(protocol, "sent", what, info)
    if action.kind == "report":
        listed = action.detail.get("groups", [])
        assert isinstance(listed, list)
        rows = querier.table.snapshot(now, [ipaddress.ip_address(g) for g in listed])
        summary = "; ".join(_row_text(r) for r in rows) or "(no members)"
        groups = [row.to_json() for row in rows]
        return Happening(protocol, "table", f"{action.text}: {summary}", {"groups": groups})
    return Happening(protocol, action.kind, action.text, dict(action.detail))


def _row_text(row: GroupRow) -> str:
    return f"{row.group} {row.mode.upper()} {{{', '.join(row.sources)}}}"
