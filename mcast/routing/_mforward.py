"""Multicast forwarding in user space, as data: what Linux's multicast routing
does with a datagram, for kernels that have none (no CONFIG_IP_MROUTE or
CONFIG_IPV6_MROUTE).

Rules of this module:
- Pure: the plan of slots and entries (:mod:`._mroutes`, the same plan the
  kernel plane installs) goes in, and for each datagram read off an
  interface the bytes to send and the interfaces to send them out of come
  out, with the reason when nothing goes. No socket is touched here; the
  Trio driver (:mod:`._planes`) reads and sends.
- It decides as the kernel's ipmr/ip6mr do, so that a route means the same
  on both planes: an (S,G) entry forwards what arrives on its inbound
  interface (the RPF check; elsewhere it counts a wrong interface); a (*,G)
  entry is found only for a datagram that arrived on one of its interfaces,
  and forwards only what arrived on its inbound one; a copy goes out of each
  outbound interface whose TTL threshold the datagram's TTL (or hop limit)
  exceeds, never back where it came from, with the TTL one less (the IPv4
  header checksum updated as RFC 1624 says). A datagram with no entry is a
  miss: the kernel's upcall, which a proxy answers with an entry.
- A datagram another host's stack left its transport checksum to finish
  (checksum offload: the packet socket says so, and the field holds only the
  pseudo-header's sum) has it finished here before it goes, as the kernel's
  own forwarding would have the outbound device do.
- It trusts nothing: a datagram too short for its header, of another version,
  with a bad IPv4 header checksum, or from a source no router forwards is
  dropped and counted by reason, never raised. Link-scoped groups are never
  forwarded. A copy larger than its outbound interface's MTU is dropped and
  counted (the kernel would fragment an IPv4 one without DF).
- The kernel filter for the packet sockets is here too, as a classic BPF
  table (:func:`socket_filter`): it passes only routable multicast that
  arrived on an interface with a slot, and only the routed groups when there
  are few, so that other traffic never reaches Python.

Past 400 lines as one concept: the kernel's ipmr/ip6mr decisions for one
datagram, both families, as one pure function's cases.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass, field

from ipv6 import adjust_checksum, checksum

from ._mroutes import Entry, Plan, Slot

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Why a datagram (or one copy of it) went nowhere.
MALFORMED = "malformed"
BAD_CHECKSUM = "bad_header_checksum"
BAD_SOURCE = "bad_source"
NOT_ROUTABLE = "link_scope_group"
NO_ROUTE = "no_route"
WRONG_INTERFACE = "wrong_interface"
TTL_EXPIRED = "ttl_expired"  # TTL or hop limit 1 (or 0): no router forwards it
BELOW_THRESHOLD = "below_threshold"  # no outbound interface's threshold passed
TOO_BIG = "too_big"  # one copy: larger than its outbound interface's MTU
UNFINISHED = "checksum_not_finished"  # left to finish, in a transport this plane cannot find
NO_OUTBOUND = "no_outbound_interface"  # an entry that forwards nowhere (a proxy's, unwanted)
REASONS = (MALFORMED, BAD_CHECKSUM, BAD_SOURCE, NOT_ROUTABLE, NO_ROUTE, WRONG_INTERFACE,
           TTL_EXPIRED, BELOW_THRESHOLD, TOO_BIG, NO_OUTBOUND, UNFINISHED)  # fmt: skip


@dataclass
class EntryCounters:
    """What the kernel counts per entry (``/proc/net/ip_mr_cache``): packets and
    bytes forwarded, and datagrams that came in on another interface."""

    packets: int = 0
    bytes: int = 0
    wrong_interface: int = 0


@dataclass(frozen=True)
class Port:
    """An interface a slot names, as the sender needs it."""

    index: int
    mtu: int


@dataclass
class _Route:
    entry: Entry
    parent: int  # the inbound interface's index
    members: frozenset[int]  # (*,G): the interfaces on which it is found
    outbound: tuple[tuple[int, int], ...]  # (interface index, TTL threshold)
    counters: EntryCounters = field(default_factory=EntryCounters)


@dataclass
class Verdict:
    """One datagram's fate: the bytes to send and where, or why not."""

    packet: bytes | bytearray = b""
    out: list[int] = field(default_factory=list)  # interface indexes
    reason: str | None = None  # why nothing (or not everything) went
    miss: tuple[IPAddress, IPAddress] | None = None  # (S, G) with no entry: the upcall


