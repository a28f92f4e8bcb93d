"""The bridges of this network namespace and what their IGMP/MLD snooping learnt.

Thin I/O over :mod:`._mdb`: one RTM_GETMDB dump on a netlink socket (pyroute2
has no MDB messages), interface names from the kernel, and each bridge's
snooping and querier settings from sysfs.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from ipv6 import Result

from .._errors import McastBadInput, McastError
from ..wire._wirecommon import MalformedPacket
from . import _mdb

NETLINK_ROUTE = 0


@dataclass
class BridgeMdb(Result):
    """``mcast show mdb --json``: a bridge, its settings, entries and router ports."""

    bridge: str
    snooping: bool | None
    querier: bool | None
    entries: list[_mdb.MdbEntry] = field(default_factory=list)
    router_ports: list[_mdb.RouterPort] = field(default_factory=list)


def _setting(bridge: str, name: str) -> bool | None:
    try:
        return Path(f"/sys/class/net/{bridge}/bridge/{name}").read_text().strip() == "1"
    except OSError:
        return None


def bridges() -> list[str]:
    return sorted(
        name for _, name in socket.if_nameindex() if Path(f"/sys/class/net/{name}/bridge").is_dir()
    )


def read_mdb(bridge: str | None = None) -> list[BridgeMdb]:
    """Every bridge here (or ``bridge``) with its MDB."""
    from ipv6.capabilities import require

    require("bridge_snooping", "mcast show mdb", "a bridge without snooping learns no groups")
    names = {index: name for index, name in socket.if_nameindex()}
    here = bridges()
    if bridge is not None and bridge not in here:
        raise McastBadInput(f"no bridge {bridge} here (bridges: {', '.join(here) or 'none'})")
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as nl:
        nl.settimeout(5)
        nl.send(_mdb.dump_request(1))
        data = b""
        while True:
            chunk = nl.recv(1 << 20)
            data += chunk
            try:
                entries, routers, done = _mdb.decode_untrusted(data, names)
            except MalformedPacket as exc:
                raise McastError(f"reading the bridges' MDB: {exc}") from None
            if done or not chunk:
                break
    return [
        BridgeMdb(
            bridge=name,
            snooping=_setting(name, "multicast_snooping"),
            querier=_setting(name, "multicast_querier"),
            entries=sorted(
                (e for e in entries if e.bridge == name),
                key=lambda e: (e.group, e.source or "", e.port),
            ),
            router_ports=[r for r in routers if r.bridge == name],
        )
        for name in (here if bridge is None else [bridge])
    ]
