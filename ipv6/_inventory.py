"""What interfaces this host has: index, name, flags, MTU, MAC, addresses with
prefix length and scope, and multicast memberships.

psutil gives the portable part (names, flags, MTU, MAC, addresses); on Linux
netlink (pyroute2) adds what only the kernel knows (address scopes and
flags such as tentative or deprecated, the link kind, operational state),
and /proc/net the multicast memberships. Read in the calling thread's
network namespace.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from . import _joins
from ._address import explain
from ._joins import HostJoin

IFF_NAMES = {
    0x1: "up",
    0x2: "broadcast",
    0x8: "loopback",
    0x10: "point-to-point",
    0x40: "running",
    0x100: "promisc",
    0x200: "allmulti",
    0x1000: "multicast",
}


@dataclass
class InterfaceAddress:
    address: str
    prefixlen: int
    family: str
    scope: str
    flags: list[str] = field(default_factory=list)


@dataclass
class Interface:
    index: int
    name: str
    flags: list[str]
    mtu: int
    mac: str | None
    state: str = ""
    kind: str = ""
    addresses: list[InterfaceAddress] = field(default_factory=list)
    joins: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "flags": self.flags,
            "mtu": self.mtu,
            "mac": self.mac,
            "state": self.state,
            "kind": self.kind,
            "addresses": [a.__dict__ for a in self.addresses],
            "joins": self.joins,
        }


def _prefixlen(netmask: str | None, family: int) -> int:
    if not netmask:
        return 32 if family == socket.AF_INET else 128
    try:
        return ipaddress.ip_network(
            f"0.0.0.0/{netmask}" if family == socket.AF_INET else f"::/{netmask}"
        ).prefixlen
    except ValueError:
        return 32 if family == socket.AF_INET else 128


def _scope(address: str) -> str:
    return explain(ipaddress.ip_address(address.split("%", 1)[0])).scope


def list_interfaces() -> list[Interface]:
    """Every interface of this host, with what is known of it."""
    import psutil

    stats = psutil.net_if_stats()
    found: dict[str, Interface] = {}
    for index, name in socket.if_nameindex():
        stat = stats.get(name)
        flags = sorted((stat.flags or "").split(",")) if stat is not None and stat.flags else []
        found[name] = Interface(
            index,
            name,
            [f for f in flags if f],
            stat.mtu if stat else 0,
            None,
            "up" if stat is not None and stat.isup else "down",
        )
    for name, entries in psutil.net_if_addrs().items():
        iface = found.get(name)
        if iface is None:
            continue
        for entry in entries:
            if entry.family == psutil.AF_LINK:
                iface.mac = entry.address or None
            elif entry.family in (socket.AF_INET, socket.AF_INET6):
                text = entry.address.split("%", 1)[0]
                iface.addresses.append(
                    InterfaceAddress(
                        text,
                        _prefixlen(entry.netmask, entry.family),
                        "ipv4" if entry.family == socket.AF_INET else "ipv6",
                        _scope(text),
                    )
                )
    if sys.platform == "linux":
        _add_netlink(found)
    by_index = {i.index: i for i in found.values()}
    for join in read_host_joins():
        if join.ifindex in by_index:
            by_index[join.ifindex].joins.append(
                {
                    "group": str(join.group),
                    "mode": join.mode,
                    "sources": [str(s) for s in join.filter_sources],
                }
            )
    return sorted(found.values(), key=lambda i: i.index)


_IFA_FLAGS = {
    0x01: "temporary",
    0x02: "nodad",
    0x08: "dadfailed",
    0x20: "deprecated",
    0x40: "tentative",
    0x80: "permanent",
}


def _add_netlink(found: dict[str, Interface]) -> None:
    """Kernel-only facts: link kind and state, address flags and exact prefix lengths."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        names = {}
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            iface = found.get(name)
            if iface is None:
                continue
            names[link["index"]] = iface
            iface.state = (link.get_attr("IFLA_OPERSTATE") or iface.state).lower()
            info = link.get_attr("IFLA_LINKINFO")
            iface.kind = (info.get_attr("IFLA_INFO_KIND") if info else "") or ""
            iface.flags = [n for bit, n in IFF_NAMES.items() if link["flags"] & bit]
        for msg in ipr.get_addr():
            iface = names.get(msg["index"])
            if iface is None:
                continue
            address = (
                msg.get_attr("IFA_ADDRESS")
                if msg["family"] == socket.AF_INET6
                else (msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"))
            )
            flags_value = msg.get_attr("IFA_FLAGS") or msg["flags"]
            flags = [n for bit, n in _IFA_FLAGS.items() if flags_value & bit]
            for entry in iface.addresses:
                if entry.address == address:
                    entry.prefixlen, entry.flags = msg["prefixlen"], flags
                    break
            else:
                iface.addresses.append(
                    InterfaceAddress(
                        address,
                        msg["prefixlen"],
                        "ipv4" if msg["family"] == socket.AF_INET else "ipv6",
                        _scope(address),
                        flags,
                    )
                )


def read_host_joins(proc: str = "/proc/thread-self/net") -> list[HostJoin]:
    """The memberships of this host (of the calling thread's network namespace).

    /proc/net follows the process's first thread; /proc/thread-self/net
    follows the calling thread, which may have entered a lab host.
    """

    def read(name: str) -> str:
        try:
            with open(f"{proc}/{name}", encoding="ascii") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    v4 = _joins.merge(_joins.parse_igmp(read("igmp")), _joins.parse_mcfilter(read("mcfilter")))
    v6 = _joins.merge(_joins.parse_igmp6(read("igmp6")), _joins.parse_mcfilter6(read("mcfilter6")))
    return sorted(v4 + v6, key=lambda j: (j.ifindex, j.group.version, int(j.group)))
