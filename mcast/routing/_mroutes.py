"""Static multicast routes as data, and the kernel operations that install them.

Rules of this module:
- Pure: routes, interface indexes and what the kernel holds go in; a plan of
  interface slots and forwarding entries, and the operations from one plan
  to the next, come out (as data, then as the setsockopt arguments of
  Linux's multicast routing API). No socket is touched here.
- A route is (group, source or none, inbound interface, outbound interfaces
  each with a TTL threshold): (S,G) when a source is given, (*,G) otherwise.
  A datagram is forwarded out of an interface when its TTL is above that
  interface's threshold (as ipmr compares), and leaves with its TTL one less.
- The kernel knows interfaces by slot (a VIF for IPv4, a MIF for IPv6; 32 of
  each). A slot keeps its number while any route uses its interface, so that
  adding a route never disturbs another one's forwarding.
- TTL thresholds are IPv4's (struct mfcctl's TTL array): Linux's IPv6
  multicast routing forwards whatever hop limit a datagram has left (it sets
  every outbound interface's threshold to 1 itself), so an IPv6 route with
  another threshold is refused rather than installed and ignored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ipv6.sockopts import LINUX, MRT, VIFF_USE_IFINDEX, encode

from .._errors import McastBadInput

MAX_SLOTS = 32
SOL_IP, SOL_IPV6 = 0, 41
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Route:
    group: str
    source: str | None  # None: from any source, (*,G)
    inbound: str
    outbound: tuple[tuple[str, int], ...]  # (interface, TTL threshold), by interface name

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.group).version

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What names a route: a group, a source and an inbound interface."""
        return (self.group, self.source, self.inbound)

    def text(self) -> str:
        origin = f"({self.source}, {self.group})" if self.source else f"(*, {self.group})"
        outs = ", ".join(f"{name} ttl>{ttl}" for name, ttl in self.outbound)
        return f"{origin} from {self.inbound} to {outs}"


def check_route(
    group: str, source: str | None, inbound: str, outbound: list[tuple[str, int]]
) -> Route:
    """A route, or a one-line McastBadInput saying what is wrong with it."""
    try:
        address = ipaddress.ip_address(group)
    except ValueError:
        raise McastBadInput(f"{group!r} is not an IP address") from None
    if not address.is_multicast:
        raise McastBadInput(f"{address} is not a multicast address")
    if address.version == 6 and address.packed[1] & 0x0F <= 2:
        raise McastBadInput(f"{address} is scoped to one link: it cannot be routed")
    origin = None
    if source is not None:
        try:
            origin = ipaddress.ip_address(source)
        except ValueError:
            raise McastBadInput(f"source {source!r} is not an IP address") from None
        if origin.version != address.version:
            raise McastBadInput(f"source {origin} and group {address} are not of one IP version")
        if origin.is_multicast or origin.is_unspecified:
            raise McastBadInput(f"source {origin} is not a unicast address")
    if not outbound:
        raise McastBadInput("a route needs at least one outbound interface (--out)")
    names = [name for name, _ in outbound]
    if inbound in names:
        raise McastBadInput(f"{inbound} is both the inbound and an outbound interface")
    if len(set(names)) != len(names):
        raise McastBadInput("an outbound interface is named twice")
    for name, ttl in outbound:
        if not 1 <= ttl <= 255:
            raise McastBadInput(f"the TTL threshold of {name} is {ttl}: it is 1 to 255")
        if address.version == 6 and ttl != 1:
            raise McastBadInput(
                f"IPv6 routes have no TTL thresholds on Linux (it forwards any hop limit left): "
                f"drop the threshold of {name}"
            )
    return Route(str(address), str(origin) if origin else None, inbound, tuple(sorted(outbound)))


@dataclass(frozen=True)
class Slot:
    family: int
    number: int
    name: str
    index: int  # the interface's index
    threshold: int = 1


@dataclass(frozen=True)
class Entry:
    family: int
    source: str | None
    group: str
    parent: int  # the inbound slot
    outbound: tuple[tuple[int, int], ...]  # (slot, threshold)


@dataclass
class Plan:
    """What the kernel should hold: slots by (family, interface), entries by route key."""

    slots: dict[tuple[int, str], Slot] = field(default_factory=dict)
    entries: dict[tuple[int, str | None, str], Entry] = field(default_factory=dict)


def plan(
    routes: list[Route],
    indexes: dict[str, int],
    keep: Plan | None = None,
    interfaces: tuple[tuple[int, str], ...] = (),
) -> Plan:
    """The slots and entries for ``routes``; slots of ``keep`` keep their numbers.
    Each (family, name) of ``interfaces`` has a slot even with no route (a proxy's
    interfaces: the kernel asks about datagrams only on interfaces with slots)."""
    out = Plan()
    kept = keep.slots if keep else {}
    wanted = list(interfaces)
    for route in sorted(routes, key=lambda r: (r.group, r.source or "", r.inbound)):
        wanted += [(route.family, n) for n in [route.inbound, *(n for n, _ in route.outbound)]]
    for family, name in wanted:
        key = (family, name)
        if key in out.slots:
            continue
        if name not in indexes:
            raise McastBadInput(f"no interface {name} here")
        index = indexes[name]
        old = kept.get(key)
        used = {s.number for s in out.slots.values() if s.family == family}
        used |= {s.number for k, s in kept.items() if s.family == family and k != key}
        if old is not None and old.index == index:
            number = old.number
        else:
            free = [n for n in range(MAX_SLOTS) if n not in used]
            if not free:
                raise McastBadInput(
                    f"IPv{family} multicast routing has {MAX_SLOTS} interface slots: "
                    "the routes use more"
                )
            number = free[0]
        out.slots[key] = Slot(family, number, name, index)
    for route in routes:
        family = route.family
        outbound = tuple(
            sorted((out.slots[family, name].number, ttl) for name, ttl in route.outbound)
        )
        entry = Entry(family, route.source, route.group, out.slots[family, route.inbound].number,
                      outbound)  # fmt: skip
        entry_key = (family, route.source, route.group)
        if entry_key in out.entries:
            raise McastBadInput(
                f"({route.source or '*'}, {route.group}) has a route already, from another "
                "interface: the kernel keeps one per source and group"
            )
        out.entries[entry_key] = entry
    return out


