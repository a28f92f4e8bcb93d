"""The Trio driver of :mod:`mcast._querier`: a loop around a packet socket.

It asks each querier what is due, sends the queries as Ethernet frames
through the observer's packet socket, and feeds every IGMP or MLD message
seen on the link back in. Everything else is the pure core's business.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

import trio

from ipv6 import AddressWatch, InterfaceRef, interface_present

from ._errors import McastBadInput, McastError
from ._frames import encode_ipv4_igmp, encode_ipv6_mld, ethernet
from ._igmp import IgmpQuery
from ._lookup import find_interface
from ._observer import InterfaceGone, Observed, Observer
from ._querier import Action, Querier, QuerierConfig, Send
from ._routertable import Timers


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


def counters(link: Link, queriers: list[Querier]) -> dict[str, object]:
    """What the queriers and their capture counted, for ``mcast querier``'s report."""
    return {
        "capture": link.observer.statistics().to_json(),
        **{
            q.config.protocol: {
                "groups": len(q.table.groups),
                "refused": dict(sorted(q.table.refused.items())),
                "queries_suppressed": q.suppressed,
                "queries_dropped": q.dropped_queries,
            }
            for q in queriers
        },
    }