class Forwarder:
    """One family's forwarding table (IPv4 or IPv6) and its counters."""

    def __init__(self, family: int) -> None:
        self.family = family
        self.sg: dict[tuple[bytes, bytes], _Route] = {}  # (source, group) packed
        self.star: dict[bytes, _Route] = {}  # group packed
        self.ports: dict[int, Port] = {}  # interface index -> port
        self.slots: dict[int, Slot] = {}  # slot number -> slot
        self.dropped: Counter[str] = Counter()
        self.forwarded = 0  # datagrams that went out somewhere
        self.copies = 0  # copies sent (one per outbound interface)
        self.misses = 0

    # -- the table --

    def load(self, plan: Plan, ports: dict[int, Port]) -> None:
        """Take this family's slots and entries of ``plan``; the counters of entries
        that stay carry on."""
        self.slots = {s.number: s for s in plan.slots.values() if s.family == self.family}
        self.ports = {
            s.index: ports.get(s.index, Port(s.index, 65535)) for s in self.slots.values()
        }
        keep: dict[tuple[str | None, str], EntryCounters] = {
            (r.entry.source, r.entry.group): r.counters
            for r in [*self.sg.values(), *self.star.values()]
        }
        self.sg, self.star = {}, {}
        for entry in plan.entries.values():
            if entry.family == self.family:
                self.put(entry, keep.get((entry.source, entry.group)))

    def put(self, entry: Entry, counters: EntryCounters | None = None) -> None:
        """Install or replace one entry (its slots are the loaded plan's)."""
        index = {n: s.index for n, s in self.slots.items()}
        outbound = tuple((index[n], ttl) for n, ttl in entry.outbound if n in index)
        parent = index.get(entry.parent, -1)
        group = ipaddress.ip_address(entry.group).packed
        route = _Route(entry, parent, frozenset([parent, *(i for i, _ in outbound)]), outbound)
        if entry.source is None:
            held = self.star.get(group)
            self.star[group] = route
        else:
            key = (ipaddress.ip_address(entry.source).packed, group)
            held = self.sg.get(key)
            self.sg[key] = route
        if counters is not None:
            route.counters = counters
        elif held is not None:
            route.counters = held.counters  # replaced in place: its counts go on

    def remove(self, source: str | None, group: str) -> None:
        packed = ipaddress.ip_address(group).packed
        if source is None:
            self.star.pop(packed, None)
        else:
            self.sg.pop((ipaddress.ip_address(source).packed, packed), None)

    def counters(self) -> dict[tuple[str, str], EntryCounters]:
        """(group, origin) -> counters, origin ``0.0.0.0`` or ``::`` for (*,G)."""
        any_ = "0.0.0.0" if self.family == 4 else "::"
        out = {}
        for route in [*self.sg.values(), *self.star.values()]:
            out[route.entry.group, route.entry.source or any_] = route.counters
        return out

    def groups(self) -> set[bytes]:
        """The packed groups that have an entry."""
        return {g for _, g in self.sg} | set(self.star)

    # -- a datagram --

    def forward(self, data: bytes, arrived: int, partial: bool = False) -> Verdict:
        """What to do with ``data`` (an IP datagram, maybe with link padding after
        it) that arrived on interface ``arrived``; ``partial`` when its transport
        checksum is left to finish."""
        header = _parse(self.family, data)
        if isinstance(header, str):
            return self._drop(header)
        length, ttl, source, group = header
        if not _routable(self.family, group):
            return self._drop(NOT_ROUTABLE)
        if not _good_source(self.family, source):
            return self._drop(BAD_SOURCE)
        route = self.sg.get((source, group))
        star = False
        if route is None:
            route = self.star.get(group)
            if route is None or arrived not in route.members:
                self.misses += 1  # the caller counts it dropped if nobody makes an entry
                return Verdict(reason=NO_ROUTE, miss=(ipaddress.ip_address(source),
                                                      ipaddress.ip_address(group)))  # fmt: skip
            star = True
        # Counted before the RPF check, as ip_mr_forward counts (a datagram from the
        # wrong interface is in an entry's packets too).
        route.counters.packets += 1
        route.counters.bytes += length
        if arrived != route.parent:
            route.counters.wrong_interface += 1
            return self._drop(WRONG_INTERFACE)
        if not route.outbound:
            return self._drop(NO_OUTBOUND)
        if ttl <= 1:
            return self._drop(TTL_EXPIRED)
        out = []
        too_big = 0
        for index, threshold in route.outbound:
            if star and index == arrived:
                continue
            if ttl <= threshold:
                continue
            if length > self.ports[index].mtu:
                too_big += 1
                continue
            out.append(index)
        if too_big:
            self.dropped[TOO_BIG] += too_big
        if not out:
            return self._drop(TOO_BIG if too_big else BELOW_THRESHOLD, count=not too_big)
        packet = _decrement(self.family, data, length)
        if partial and not finish_checksum(self.family, packet):
            return self._drop(UNFINISHED)
        self.forwarded += 1
        self.copies += len(out)
        return Verdict(packet, out)

    def _drop(self, reason: str, *, count: bool = True) -> Verdict:
        if count:
            self.dropped[reason] += 1
        return Verdict(reason=reason)


