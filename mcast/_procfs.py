"""The host's multicast memberships from /proc/net: they live in :mod:`ipv6._joins`
(interface data, which ``ipv6 interfaces`` shows too); re-exported here."""

from ipv6._inventory import read_host_joins
from ipv6._joins import (
    FilterRow,
    HostJoin,
    SourceCount,
    merge,
    parse_igmp,
    parse_igmp6,
    parse_mcfilter,
    parse_mcfilter6,
)

__all__ = [
    "FilterRow",
    "HostJoin",
    "SourceCount",
    "merge",
    "parse_igmp",
    "parse_igmp6",
    "parse_mcfilter",
    "parse_mcfilter6",
    "read_host_joins",
]
