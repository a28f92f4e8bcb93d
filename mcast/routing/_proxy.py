"""The IGMP/MLD proxy (RFC 4605): the Trio driver around :mod:`._proxyplan`.

Downstream, it is each link's querier (:mod:`._querying`) and keeps its
membership table. Upstream, it is a host: it joins every group the
downstream tables merge to, with the merged source filter. Between them it
holds a forwarding plane per IP version (:mod:`._planes`: the kernel's
multicast routing, or the userspace plane where the kernel has none), which
tells it of each datagram with no forwarding entry; each such (S,G) gets an
entry out of the downstream links that want S, updated as memberships
change and removed when the last member goes.

Everything it decides is :mod:`._proxyplan`'s; this module only reads the
sockets, keeps the time and makes the kernel calls. What it drops is counted
by reason (:meth:`Proxy.counters`).

Past 400 lines as one concept: the proxy's driver ties its queriers, its
upstream memberships and its forwarding planes to one plan; each part's logic is
in its own module.
"""

from __future__ import annotations

import collections
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from .._errors import KernelRefused, McastBadInput, McastError
from ..membership._membercalls import change, set_msfilter
from ..membership._membership import Call, Filter, GroupKey, Mode
from ..querier._querier import Action, Event, Querier
from ..querier._querying import Link, queriers_for, run_queriers
from ..querier._routertable import GroupState, IPAddress, Timers
from ._kernelplane import KernelPlane
from ._mroutes import Plan, Route, plan
from ._planes import choose, open_plane
from ._proxyplan import (
    Flows,
    Tables,
    fingerprint,
    upstream,
    upstream_of,
    widen,
)
from ._routing import interfaces
from ._userplane import UserspacePlane

RECONCILE_EVERY = 0.5  # seconds: table expiries have no event of their own
FULL_EVERY = 5.0  # seconds between two reconciles that change nothing (flows expire)
AGE_EVERY = 60.0  # seconds between two looks at the kernel's per-entry counters
MAX_MSF = {4: "/proc/sys/net/ipv4/igmp_max_msf", 6: "/proc/sys/net/ipv6/mld_max_msf"}


@dataclass(frozen=True)
class ProxyConfig:
    upstream: str
    downstream: tuple[str, ...]
    igmp_version: int | None = 3  # None: no IGMP
    mld_version: int | None = 2  # None: no MLD
    timers: Timers = field(default_factory=Timers)
    plane: str = "auto"  # auto, kernel, ebpf, userspace (:func:`._planes.choose`)


def check_config(config: ProxyConfig) -> dict[str, int]:
    """The interfaces' indexes, or a one-line McastBadInput."""
    if not config.downstream:
        raise McastBadInput("a proxy needs at least one downstream interface")
    if config.upstream in config.downstream:
        raise McastBadInput(f"{config.upstream} is both the upstream and a downstream interface")
    if len(set(config.downstream)) != len(config.downstream):
        raise McastBadInput("a downstream interface is named twice")
    if not (config.igmp_version or config.mld_version):
        raise McastBadInput("with neither IGMP nor MLD there is nothing to proxy")
    here = interfaces()
    for name in (config.upstream, *config.downstream):
        if name not in here:
            raise McastBadInput(f"no interface {name} here")
        if not here[name][1]:
            raise McastBadInput(f"{name} cannot carry multicast (no MULTICAST flag)")
    return {name: index for name, (index, _) in here.items()}


@dataclass(frozen=True)
class Happening:
    """What the proxy did, as ``mcast proxy`` prints it."""

    kind: str  # "join", "filter", "leave", "route", "unroute", "refused"
    text: str
    detail: dict[str, object]


