"""A Linux bridge's multicast database (MDB), decoded from its netlink dump.

Rules of this module:
- Pure: the bytes of RTM_NEWMDB messages in, typed rows out (pyroute2 has no
  MDB messages, so the field maps are here, in its manner: names and struct
  formats as data). The one exception let out is :class:`MalformedPacket`.
- What is read (include/uapi/linux/if_bridge.h): ``struct br_port_msg``
  (family, ifindex), then MDBA_MDB (entries: ``struct br_mdb_entry`` and its
  attributes, the timer among them) and MDBA_ROUTER (router ports, with
  their timers).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from ipv6 import Result

from ..wire._wirecommon import MalformedPacket, need, untrusted

RTM_NEWMDB, RTM_GETMDB = 84, 86
NLMSG_DONE, NLMSG_ERROR = 3, 2
AF_BRIDGE = 7
NLMSG = struct.Struct("=IHHII")  # length, type, flags, sequence, port
BR_PORT_MSG = struct.Struct("=B3xI")  # family, ifindex
NLA = struct.Struct("=HH")  # length, type
BR_MDB_ENTRY = struct.Struct("=IBBH16s2s2x")  # ifindex, state, flags, vid, address, proto
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD

MDBA_MDB, MDBA_ROUTER = 1, 2
MDBA_MDB_ENTRY, MDBA_MDB_ENTRY_INFO = 1, 1
MDBA_MDB_EATTR_TIMER, MDBA_MDB_EATTR_SOURCE = 1, 2
MDBA_ROUTER_PORT = 1
MDBA_ROUTER_PATTR_TIMER = 1
NLA_F_NESTED = 0x8000
STATES = {0: "temporary", 1: "permanent"}


@dataclass
class MdbEntry(Result):
    bridge: str
    port: str
    group: str
    source: str | None  # an (S,G) entry of an IGMPv3/MLDv2 snooping bridge
    state: str  # temporary (learnt) or permanent (static)
    vlan: int
    timer_s: float | None  # until it expires


@dataclass
class RouterPort(Result):
    bridge: str
    port: str
    timer_s: float | None


def dump_request(sequence: int) -> bytes:
    """The RTM_GETMDB dump request for every bridge."""
    body = BR_PORT_MSG.pack(AF_BRIDGE, 0)
    return NLMSG.pack(NLMSG.size + len(body), RTM_GETMDB, 0x301, sequence, 0) + body  # REQUEST|DUMP


def _attributes(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(type without flags, value start, value end) of each attribute in data[start:end]."""
    out = []
    offset = start
    while offset + NLA.size <= end:
        length, kind = NLA.unpack_from(data, offset)
        if length < NLA.size or offset + length > end:
            raise MalformedPacket(f"attribute of {length} bytes", offset)
        out.append((kind & ~NLA_F_NESTED, offset + NLA.size, offset + length))
        offset += (length + 3) & ~3
    return out


@untrusted
def decode_untrusted(
    data: bytes, names: dict[int, str]
) -> tuple[list[MdbEntry], list[RouterPort], bool]:
    """Entries and router ports of the RTM_NEWMDB messages in ``data`` (interface
    names from ``names``), and whether the dump is complete (NLMSG_DONE seen)."""
    entries: list[MdbEntry] = []
    routers: list[RouterPort] = []
    done = False
    offset = 0
    while offset + NLMSG.size <= len(data):
        length, kind, _, _, _ = NLMSG.unpack_from(data, offset)
        if length < NLMSG.size or offset + length > len(data):
            raise MalformedPacket(f"netlink message of {length} bytes", offset)
        if kind == NLMSG_DONE:
            done = True
        elif kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", data, offset + NLMSG.size)
            raise MalformedPacket(f"the kernel answered error {-code}", offset)
        elif kind in (RTM_NEWMDB, RTM_GETMDB):  # a dump answers with RTM_GETMDB messages
            body = offset + NLMSG.size
            need(data, body, BR_PORT_MSG.size, "br_port_msg")
            _, bridge_index = BR_PORT_MSG.unpack_from(data, body)
            bridge = names.get(bridge_index, str(bridge_index))
            for attr, start, end in _attributes(data, body + BR_PORT_MSG.size, offset + length):
                if attr == MDBA_MDB:
                    entries += _entries(data, start, end, bridge, names)
                elif attr == MDBA_ROUTER:
                    routers += _routers(data, start, end, bridge, names)
        offset += (length + 3) & ~3
    return entries, routers, done


def _entries(
    data: bytes, start: int, end: int, bridge: str, names: dict[int, str]
) -> list[MdbEntry]:
    out = []
    for kind, s, e in _attributes(data, start, end):
        if kind != MDBA_MDB_ENTRY:
            continue
        for info_kind, info_start, info_end in _attributes(data, s, e):
            if info_kind != MDBA_MDB_ENTRY_INFO:
                continue
            need(data, info_start, BR_MDB_ENTRY.size, "br_mdb_entry")
            index, state, _, vlan, raw, proto = BR_MDB_ENTRY.unpack_from(data, info_start)
            group = _address(raw, int.from_bytes(proto, "big"))  # proto: network order
            timer = source = None
            extra = info_start + BR_MDB_ENTRY.size
            for attr, a, b in _attributes(data, extra, info_end):
                if attr == MDBA_MDB_EATTR_TIMER and b - a >= 4:
                    timer = struct.unpack_from("=I", data, a)[0] / 100  # centiseconds
                elif attr == MDBA_MDB_EATTR_SOURCE and b - a in (4, 16):
                    source = str(ipaddress.ip_address(data[a:b]))
            out.append(MdbEntry(bridge, names.get(index, str(index)), group, source,
                                STATES.get(state, str(state)), vlan, timer))  # fmt: skip
    return out


def _address(raw: bytes, ethertype: int) -> str:
    if ethertype == ETH_P_IP:
        return str(ipaddress.IPv4Address(raw[:4]))
    if ethertype == ETH_P_IPV6:
        return str(ipaddress.IPv6Address(raw))
    return raw[:6].hex(":")  # a layer-2 entry: a MAC address


def _routers(
    data: bytes, start: int, end: int, bridge: str, names: dict[int, str]
) -> list[RouterPort]:
    out = []
    for kind, s, e in _attributes(data, start, end):
        if kind != MDBA_ROUTER_PORT or e - s < 4:
            continue
        (index,) = struct.unpack_from("=I", data, s)
        timer = None
        for attr, a, b in _attributes(data, s + 4, e):
            if attr == MDBA_ROUTER_PATTR_TIMER and b - a >= 4:
                timer = struct.unpack_from("=I", data, a)[0] / 100
        out.append(RouterPort(bridge, names.get(index, str(index)), timer))
    return out