_IPV4 = struct.Struct("!BxHxxxxBxxx4s4s")  # version/IHL, total length, TTL, source, destination
_IPV6 = struct.Struct("!B3xHxB16s16s")  # version, payload length, hop limit, source, destination


def _parse(family: int, data: bytes) -> tuple[int, int, bytes, bytes] | str:
    """(length, TTL, packed source, packed group), or why the datagram is no good."""
    if family == 4:
        if len(data) < 20:
            return MALFORMED
        first, length, ttl, source, group = _IPV4.unpack_from(data)
        ihl = (first & 0x0F) * 4
        if first >> 4 != 4 or ihl < 20 or length < ihl or length > len(data):
            return MALFORMED
        if checksum(data[:ihl]) != 0:
            return BAD_CHECKSUM
        return length, ttl, source, group
    if len(data) < 40:
        return MALFORMED
    first, payload, hops, source, group = _IPV6.unpack_from(data)
    if first >> 4 != 6 or 40 + payload > len(data):
        return MALFORMED
    return 40 + payload, hops, source, group


def _routable(family: int, group: bytes) -> bool:
    if family == 4:
        return group[0] >> 4 == 0xE and group[:3] != b"\xe0\x00\x00"  # not 224.0.0.0/24
    return group[0] == 0xFF and group[1] & 0x0F > 2  # beyond link scope


_V6_UNSPECIFIED, _V6_LOOPBACK = bytes(16), bytes(15) + b"\x01"


def _good_source(family: int, source: bytes) -> bool:
    """Whether a router may forward a datagram from ``source``: not multicast, not
    the limited broadcast, not loopback, not 0.0.0.0/8 or :: (ip_route_input_mc)."""
    if family == 4:
        first = source[0]
        return first not in (0, 127) and first >> 4 != 0xE and source != b"\xff\xff\xff\xff"
    return source[0] != 0xFF and source not in (_V6_UNSPECIFIED, _V6_LOOPBACK)


def _decrement(family: int, data: bytes, length: int) -> bytearray:
    """The datagram as it leaves: link padding cut, TTL (hop limit) one less."""
    packet = bytearray(data[:length])
    if family == 4:
        packet[8] -= 1
        # The TTL is the high byte of the header's fifth word: its sum falls by 0x100.
        old = int.from_bytes(packet[10:12], "big")
        packet[10:12] = adjust_checksum(old, -0x100).to_bytes(2, "big")
    else:
        packet[7] -= 1
    return packet


# Where a transport's checksum field is, from the start of its header.
_CHECKSUM_AT = {6: 16, 17: 6, 58: 2, 1: 2}  # TCP, UDP, ICMPv6, ICMP
_IPV6_EXTENSIONS = (0, 43, 60)  # Hop-by-Hop, Routing, Destination Options


def finish_checksum(family: int, packet: bytearray) -> bool:
    """Finish a transport checksum left to finish (its field holds the pseudo-header's
    sum): the ones' complement of the sum from the transport header on. False when
    the transport is not one whose field this knows."""
    if family == 4:
        start, protocol = (packet[0] & 0x0F) * 4, packet[9]
    else:
        start, protocol = 40, packet[6]
        while protocol in _IPV6_EXTENSIONS and start + 2 <= len(packet):
            protocol, start = packet[start], start + (packet[start + 1] + 1) * 8
    at = _CHECKSUM_AT.get(protocol)
    if at is None or start + at + 2 > len(packet):
        return False
    value = checksum(packet[start:])
    if protocol == 17 and value == 0:
        value = 0xFFFF  # UDP's zero means none: its all-ones twin (RFC 768)
    packet[start + at : start + at + 2] = value.to_bytes(2, "big")
    return True


