"""The eBPF forwarding plane: the userspace plane's routes carried in the kernel,
for kernels without multicast routing.

``bpf/mforward.c`` holds two programs. ``tc/mforward`` runs on the ingress of
each Ethernet interface the routes name, and forwards a datagram whose entry
it holds as the userspace plane's Forwarder (:mod:`._mforward`) would: the
RPF check, the TTL thresholds, the MTU, a copy out of each outbound
interface by ``bpf_clone_redirect``. ``socket/mforward`` replaces the
userspace plane's classic socket filter: it passes what the kernel did not
take, so that every datagram is forwarded once, by one of them.

This plane is the userspace plane (:class:`._userplane.UserspacePlane`) with
the kernel's copy of its table: every entry whose interfaces are all Ethernet
(and whose inbound interface took the program) goes into the programs' maps
as the Forwarder holds it; the others, misses (the proxy's upcalls) and
everything the program leaves (IPv4 options, bad checksums, link-scoped
groups) stay Python's. Counters add both: the entries' packets and bytes,
and the drops by the Forwarder's reasons. The Python Forwarder is the
reference: tests/mcast/test_ebpf_mforward_differential.py sends the same
datagrams through both.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from pathlib import Path
from typing import Any

from ipv6.ebpf import Attachment, BpfObjectError, attach_tc, load, why_not

from ._kernelplane import Miss, of_family
from ._mforward import (
    BELOW_THRESHOLD,
    NO_OUTBOUND,
    TOO_BIG,
    TTL_EXPIRED,
    WRONG_INTERFACE,
    EntryCounters,
)
from ._mroutes import Plan
from ._userplane import ARPHRD_ETHER, UserspacePlane, _hardware_type, _ifname, _ioctl

OBJECT = Path(__file__).resolve().parent / "bpf" / "mforward.o"
TC, SOCKET = "tc/mforward", "socket/mforward"
SO_ATTACH_BPF = 50
SIOCGIFHWADDR = 0x8927
MAX_OUT = 32  # the program's (the kernel's MAXVIFS)
PRIORITY = {4: 904, 6: 906}  # each family's program on an interface's ingress hook
COUNTER_NAMES = (
    "taken", "forwarded", "copies", WRONG_INTERFACE, NO_OUTBOUND, TTL_EXPIRED,
    BELOW_THRESHOLD, TOO_BIG, "clone_failed", "rewrite_failed",
)  # fmt: skip
DROPS = COUNTER_NAMES[3:]
_CONFIG = struct.Struct("<II")  # family, filter_groups
_ROUTE = struct.Struct("<II" + "II" * MAX_OUT)  # parent, count, (ifindex, threshold) ...
_STATS = struct.Struct("<QQQ")  # packets, bytes, wrong_interface (per CPU)
_PORT = struct.Struct("<I6sBx")  # mtu, mac, attached
_ZERO = b"\0\0\0\0"


def route_key(family: int, source: str | None, group: str) -> bytes:
    """The programs' key of an entry: source then group, 16 bytes each (an IPv4
    address in the first four, the source zero for (*,G))."""

    def packed(text: str | None) -> bytes:
        return ipaddress.ip_address(text).packed.ljust(16, b"\0") if text else bytes(16)

    return packed(source) + packed(group)


def route_value(parent: int, outbound: tuple[tuple[int, int], ...]) -> bytes:
    flat: list[int] = []
    for index, threshold in outbound:
        flat += [index, threshold]
    flat += [0] * (2 * MAX_OUT - len(flat))
    return _ROUTE.pack(parent, len(outbound), *flat)


def port_value(mtu: int, mac: bytes, attached: bool) -> bytes:
    return _PORT.pack(mtu, mac[:6].ljust(6, b"\0"), int(attached))


def _mac(index: int) -> bytes:
    return _ioctl(index, SIOCGIFHWADDR)[18:24]


class EbpfPlane(UserspacePlane):
    """The userspace plane with its Ethernet entries forwarded in the kernel."""

    name = "ebpf"

    def __init__(self, family: int, on_miss: Miss | None = None, *,
                 filter_groups: bool = True, path: Path | None = None) -> None:  # fmt: skip
        """BpfError (the verifier's words) or BpfObjectError when it cannot load;
        OSError when the kernel refuses its socket filter."""
        path = path or OBJECT
        if not path.exists():
            raise BpfObjectError(f"{path} is missing: build it with scripts/bpf-build")
        self.kernel = load(path, [TC, SOCKET])
        self.hooks: dict[int, Attachment] = {}  # interface index -> its program
        self.refused: dict[int, str] = {}  # interface index -> why the program is not on it
        self.held_ports: dict[int, bytes] = {}
        self.held_routes: dict[bytes, tuple[bytes, tuple[str, str]]] = {}  # key -> value, name
        self.held_groups: set[bytes] = set()
        self._ethernet: set[int] = set()  # the slots' Ethernet interfaces
        self.lost = 0  # entries the maps had no room for: forwarded by Python
        self._socket_filter = False
        try:
            self.kernel.maps["config"].update(_ZERO, _CONFIG.pack(family, int(filter_groups)))
            super().__init__(family, on_miss, filter_groups=filter_groups)
        except BaseException:
            if hasattr(self, "_lock"):  # the base had its socket and lock: let them go
                with contextlib.suppress(Exception):
                    UserspacePlane.close(self)
            self.kernel.close()
            raise

    # -- the table, as the kernel's maps --

    def _set_filter(self) -> None:
        if not self._socket_filter:
            fd = self.kernel.programs[SOCKET]
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, struct.pack("i", fd))
            self._socket_filter = True
        self.sync()

    def move(self, old: Plan, new: Plan) -> None:
        """As the userspace plane moves, and the maps after it: the whole of them
        when the slots changed (the base reloads, and so syncs), else only the
        entries that moved (a proxy moves one flow at a time, thousands a second
        in a flood: each must cost its own entry's writes, not the table's)."""
        slots = dict(self.plan.slots)
        super().move(old, new)
        if self.plan.slots != slots:
            return
        old, new = of_family(old, self.family), of_family(new, self.family)
        touched = {(source, group) for _, source, group in [*old.entries, *new.entries]}
        for source, group in touched:
            self._route(source, group)
        if self.filter_groups:
            self._groups({ipaddress.ip_address(group).packed for _, group in touched})

    def sync(self) -> None:
        """The maps and the tc programs as the Forwarder's table is now, whole."""
        self._ethernet = self._ports()
        present = {
            route_key(self.family, r.entry.source, r.entry.group): (r.entry.source, r.entry.group)
            for r in [*self.forwarder.sg.values(), *self.forwarder.star.values()]
        }
        for key in set(self.held_routes) - set(present):
            self._forget(key)
        for source, group in present.values():
            self._route(source, group)
        size = 4 if self.family == 4 else 16
        self._groups({k[:size] for k in self.held_groups} | self.forwarder.groups())

    def _groups(self, groups: set[bytes]) -> None:
        """The groups map's word on each of ``groups`` (packed) as the Forwarder has it:
        a group with an entry passes the socket filter (where it filters by group)."""
        table = self.kernel.maps["groups"]
        held = self.forwarder.groups() if self.filter_groups else set()
        for packed in groups:
            key = packed.ljust(16, b"\0")
            if packed in held and key not in self.held_groups:
                try:
                    table.update(key, b"\1\0\0\0")
                except OSError:
                    self.lost += 1
                    continue
                self.held_groups.add(key)
            elif packed not in held and key in self.held_groups:
                table.delete(key)
                self.held_groups.discard(key)

    def _ports(self) -> set[int]:
        """Every slot's interface in the ports map (the socket filter passes only
        what arrives on one), the program on each Ethernet one's ingress: the
        Ethernet ones. Another kind (a TUN device, say) is in the map without
        the program: what arrives there, and every entry that sends out of it,
        stays Python's, whose packet socket sends without an Ethernet header."""
        wanted = set(self.forwarder.ports)
        for index in sorted(set(self.hooks) - wanted):
            self.hooks.pop(index).detach()
        for index in set(self.refused) - wanted:
            del self.refused[index]
        table = self.kernel.maps["ports"]
        ethernet: set[int] = set()
        values: dict[int, bytes] = {}
        for index in sorted(wanted):
            kind = self._hardware.get(index)
            if kind is None:
                kind = self._hardware[index] = _hardware_type(index)
            mtu = self.forwarder.ports[index].mtu
            if kind != ARPHRD_ETHER:
                values[index] = port_value(mtu, b"", False)
                continue
            try:
                mac = _mac(index)
            except OSError:
                continue  # gone: the reload that follows its slot takes it out
            ethernet.add(index)
            if index not in self.hooks and index not in self.refused:
                try:
                    self.hooks[index] = attach_tc(
                        index, self.kernel.programs[TC], f"mforward{self.family}",
                        egress=False, priority=PRIORITY[self.family],
                    )  # fmt: skip
                except OSError as exc:
                    self.refused[index] = why_not(exc)
            values[index] = port_value(mtu, mac, index in self.hooks)
        for index in set(self.held_ports) - set(values):
            table.delete(struct.pack("<I", index))
        for index, value in values.items():
            if self.held_ports.get(index) != value:
                table.update(struct.pack("<I", index), value)
        self.held_ports = values
        return ethernet

    def _route(self, source: str | None, group: str) -> None:
        """The kernel's copy of the Forwarder's entry for (``source``, ``group``): written
        when its interfaces are all Ethernet and its inbound one has the program,
        else (or when it is gone) deleted, and left to Python."""
        key = route_key(self.family, source, group)
        route = self._lookup(source, group)
        wanted = None
        if route is not None and self._kernel_can(route):
            any_ = "0.0.0.0" if self.family == 4 else "::"
            name = (route.entry.group, route.entry.source or any_)
            wanted = (route_value(route.parent, route.outbound), name)
        held = self.held_routes.get(key)
        if held == wanted:
            return
        if wanted is None:
            if route is not None:  # Python's from now on: its counts carry on there
                self._fold(key, route.counters)
            self._forget(key)
            return
        routes, stats = self.kernel.maps["routes"], self.kernel.maps["stats"]
        try:
            if held is None:  # its counts from zero, before the program can find it
                stats.update(key, bytes(stats.value_bytes))
            routes.update(key, wanted[0])
        except OSError:  # the maps are full: Python forwards it
            self.lost += 1
            if held is None:
                stats.delete(key)
            return
        self.held_routes[key] = wanted

    def _fold(self, key: bytes, counters: EntryCounters) -> None:
        """Add what the kernel counted for ``key`` to the Forwarder's ``counters``."""
        raw = self.kernel.maps["stats"].lookup(key)
        for packets, size, wrong in _STATS.iter_unpack(raw or b""):  # each CPU's
            counters.packets += packets
            counters.bytes += size
            counters.wrong_interface += wrong

    def _forget(self, key: bytes) -> None:
        self.kernel.maps["routes"].delete(key)  # first: the program stops taking it
        self.kernel.maps["stats"].delete(key)  # then its counts go, with the entry
        self.held_routes.pop(key, None)

    def _lookup(self, source: str | None, group: str) -> Any:
        packed = ipaddress.ip_address(group).packed
        if source is None:
            return self.forwarder.star.get(packed)
        return self.forwarder.sg.get((ipaddress.ip_address(source).packed, packed))

    def _kernel_can(self, route: Any) -> bool:
        """Whether the program can forward ``route`` as the Forwarder would: its
        inbound interface has the program, and every interface is Ethernet (a copy
        out of another one needs no Ethernet header: the packet socket sends it)."""
        if route.parent not in self.hooks or len(route.outbound) > MAX_OUT:
            return False
        return all(i in self._ethernet for i, _ in route.outbound)

    # -- what it counted --

    def kernel_counters(self) -> dict[str, int]:
        counted = self.kernel.maps["counters"]
        return {n: counted.sum_per_cpu(struct.pack("<I", i)) for i, n in enumerate(COUNTER_NAMES)}

    def counters(self) -> dict[tuple[str, str], EntryCounters]:
        out = {
            name: EntryCounters(c.packets, c.bytes, c.wrong_interface)
            for name, c in super().counters().items()
        }
        for key, (_, name) in self.held_routes.items():
            if name in out:
                self._fold(key, out[name])
        return out

    def status(self) -> dict[str, Any]:
        status = super().status()
        kernel = self.kernel_counters()
        status["forwarded"] += kernel["forwarded"]
        status["copies"] += kernel["copies"]
        dropped = dict(status["dropped"])
        for reason in DROPS:
            if kernel[reason]:
                dropped[reason] = dropped.get(reason, 0) + kernel[reason]
        status["dropped"] = dict(sorted(dropped.items()))
        status["kernel_plane"] = {
            **kernel,
            "entries": len(self.held_routes),
            "entries_in_userspace": len(self.forwarder.sg)
            + len(self.forwarder.star)
            - len(self.held_routes),
            "lost": self.lost,
            "interfaces": sorted(_name(i) for i in self.hooks),
            "hooked_by": sorted({a.kind for a in self.hooks.values()}),  # tcx, cls_bpf
            "refused": {_name(i): why for i, why in sorted(self.refused.items())},
        }
        return status

    def close(self) -> None:
        try:
            for index in sorted(self.hooks):
                self.hooks.pop(index).detach()
        finally:
            super().close()
            self.kernel.close()


def _name(index: int) -> str:
    try:
        return _ifname(index)
    except OSError:
        return str(index)