class Proxy:
    """``mcast proxy``: an IGMP/MLD proxy (RFC 4605) that answers hosts on its
    downstream links as a querier and forwards their groups from upstream; each
    thing it does or refuses goes to ``report`` as a :class:`Happening`."""

    def __init__(self, config: ProxyConfig, report: Callable[[Happening], None]) -> None:
        self.config = config
        self.report = report
        self.indexes = check_config(config)
        self.flows = Flows(config.upstream, config.downstream)
        self.links: dict[str, Link] = {}
        self.queriers: dict[str, list[Querier]] = {}
        self.planes: dict[int, KernelPlane | UserspacePlane] = {}
        self.applied = Plan()
        self.families: tuple[int, ...] = ()
        self.joined: dict[IPAddress, tuple[socket.socket | None, Filter]] = {}
        self.max_sources = {family: _read_int(path, 10) for family, path in MAX_MSF.items()}
        self.counts: collections.Counter[str] = collections.Counter()
        self.dropped: collections.Counter[str] = collections.Counter()
        self.changed = trio.Event()
        self.slots: tuple[tuple[int, str], ...] = ()
        self.slot_names: dict[tuple[int, int], str] = {}
        self._mark: tuple[object, int] | None = None
        self._full_at = float("-inf")

    # -- setting up and tearing down --

    def open(self, now: float) -> None:
        """Open the downstream links and the routing sockets (needs CAP_NET_ADMIN
        and CAP_NET_RAW); everything opened is closed again if a step fails."""
        _raise_file_limit()  # a socket per upstream group
        try:
            families = set()
            for name in self.config.downstream:
                link = self.links[name] = Link.open(name)
                found = queriers_for(link, igmp_version=self.config.igmp_version,
                                     mld_version=self.config.mld_version,
                                     timers=self.config.timers, now=now)  # fmt: skip
                self.queriers[name] = found
                families |= {q.config.address.version for q in found}
            self.families = tuple(sorted(families))
            for family in self.families:
                kind = choose(self.config.plane, family, "mcast proxy")
                # Every routable group passes the userspace plane's filter: an unknown
                # one is a miss, which becomes a flow, as the kernel's upcall does.
                self.planes[family] = open_plane(kind, family, self._miss, filter_groups=False,
                                                 wanted=self.config.plane)  # fmt: skip
            names = (self.config.upstream, *self.config.downstream)
            self.slots = tuple((f, n) for f in self.families for n in names)
            # The slots, before any datagram is asked about.
            self._install(plan([], self.indexes, interfaces=self.slots))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Leave upstream, and drop every entry and slot with the routing sockets."""
        for sock, _ in self.joined.values():
            if sock is not None:
                sock.close()
        self.joined.clear()
        for plane in self.planes.values():
            plane.close()  # the kernel drops the entries and slots with its socket
        self.planes.clear()
        for link in self.links.values():
            link.close()
        self.links.clear()

    # -- running --

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for name, link in self.links.items():
                nursery.start_soon(run_queriers, link, self.queriers[name], self._heard)
            for plane in self.planes.values():
                nursery.start_soon(plane.run)
            nursery.start_soon(self._age)
            while True:
                with trio.move_on_after(RECONCILE_EVERY):
                    await self.changed.wait()
                self.changed = trio.Event()
                self.reconcile(trio.current_time())

    def _heard(self, querier: Querier, action: Action) -> None:
        """A report may change its groups' subscriptions: they are brought up to date
        at once (the time from a report to the first forwarded datagram is what a
        member waits), and only they (a flood of reports must not cost a whole
        reconcile each)."""
        if isinstance(action, Event) and action.kind == "report":
            named = action.detail.get("groups", [])
            assert isinstance(named, list)
            self._groups_changed([ipaddress.ip_address(g) for g in named], trio.current_time())

    def _miss(self, family: int, source: IPAddress, group: IPAddress, slot: int) -> None:
        """A plane's datagram with no entry (the kernel's upcall): a new flow's entry
        is installed at once, and the datagram goes (the kernel holds it until then;
        the userspace plane forwards it again)."""
        self.counts["upcalls"] += 1
        name = self.slot_names.get((family, slot))
        if name is None:
            self.dropped["upcall from an unknown slot"] += 1
            return
        now = trio.current_time()
        if self.flows.upcall(source, group, name, now) is not None:
            return
        self._install_flow((source, group), now)

    async def _age(self) -> None:
        while True:
            await trio.sleep(AGE_EVERY)
            packets = {key: c.packets for plane in self.planes.values()
                       for key, c in plane.counters().items()}  # fmt: skip
            if self.flows.age(packets):
                self.changed.set()

    # -- the places the kernel is changed --

    def tables(self, now: float) -> Tables:
        """Each downstream interface's groups (IGMP's and MLD's), timers run to ``now``."""
        out: dict[str, dict[IPAddress, GroupState]] = {}
        for name, queriers in self.queriers.items():
            merged: dict[IPAddress, GroupState] = {}
            for querier in queriers:
                querier.table.expire(now)  # the querier's own loop expires only when it wakes
                merged.update(querier.table.groups)
            out[name] = merged
        return out

    def _install_flow(self, key: tuple[IPAddress, IPAddress], now: float) -> None:
        """A new flow's entry, one kernel call (a flood of them must not cost a whole
        reconcile each); the entries of flows evicted to make room go first."""
        for source, group in self.flows.take_evicted():
            self._put(Route(str(group), str(source), "", ()), remove=True)
        route = self.flows.decide(key, self.tables(now), now)
        if route is not None:
            # Written even when we hold it as installed: an upcall says the kernel
            # has no entry, and the datagram waits until it has one.
            self._put(route, again=True)

    def _groups_changed(self, groups: list[IPAddress], now: float) -> None:
        """Bring these groups' entries and upstream memberships up to date."""
        tables = self.tables(now)
        for group in groups:
            if group.version not in self.families:
                continue
            for key in self.flows.of_group(group):
                route = self.flows.decide(key, tables, now)
                if route is None:
                    self._put(Route(str(group), str(key[0]), "", ()), remove=True)
                else:
                    self._put(route)
        for group in groups:
            if group.version not in self.families:
                continue
            merged = upstream_of(tables, group)
            if merged is not None:
                self._subscribe(group, merged)
            elif group in self.joined:
                self._leave(group)

    def _put(self, route: Route, *, remove: bool = False, again: bool = False) -> None:
        """Install, replace or remove one route's entry, as one kernel call. What a
        peer's datagram or report asks for must not end the proxy: a refusal is
        counted, and the next reconcile tries again."""
        try:
            self._put_now(route, remove=remove, again=again)
        except McastError as exc:
            self.dropped["entry refused by the kernel"] += 1
            self.report(Happening("refused", str(exc), {"source": route.source,
                                                       "group": route.group}))  # fmt: skip

    def _put_now(self, route: Route, *, remove: bool, again: bool) -> None:
        key: tuple[int, str | None, str] = (route.family, route.source, route.group)
        held = self.applied.entries.get(key)
        if remove:
            if held is not None:
                self._move(Plan(self.applied.slots, {key: held}), Plan(self.applied.slots))
                del self.applied.entries[key]
                self.counts["entries removed"] += 1
                self.report(Happening("unroute", f"({route.source}, {route.group}) removed",
                                      {"source": route.source, "group": route.group}))  # fmt: skip
            return
        entry = plan([route], self.indexes, keep=self.applied, interfaces=self.slots).entries[key]
        if held == entry and not again:
            return
        self._move(Plan(self.applied.slots), Plan(self.applied.slots, {key: entry}))
        self.applied.entries[key] = entry
        self._said_route(route)

    def reconcile(self, now: float) -> None:
        """Take the forwarding entries and the upstream memberships to what the
        downstream tables and the flows want now. It does the work only when the
        subscriptions or the flows changed, or every FULL_EVERY seconds."""
        tables = self.tables(now)
        mark = (fingerprint(tables), self.flows.version)
        if mark == self._mark and now - self._full_at < FULL_EVERY:
            return
        routes = {(r.family, r.source, r.group): r for r in self.flows.routes(tables, now)}
        self._mark, self._full_at = (mark[0], self.flows.version), now
        new = plan(list(routes.values()), self.indexes, keep=self.applied,
                   interfaces=self.slots)  # fmt: skip
        before = self.applied
        try:
            self._move(before, new)
        except McastError as exc:  # counted; the next round starts again from what held
            self.dropped["entry refused by the kernel"] += 1
            self.report(Happening("refused", str(exc), {}))
            self._mark = None
            return
        self.applied = new
        for key, entry in new.entries.items():
            if before.entries.get(key) != entry:
                self._said_route(routes[key])
        for key, entry in before.entries.items():
            if key not in new.entries:
                self.counts["entries removed"] += 1
                self.report(Happening("unroute", f"({entry.source}, {entry.group}) removed",
                                      {"source": entry.source, "group": entry.group}))  # fmt: skip
        # Then upstream: forwarding what already arrives comes first.
        wanted = {g: f for g, f in upstream(tables).items() if g.version in self.families}
        for group in [g for g in self.joined if g not in wanted]:
            self._leave(group)
        for group, merged in sorted(wanted.items(), key=lambda item: (item[0].version, item[0])):
            self._subscribe(group, merged)

    def _said_route(self, route: Route) -> None:
        outs = [name for name, _ in route.outbound]
        self.counts["entries installed"] += 1
        self.report(Happening("route", f"({route.source}, {route.group}) from {route.inbound} "
                              f"to {', '.join(outs) or 'nowhere'}",
                              {"source": route.source, "group": route.group,
                               "inbound": route.inbound, "outbound": outs}))  # fmt: skip

    def _move(self, old: Plan, new: Plan) -> None:
        for plane in self.planes.values():
            plane.move(old, new)

    def _install(self, new: Plan) -> None:
        self._move(self.applied, new)
        self.applied = new
        self.slot_names = {(s.family, s.number): s.name for s in new.slots.values()}

    def _subscribe(self, group: IPAddress, merged: Filter) -> None:
        asked = widen(merged, self.max_sources[group.version])
        held = self.joined.get(group)
        if held is not None and held[1] == asked:
            return
        key = GroupKey(group, self.indexes[self.config.upstream])
        sock = held[0] if held else None
        try:
            if sock is None:
                family = socket.AF_INET if group.version == 4 else socket.AF_INET6
                sock = socket.socket(family, socket.SOCK_DGRAM)
                if asked.mode is Mode.INCLUDE:
                    change(sock, Call.JOIN_SOURCE, key, min(asked.sources, key=int))
                else:
                    change(sock, Call.JOIN, key, None)
            set_msfilter(sock, key, asked.mode, asked.sources)
        except (OSError, KernelRefused) as exc:
            if sock is not None and held is None:
                sock.close()
            # Kept as asked, so that the same refusal is not asked for again every
            # round; a change of the downstream tables asks afresh.
            self.joined[group] = (held[0] if held else None, asked)
            self.dropped["upstream join refused"] += 1
            self.report(Happening("refused", f"joining {group} upstream ({asked.describe()}) "
                                  f"was refused: {exc}", {"group": str(group)}))  # fmt: skip
            return
        self.joined[group] = (sock, asked)
        kind = "filter" if held else "join"
        widened = " (widened: more sources than a filter holds)" if asked != merged else ""
        self.report(Happening(kind, f"{group} upstream on {self.config.upstream}: "
                              f"{asked.describe()}{widened}",
                              {"group": str(group), "mode": asked.mode.value,
                               "sources": sorted(str(s) for s in asked.sources)}))  # fmt: skip

    def _leave(self, group: IPAddress) -> None:
        sock, _ = self.joined.pop(group)
        if sock is not None:
            sock.close()  # the kernel leaves the group with the socket
        self.report(Happening("leave", f"{group} upstream: no member left downstream",
                              {"group": str(group)}))  # fmt: skip

    def counters(self) -> dict[str, object]:
        dropped = self.dropped + collections.Counter(self.flows.dropped)
        for plane in self.planes.values():
            dropped.update(plane.status()["dropped"])
        downstream = {
            name: {q.config.protocol: {"groups": len(q.table.groups),
                                       "refused": dict(q.table.refused)} for q in queriers}
            for name, queriers in self.queriers.items()
        }  # fmt: skip
        planes = {f"IPv{f}": p.name for f, p in sorted(self.planes.items())}
        forwarded = sum(p.status()["forwarded"] for p in self.planes.values()
                        if isinstance(p, UserspacePlane))  # fmt: skip
        return {
            "planes": planes,
            **({"forwarded": forwarded} if set(planes.values()) - {"kernel"} else {}),
            "groups upstream": sum(1 for s, _ in self.joined.values() if s is not None),
            "flows": len(self.flows.flows),
            "flows evicted": self.flows.evicted,
            **dict(sorted(self.counts.items())),
            "dropped": dict(sorted(dropped.items())),
            "downstream": downstream,
        }


def _raise_file_limit(wanted: int = 8192) -> None:
    """Let this process hold a socket for each group it joins upstream (a table's
    1,024 groups of each family, and more): the soft limit up to ``wanted``."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def _read_int(path: str, default: int) -> int:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


async def run_proxy(config: ProxyConfig, report: Callable[[Happening], None],
                    started: Callable[[Proxy], None] | None = None) -> None:  # fmt: skip
    """Run a proxy until cancelled; everything it holds is let go however it ends."""
    proxy = Proxy(config, report)
    proxy.open(trio.current_time())
    try:
        if started is not None:
            started(proxy)
        await proxy.run()
    finally:
        proxy.close()