def multicast_mac(group: bytes) -> bytes:
    """The Ethernet address a group's frames go to (RFC 1112 6.4, RFC 2464 7)."""
    if len(group) == 4:
        return bytes((0x01, 0x00, 0x5E, group[1] & 0x7F, group[2], group[3]))
    return b"\x33\x33" + group[12:]


# --- the kernel filter of the packet sockets ---------------------------------------

LD_W_ABS, LD_B_ABS, LD_W_ANC = 0x20, 0x30, 0x20
ALU_AND_K, JEQ_K, JGT_K, RET_K = 0x54, 0x15, 0x25, 0x06
SKF_AD_IFINDEX = -0x1000 + 8  # the arrival interface's index (SKF_AD_OFF + SKF_AD_IFINDEX)
ACCEPT, DROP = 0x40000, 0
MAX_FILTERED_GROUPS = 24  # more groups: pass all routable multicast, Python looks up

Instruction = tuple[int, int, int, int]


def socket_filter(
    family: int, interfaces: list[int], groups: set[bytes] | None
) -> list[Instruction]:
    """A classic BPF program for a packet socket of ``family`` (SOCK_DGRAM: the IP
    header at offset 0): it passes datagrams that arrived on one of ``interfaces``
    and are for one of ``groups`` (packed), or for any routable group when
    ``groups`` is None or larger than :data:`MAX_FILTERED_GROUPS`."""
    program: list[Instruction] = [(LD_W_ANC, 0, 0, SKF_AD_IFINDEX & 0xFFFFFFFF)]
    checks = sorted(interfaces)[:200]
    for n, index in enumerate(checks):  # jump to the group test, or on to the next
        program.append((JEQ_K, len(checks) - n, 0, index))
    program.append((RET_K, 0, 0, DROP))
    if groups is not None and len(groups) <= MAX_FILTERED_GROUPS:
        program += _group_list(family, sorted(groups))
    else:
        program += _routable_test(family)
    return program


def _group_list(family: int, groups: list[bytes]) -> list[Instruction]:
    """Accept a datagram for one of ``groups``: the destination compared word by word."""
    at = 16 if family == 4 else 24
    words = 1 if family == 4 else 4
    body: list[Instruction] = []
    per_group = 2 * words
    for n, group in enumerate(groups):
        left_after = len(groups) - n - 1
        for w in range(words):
            value = int.from_bytes(group[4 * w : 4 * w + 4], "big")
            last = w == words - 1
            # On a mismatch, skip to the next group's first load (or the final drop).
            rest_of_group = per_group - 2 * w - 2
            body.append((LD_W_ABS, 0, 0, at + 4 * w))
            if last:
                accept_jump = rest_of_group + left_after * per_group + 1
                body.append((JEQ_K, accept_jump, 0, value))
            else:
                body.append((JEQ_K, 0, rest_of_group, value))
    body.append((RET_K, 0, 0, DROP))
    body.append((RET_K, 0, 0, ACCEPT))
    return body


def _routable_test(family: int) -> list[Instruction]:
    if family == 4:
        return [
            (LD_B_ABS, 0, 0, 16),
            (ALU_AND_K, 0, 0, 0xF0),
            (JEQ_K, 0, 4, 0xE0),  # multicast, else drop
            (LD_W_ABS, 0, 0, 16),
            (ALU_AND_K, 0, 0, 0xFFFFFF00),
            (JEQ_K, 1, 0, 0xE0000000),  # 224.0.0.0/24: drop
            (RET_K, 0, 0, ACCEPT),
            (RET_K, 0, 0, DROP),
        ]
    return [
        (LD_B_ABS, 0, 0, 24),
        (JEQ_K, 0, 4, 0xFF),  # multicast, else drop
        (LD_B_ABS, 0, 0, 25),
        (ALU_AND_K, 0, 0, 0x0F),
        (JGT_K, 0, 1, 2),  # beyond link scope, else drop
        (RET_K, 0, 0, ACCEPT),
        (RET_K, 0, 0, DROP),
    ]


_INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter


def encode_filter(program: list[Instruction]) -> bytes:
    """The program as the kernel's array of ``struct sock_filter``."""
    return b"".join(_INSTRUCTION.pack(*row) for row in program)
