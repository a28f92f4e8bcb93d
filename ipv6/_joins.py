"""The host's multicast memberships as Linux shows them in /proc/net.

Pure parsers of /proc/net/igmp, mcfilter, igmp6 and mcfilter6 text (the
reading is :func:`ipv6._inventory.read_host_joins`'s). The kernel lists, per
interface, each group with its number of users, and per (group, source) how
many sockets include or exclude that source; the interface's filter mode
follows RFC 3376's merge: EXCLUDE as soon as one socket excludes, so a group
with no source rows is any-source.

Limit: procfs does not say how many sockets are in each mode, so a group
joined any-source by one socket and source-specific by another, with no
blocked source, shows as INCLUDE here; the raw counts are in the JSON.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class SourceCount:
    source: IPAddress
    include: int
    exclude: int


@dataclass
class HostJoin:
    ifindex: int
    interface: str
    group: IPAddress
    users: int
    sources: list[SourceCount] = field(default_factory=list)
    compat: str = ""  # IGMP: the querier version the interface runs (V1, V2, V3)

    @property
    def mode(self) -> str:
        if not self.sources or any(s.exclude for s in self.sources):
            return "exclude"
        return "include"

    @property
    def filter_sources(self) -> list[IPAddress]:
        """The sources of the interface filter: the excluded ones in EXCLUDE mode
        (those every excluding socket excludes and no socket includes), the
        included ones in INCLUDE mode."""
        if self.mode == "include":
            return [s.source for s in self.sources if s.include]
        most = max((s.exclude for s in self.sources), default=0)
        return [s.source for s in self.sources if s.exclude == most and not s.include]

    def to_json(self) -> dict[str, object]:
        return {
            "interface": self.interface,
            "ifindex": self.ifindex,
            "family": f"ipv{self.group.version}",
            "group": str(self.group),
            "mode": self.mode,
            "sources": [str(s) for s in self.filter_sources],
            "users": self.users,
            "source_counts": [
                {"source": str(s.source), "include": s.include, "exclude": s.exclude}
                for s in self.sources
            ],
            **({"igmp_compat": self.compat} if self.compat else {}),
        }


def parse_igmp(text: str, byteorder: str = sys.byteorder) -> list[HostJoin]:
    """/proc/net/igmp: groups are printed as the host-order view of network bytes."""
    joins: list[HostJoin] = []
    ifindex, name, compat = 0, "", ""
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        if not line.startswith("\t"):
            head, _, rest = line.partition(":")
            index_text, name = head.split()
            ifindex = int(index_text)
            fields = rest.split()
            compat = fields[1] if len(fields) > 1 else ""
            continue
        fields = line.split()
        group = ipaddress.IPv4Address(int(fields[0], 16).to_bytes(4, byteorder))  # type: ignore[arg-type]
        joins.append(HostJoin(ifindex, name, group, int(fields[1]), compat=compat))
    return joins


FilterRow = tuple[int, str, IPAddress, SourceCount]


def parse_mcfilter(text: str) -> list[FilterRow]:
    """/proc/net/mcfilter: addresses in network order, as 0xHHHHHHHH."""
    rows: list[FilterRow] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) != 6:
            continue
        group = ipaddress.IPv4Address(int(fields[2], 16))
        source = ipaddress.IPv4Address(int(fields[3], 16))
        rows.append(
            (int(fields[0]), fields[1], group, SourceCount(source, int(fields[4]), int(fields[5])))
        )
    return rows


def parse_igmp6(text: str) -> list[HostJoin]:
    joins = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        group = ipaddress.IPv6Address(bytes.fromhex(fields[2]))
        joins.append(HostJoin(int(fields[0]), fields[1], group, int(fields[3])))
    return joins


def parse_mcfilter6(text: str) -> list[FilterRow]:
    rows: list[FilterRow] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) != 6:
            continue
        group = ipaddress.IPv6Address(bytes.fromhex(fields[2]))
        source = ipaddress.IPv6Address(bytes.fromhex(fields[3]))
        rows.append(
            (int(fields[0]), fields[1], group, SourceCount(source, int(fields[4]), int(fields[5])))
        )
    return rows


def merge(joins: list[HostJoin], filters: list[FilterRow]) -> list[HostJoin]:
    """Attach each (group, source) row to its group's join."""
    by_key = {(j.ifindex, j.group): j for j in joins}
    for ifindex, name, group, count in filters:
        join = by_key.get((ifindex, group))
        if join is None:  # a filter row for a group procfs listed no join for
            join = HostJoin(ifindex, name, group, 0)
            by_key[(ifindex, group)] = join
            joins.append(join)
        join.sources.append(count)
    return joins
