"""Established flows translated without the full path (pure).

Once a TCP or UDP packet of a flow has gone the full way (``_siit``), what
its headers become is known: the other family's addresses and ports, and
the checksum's change (RFC 1624). The next packets of the flow, with no
extension header, option, fragment, nor SYN, FIN or RST, take that from
here: one copy of the payload into a new buffer, the ports and checksum
set in place, the header packed. Their session is refreshed as the full path
would (an established TCP session or a UDP one: what the state machine does
to them for such a packet is only that). Anything else, or a session that is
no longer established, takes the full path, which remembers the flow anew.
"""

from __future__ import annotations

import struct
from typing import Any, Protocol

from .._checksum import adjust, checksum

TCP, UDP = 6, 17
LIMIT = 65536  # flows remembered each way; the memory starts over when full
DF = 0x4000
DF_LIMIT = 1260
_V4 = struct.Struct("!BBHHHBBH4s4s")
_V6 = struct.Struct("!IHBB16s16s")
ESTABLISHED = "ESTABLISHED"
_ROOM4, _ROOM6 = bytearray(20), bytearray(40)  # concatenated with, never changed

# What a remembered flow holds: (session or None, source, destination (packed
# addresses of the other family), ports (4 bytes), checksum change, lifetime).
Entry = tuple[Any, bytes, bytes, bytes, int, float]
Table = dict[int, dict[bytes, Entry]]  # protocol -> key -> entry


class FlowObserver(Protocol):
    """Who keeps a copy of the remembered flows (the kernel's fast path, ``_ebpf``)."""

    def remembered(self, to4: bool, proto: int, key: bytes, entry: Entry) -> None: ...

    def cleared(self, to4: bool) -> None: ...


class FlowCache:
    """The remembered flows each way, by protocol (TCP, UDP), then keyed by the
    packet's addresses and ports (the IPv6 packet's bytes 8 to 44, the IPv4
    one's 12 to 24)."""

    def __init__(self) -> None:
        self.to4: Table = {TCP: {}, UDP: {}}
        self.to6: Table = {TCP: {}, UDP: {}}
        self.observer: FlowObserver | None = None

    def remember(self, to4: bool, proto: int, key: bytes, entry: Entry) -> None:
        tables, observer = self.to4 if to4 else self.to6, self.observer
        if proto not in tables:
            return  # only TCP and UDP take the fast path
        if sum(len(t) for t in tables.values()) >= LIMIT:
            for table in tables.values():
                table.clear()
            if observer is not None:
                observer.cleared(to4)
        tables[proto][key] = entry
        if observer is not None:
            observer.remembered(to4, proto, key, entry)

    def items(self, to4: bool) -> list[tuple[int, bytes, Entry]]:
        """Every remembered flow one way: (protocol, key, entry)."""
        tables = self.to4 if to4 else self.to6
        return [(proto, key, entry) for proto, t in tables.items() for key, entry in t.items()]


def _alive(session: Any, now: float, lifetime: float) -> bool:
    """Refresh the session as the full path would, if the fast path may carry it."""
    if session is None:
        return True
    if session.state not in (ESTABLISHED, "") or session.expires <= now:
        return False
    session.expires = now + lifetime
    return True


def to4(
    cache: FlowCache, packet: bytes | bytearray | memoryview, now: float, ident: int
) -> bytearray | None:
    """The IPv4 packet for an IPv6 one of a remembered flow, or None (take the full path)."""
    size = len(packet)
    if size < 48:
        return None
    nh, hop = packet[6], packet[7]
    if nh == TCP:
        if size < 60 or packet[53] & 0x07:  # SYN, FIN or RST: the state machine's
            return None
        where = 36  # the checksum's offset in the IPv4 packet
    elif nh == UDP:
        where = 26
    else:
        return None
    if packet[0] >> 4 != 6 or hop <= 1 or 40 + ((packet[4] << 8) | packet[5]) != size:
        return None
    entry = cache.to4[nh].get(bytes(packet[8:44]))
    if entry is None:
        return None
    session, src, dst, ports, delta, lifetime = entry
    old = (packet[where + 20] << 8) | packet[where + 21]
    if nh == UDP and old == 0:
        return None
    if session is not None:
        if session.state not in (ESTABLISHED, "") or session.expires <= now:
            return None
        session.expires = now + lifetime
        session.packets_out += 1
    total = size - 20
    out = _ROOM4 + packet[40:]  # one copy of the payload behind room for the header
    out[20:24] = ports
    csum = ~(((~old & 0xFFFF) + delta) % 0xFFFF) & 0xFFFF  # RFC 1624, as adjust() does
    out[where] = csum >> 8
    out[where + 1] = csum & 0xFF
    tclass = ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)
    flags = DF if total > DF_LIMIT else 0
    _V4.pack_into(out, 0, 0x45, tclass, total, ident, flags, hop - 1, nh, 0, src, dst)
    header = checksum(out[:20])
    out[10] = header >> 8
    out[11] = header & 0xFF
    return out


def to6(
    cache: FlowCache, packet: bytes | bytearray | memoryview, now: float, mtu6: int, mtu: int
) -> bytearray | None:
    """The IPv6 packet for an IPv4 one of a remembered flow, or None (take the full
    path): ``mtu6`` the lowest IPv6 MTU, ``mtu`` the next hop's."""
    size = len(packet)
    if size < 28 or packet[0] != 0x45 or packet[8] <= 1 or packet[6] & 0x3F or packet[7]:
        return None  # options, a fragment, or a TTL the full path answers
    nh = packet[9]
    if nh == TCP:
        if size < 40 or packet[33] & 0x07:
            return None
        where = 36
    elif nh == UDP:
        where = 26
    else:
        return None
    if (packet[2] << 8) | packet[3] != size:
        return None
    if size + 20 > mtu6 and (size + 20 > mtu or not packet[6] & 0x40):
        return None  # too big: the full path fragments it, or refuses it (DF)
    entry = cache.to6[nh].get(bytes(packet[12:24]))
    if entry is None:
        return None
    session, src, dst, ports, delta, lifetime = entry
    old = (packet[where] << 8) | packet[where + 1]
    if (nh == UDP and old == 0) or not _alive(session, now, lifetime):
        return None
    if session is not None:
        session.packets_in += 1
    out = _ROOM6 + packet[20:]
    out[40:44] = ports
    csum = adjust(old, delta)
    out[where + 20] = csum >> 8
    out[where + 21] = csum & 0xFF
    _V6.pack_into(out, 0, 0x60000000 | packet[1] << 20, size - 20, nh, packet[8] - 1, src, dst)
    return out