@dataclass(frozen=True)
class Op:
    """One kernel operation: what it does, and its setsockopt arguments."""

    action: str  # add-slot, delete-slot, add-entry, delete-entry
    family: int
    level: int
    option: int
    value: bytes
    text: str


def changes(old: Plan, new: Plan) -> list[Op]:
    """The operations from ``old`` to ``new``: entries out, slots out, slots in,
    entries in (an entry is replaced in place by adding it again)."""
    return [step.op for step in transitions(old, new)]


@dataclass(frozen=True)
class Step:
    """One operation from a plan to the next, and the operations that undo it (what
    the old plan held there), for the one do/undo runner (``ipv6.apply_steps``)."""

    op: Op
    undo: tuple[Op, ...]


def transitions(old: Plan, new: Plan) -> list[Step]:
    """:func:`changes`, each with its undo: a deletion is undone by adding what was
    deleted, an addition by deleting it, or by adding back the entry it replaced."""
    steps: list[Step] = []
    for entry_key, entry in old.entries.items():
        if entry_key not in new.entries:
            steps.append(Step(_entry_op(entry, delete=True), (_entry_op(entry, delete=False),)))
    moved = set()  # slot numbers that leave or change: entries using them are written again
    for key, slot in old.slots.items():
        if new.slots.get(key) != slot:
            steps.append(Step(_slot_op(slot, delete=True), (_slot_op(slot, delete=False),)))
            moved.add((slot.family, slot.number))
    for key, slot in new.slots.items():
        if old.slots.get(key) != slot:
            steps.append(Step(_slot_op(slot, delete=False), (_slot_op(slot, delete=True),)))
    for entry_key, entry in new.entries.items():
        numbers = {entry.parent, *(slot for slot, _ in entry.outbound)}
        touched = any((entry.family, n) in moved for n in numbers)
        before = old.entries.get(entry_key)
        if before != entry or touched:
            undo = _entry_op(before, delete=False) if before else _entry_op(entry, delete=True)
            steps.append(Step(_entry_op(entry, delete=False), (undo,)))
    return steps


def _slot_op(slot: Slot, *, delete: bool) -> Op:
    verb = "delete-slot" if delete else "add-slot"
    text = f"{'delete' if delete else 'add'} slot {slot.number} = {slot.name} (IPv{slot.family})"
    if slot.family == 4:
        value = encode(LINUX, "vifctl", {
            "vifc_vifi": slot.number, "vifc_flags": VIFF_USE_IFINDEX,
            "vifc_threshold": slot.threshold, "vifc_lcl_ifindex": slot.index,
        })  # fmt: skip
        option = MRT["MRT_DEL_VIF" if delete else "MRT_ADD_VIF"]
        return Op(verb, 4, SOL_IP, option, value, text)
    value = encode(LINUX, "mif6ctl", {
        "mif6c_mifi": slot.number, "vifc_threshold": slot.threshold, "mif6c_pifi": slot.index,
    })  # fmt: skip
    option = MRT["MRT_DEL_VIF" if delete else "MRT_ADD_VIF"]  # MRT6_DEL_MIF, MRT6_ADD_MIF
    return Op(verb, 6, SOL_IPV6, option, value, text)


def _entry_op(entry: Entry, *, delete: bool) -> Op:
    verb = "delete-entry" if delete else "add-entry"
    origin = entry.source or ("0.0.0.0" if entry.family == 4 else "::")
    text = f"{'delete' if delete else 'add'} ({entry.source or '*'}, {entry.group})"
    option = MRT["MRT_DEL_MFC" if delete else "MRT_ADD_MFC"]
    # Linux finds a (*,G) entry only for datagrams that arrive on an interface of
    # its outbound set, and never forwards one back out where it came in: the
    # inbound slot joins the set (threshold 1) for a (*,G) route.
    outbound = entry.outbound if entry.source else ((entry.parent, 1), *entry.outbound)
    if entry.family == 4:
        ttls = [0] * MAX_SLOTS
        for slot, ttl in outbound:
            ttls[slot] = ttl
        value = encode(LINUX, "mfcctl", {
            "mfcc_origin": ipaddress.IPv4Address(origin),
            "mfcc_mcastgrp": ipaddress.IPv4Address(entry.group),
            "mfcc_parent": entry.parent, "mfcc_ttls": ttls,
        })  # fmt: skip
        return Op(verb, 4, SOL_IP, option, value, text)
    value = encode(LINUX, "mf6cctl", {
        "mf6cc_origin": ipaddress.IPv6Address(origin),
        "mf6cc_mcastgrp": ipaddress.IPv6Address(entry.group),
        "mf6cc_parent": entry.parent, "mf6cc_ifset": sorted(slot for slot, _ in outbound),
    })  # fmt: skip
    return Op(verb, 6, SOL_IPV6, option, value, text)
