"""Carries :mod:`ipv6._kernelops` out on the kernel: netlink through pyroute2,
sysctls through /proc/sys, in the calling thread's network namespace.

:meth:`Netlink.apply` makes one change and returns the operations that undo
it, read from the kernel before the change (the old address, route,
neighbour entry, sysctl value or MTU). Labs, netsh and the tunnel commands
all change the kernel through this one class; each decides what to do with
the inverses (netsh keeps them for its transaction; a lab removes its
namespaces instead).

A refusal the kernel gives comes back as ``OSError`` with its errno (pyroute2's
``NetlinkError`` is translated); a change that cannot be made for a reason
known before asking (nothing to delete, a setting this kernel lacks) as
:class:`KernelOpFailed`.

Past 400 lines as one concept: every kernel operation's do and the read of its
inverse, side by side, so that an operation and its undo cannot drift apart.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
from typing import Any

from ._errors import Ipv6Error
from ._kernelops import (
    INFINITE,
    ROUTE_KINDS,
    AddAddress,
    AddBridge,
    AddNeighbor,
    AddProxyNeighbor,
    AddRoute,
    AddSitLink,
    AddVeth,
    AttachTcProgram,
    DeleteAddress,
    DeleteLink,
    DeleteNeighbor,
    DeleteProxyNeighbor,
    DeleteRoute,
    DeleteTcHook,
    DetachTcProgram,
    FlushDestinations,
    Interface,
    KernelOp,
    SetBridgePortRouter,
    SetLinkMaster,
    SetLinkMtu,
    SetLinkState,
    WriteSysctl,
    tunnel_next_hop,
)
from ._procsys import read_sysctl, write_sysctl

IFA_F_NODAD = 0x02
IFF_UP = 0x1
IFA_F_PERMANENT = 0x80
NUD_PERMANENT = 0x80
NTF_PROXY = 0x08  # a proxy entry (pneigh): the kernel answers solicitations for it
RTN_ANYCAST = 4
RT_TABLE_MAIN, RT_TABLE_LOCAL = 254, 255
RTNH_F_ONLINK = 4  # a next hop taken as on the link, unchecked (linux/rtnetlink.h)
RTPROT_MANUAL = (3, 4)  # boot, static: routes added by hand


class KernelOpFailed(Ipv6Error):
    """A change that cannot be made: nothing to delete, a setting this kernel lacks."""


class AlreadyThere(KernelOpFailed):
    """An addition of what the interface already has (an address)."""


def family_of(address: object) -> int:
    return socket.AF_INET if getattr(address, "version", 6) == 4 else socket.AF_INET6


def route_expires(msg: Any) -> int | None:
    """Seconds until a route expires (the kernel reports it in RTA_CACHEINFO, in 1/100 s)."""
    left = (msg.get_attr("RTA_CACHEINFO") or {}).get("rta_expires", 0)
    return int(left) // 100 or None


class Netlink:
    """Applies kernel operations and returns their inverses; one netlink handle.

    The handle is opened on first use (importing pyroute2 costs 150 ms, which a
    caller that never needs it, such as a script of pipelined additions, should
    not pay), or given (a lab's handle opened inside a namespace)."""

    def __init__(self, ipr: Any = None) -> None:
        self._ipr = ipr
        self._owned = ipr is None

    @property
    def ipr(self) -> Any:
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None and self._owned:
            self._ipr.close()
            self._ipr = None

    def apply(self, op: KernelOp) -> list[KernelOp]:
        """Make the change; the operations that undo it, in the order to apply them."""
        from pyroute2.netlink.exceptions import NetlinkError

        handler = getattr(self, "_" + type(op).__name__)
        try:
            result: list[KernelOp] = handler(op)
        except NetlinkError as exc:  # callers see the errno, as from any system call
            raise OSError(exc.code, os.strerror(exc.code)) from None
        return result

    def index(self, interface: Interface) -> int:
        """An interface's index; a name is looked up now."""
        if isinstance(interface, int):
            return interface
        found = self.ipr.link_lookup(ifname=interface)
        if not found:
            raise KernelOpFailed(f"there is no interface {interface}")
        return int(found[0])

    # -- addresses --

    def _find_address(self, ifindex: int, address: Any) -> Any:
        for msg in self.ipr.get_addr(family=family_of(address.ip), index=ifindex):
            if str(address.ip) in (msg.get_attr("IFA_ADDRESS"), msg.get_attr("IFA_LOCAL")):
                return msg
        return None

    def _AddAddress(self, op: AddAddress) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        if op.anycast:
            return self._anycast(op, ifindex)
        existing = self._find_address(ifindex, op.address)
        if op.replace and existing is None:
            raise KernelOpFailed(f"there is no address {op.address.ip} to set")
        if not op.replace and existing is not None:
            raise AlreadyThere(f"the address {op.address.ip} is already there")
        extra: dict[str, Any] = {}
        if op.valid != INFINITE or op.preferred != INFINITE or op.replace:
            extra["IFA_CACHEINFO"] = {"ifa_valid": op.valid, "ifa_preferred": op.preferred}
        if not op.dad and op.address.version == 6:
            extra["flags"] = IFA_F_NODAD
        if op.broadcast and op.address.version == 4 and op.address.network.prefixlen < 31:
            extra["broadcast"] = str(op.address.network.broadcast_address)
        command = "replace" if op.replace else "add"
        if op.replace and op.valid != INFINITE and _permanent(existing):
            # Linux (6.18 measured) gives a permanent address's prefix route a bogus,
            # passed expiry when a replace makes the address finite: the subnet goes
            # unreachable. Taken away and added again, it gets a route that expires
            # with it.
            if existing.get_attr("IFA_FLAGS", existing["flags"]) & IFA_F_NODAD:
                extra["flags"] = IFA_F_NODAD
            self.ipr.addr("del", index=ifindex, address=str(op.address.ip),
                          prefixlen=existing["prefixlen"])  # fmt: skip
            command = "add"
        self.ipr.addr(
            command,
            index=ifindex,
            address=str(op.address.ip),
            prefixlen=op.address.network.prefixlen,
            **extra,
        )
        if existing is None:
            return [DeleteAddress(ifindex, op.address)]
        return [self._address_back(ifindex, existing, replace=True)]

    def _address_back(self, ifindex: int, msg: Any, *, replace: bool) -> AddAddress:
        info = msg.get_attr("IFA_CACHEINFO") or {}
        address = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        valid = info.get("ifa_valid", INFINITE)
        return AddAddress(
            ifindex, address, valid, min(info.get("ifa_preferred", valid), valid), replace=replace
        )

    def _anycast(self, op: AddAddress, ifindex: int) -> list[KernelOp]:
        # Linux answers for an anycast address it holds as a local-table anycast route.
        prefix = ipaddress.ip_network(f"{op.address.ip}/{op.address.max_prefixlen}")
        self.ipr.route(
            "add",
            family=family_of(op.address.ip),
            dst=str(prefix.network_address),
            dst_len=prefix.prefixlen,
            oif=ifindex,
            type=RTN_ANYCAST,
            table=RT_TABLE_LOCAL,
        )
        return [DeleteRoute(prefix, ifindex, None, None)]

    def _DeleteAddress(self, op: DeleteAddress) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        existing = self._find_address(ifindex, op.address)
        if existing is None:
            host = ipaddress.ip_network(f"{op.address.ip}/{op.address.max_prefixlen}")
            if self._find_route(host, ifindex) is not None:  # an anycast address
                return self._DeleteRoute(DeleteRoute(host, ifindex))
            raise KernelOpFailed(f"there is no address {op.address.ip} on that interface")
        self.ipr.addr(
            "del", index=ifindex, address=str(op.address.ip), prefixlen=existing["prefixlen"]
        )
        return [self._address_back(ifindex, existing, replace=False)]

    # -- routes --

    def _find_route(
        self, prefix: Any, ifindex: int | None, gateway: Any = None, table: int | None = None
    ) -> Any:
        """The route meant: one added by hand before the kernel's own (an address's
        prefix route can share the prefix of a route added by hand)."""
        found = []
        for each in (table,) if table is not None else (RT_TABLE_MAIN, RT_TABLE_LOCAL):
            for msg in self.ipr.get_routes(family=family_of(prefix.network_address), table=each):
                dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if prefix.version == 4 else "::")
                if (dst, msg["dst_len"]) != (str(prefix.network_address), prefix.prefixlen):
                    continue
                if msg.get_attr("RTA_OIF") != ifindex:
                    continue
                if gateway is not None and msg.get_attr("RTA_GATEWAY") != str(gateway):
                    continue
                found.append(msg)
        manual = [m for m in found if m["proto"] in RTPROT_MANUAL]
        return (manual or found or [None])[0]

    def _route_back(self, prefix: Any, ifindex: int | None, msg: Any) -> AddRoute:
        gateway = msg.get_attr("RTA_GATEWAY")
        source = msg.get_attr("RTA_PREFSRC")
        table = msg.get_attr("RTA_TABLE") or msg["table"]
        kinds = {number: name for name, number in ROUTE_KINDS.items()}
        return AddRoute(
            prefix,
            ifindex,
            ipaddress.ip_address(gateway) if gateway else None,
            msg.get_attr("RTA_PRIORITY"),
            route_expires(msg),
            table=None if table == RT_TABLE_MAIN else table,
            kind=kinds.get(msg["type"], "unicast"),
            source=ipaddress.ip_address(source) if source else None,
        )

    def _route_args(self, op: AddRoute | DeleteRoute, ifindex: int | None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "family": family_of(op.prefix.network_address),
            "dst": str(op.prefix.network_address),
            "dst_len": op.prefix.prefixlen,
        }
        if ifindex is not None:
            args["oif"] = ifindex
        if op.gateway is not None:
            args["gateway"] = str(op.gateway)
        if op.metric is not None:
            args["priority"] = op.metric
        if isinstance(op, AddRoute):
            if tunnel_next_hop(op.gateway):
                args["flags"] = RTNH_F_ONLINK
            if op.kind != "unicast":
                args["type"] = ROUTE_KINDS[op.kind]
            if op.table is not None:
                args["table"] = op.table
            if op.source is not None:
                args["prefsrc"] = str(op.source)
            if op.expires:
                args["RTA_EXPIRES"] = struct.pack("=I", op.expires)  # pyroute2 keeps it raw
        return args

    def _AddRoute(self, op: AddRoute) -> list[KernelOp]:
        ifindex = None if op.interface is None else self.index(op.interface)
        existing = self._find_route(op.prefix, ifindex, table=op.table)
        if op.replace and existing is None:
            raise KernelOpFailed(f"there is no route {op.prefix} on that interface to set")
        if op.replace and existing is not None:
            self._delete_route_msg(existing)
        try:
            self.ipr.route("add", **self._route_args(op, ifindex))
        except BaseException:
            if op.replace and existing is not None:  # put the old one back before failing
                with contextlib.suppress(Exception):  # the first error is the one to tell
                    old = self._route_back(op.prefix, ifindex, existing)
                    self.ipr.route("add", **self._route_args(old, ifindex))
            raise
        back: list[KernelOp] = [DeleteRoute(op.prefix, ifindex, op.gateway, op.metric)]
        if existing is not None:
            back.append(self._route_back(op.prefix, ifindex, existing))
        return back

    def _delete_route_msg(self, msg: Any) -> None:
        self.ipr.route(
            "del",
            family=msg["family"],
            dst=msg.get_attr("RTA_DST"),
            dst_len=msg["dst_len"],
            oif=msg.get_attr("RTA_OIF"),
            table=msg.get_attr("RTA_TABLE") or msg["table"],
            type=msg["type"],
            priority=msg.get_attr("RTA_PRIORITY"),
            **({"gateway": msg.get_attr("RTA_GATEWAY")} if msg.get_attr("RTA_GATEWAY") else {}),
        )

    def _DeleteRoute(self, op: DeleteRoute) -> list[KernelOp]:
        ifindex = None if op.interface is None else self.index(op.interface)
        existing = self._find_route(op.prefix, ifindex, op.gateway)
        if existing is None:
            raise KernelOpFailed(f"there is no route {op.prefix} on that interface")
        self._delete_route_msg(existing)
        if existing["type"] == RTN_ANYCAST and ifindex is not None:
            return [AddAddress(ifindex, ipaddress.ip_interface(str(op.prefix)), anycast=True)]
        return [self._route_back(op.prefix, ifindex, existing)]

    # -- neighbours --

    def _neighbors(self, ifindex: int, address: Any = None) -> list[Any]:
        found = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.ipr.get_neighbours(family=family, ifindex=ifindex):
                if not msg["state"] & NUD_PERMANENT:
                    continue
                if address is not None and msg.get_attr("NDA_DST") != str(address):
                    continue
                found.append(msg)
        return found

    def _AddNeighbor(self, op: AddNeighbor) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        before = self._neighbors(ifindex, op.address)
        self.ipr.neigh(
            "replace",
            dst=str(op.address),
            lladdr=op.lladdr,
            ifindex=ifindex,
            state=NUD_PERMANENT,
            family=family_of(op.address),
        )
        if before:
            return [AddNeighbor(ifindex, op.address, before[0].get_attr("NDA_LLADDR"))]
        return [DeleteNeighbor(ifindex, op.address)]

    def _DeleteNeighbor(self, op: DeleteNeighbor) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        back: list[KernelOp] = []
        for msg in self._neighbors(ifindex, op.address):
            dst = msg.get_attr("NDA_DST")
            self.ipr.neigh("del", dst=dst, ifindex=ifindex, family=msg["family"])
            back.append(AddNeighbor(ifindex, ipaddress.ip_address(dst), msg.get_attr("NDA_LLADDR")))
        if op.address is not None and not back:
            raise KernelOpFailed(f"there is no neighbor entry for {op.address}")
        return back

    def _AddProxyNeighbor(self, op: AddProxyNeighbor) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        self.ipr.neigh(
            "add", dst=str(op.address), ifindex=ifindex, flags=NTF_PROXY,
            family=family_of(op.address),
        )  # fmt: skip
        return [DeleteProxyNeighbor(ifindex, op.address)]

    def _DeleteProxyNeighbor(self, op: DeleteProxyNeighbor) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        self.ipr.neigh(
            "del", dst=str(op.address), ifindex=ifindex, flags=NTF_PROXY,
            family=family_of(op.address),
        )  # fmt: skip
        return [AddProxyNeighbor(ifindex, op.address)]

    # -- settings and links --

    def _FlushDestinations(self, op: FlushDestinations) -> list[KernelOp]:
        write_sysctl(f"net/{'ipv6' if op.family == 'ipv6' else 'ipv4'}/route/flush", "1")
        return []

    def _WriteSysctl(self, op: WriteSysctl) -> list[KernelOp]:
        old = read_sysctl(op.path, default="\0")  # NUL: no such setting here
        if old == "\0":
            raise KernelOpFailed(f"this kernel has no {op.path.replace('/', '.')}")
        write_sysctl(op.path, op.value)
        return [WriteSysctl(op.path, old)]

    def _SetLinkMtu(self, op: SetLinkMtu) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        (link,) = self.ipr.get_links(ifindex)
        old = link.get_attr("IFLA_MTU")
        self.ipr.link("set", index=ifindex, mtu=op.mtu)
        return [SetLinkMtu(ifindex, old)]

    def _AttachTcProgram(self, op: AttachTcProgram) -> list[KernelOp]:
        from pyroute2.netlink.exceptions import NetlinkError

        ifindex = self.index(op.interface)
        made: list[KernelOp] = []
        try:
            self.ipr.tc("add", "clsact", ifindex)
            made = [DeleteTcHook(ifindex)]
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        parent = "ffff:fff3" if op.egress else "ffff:fff2"
        extra = {"prio": op.priority} if op.priority else {}
        self.ipr.tc("add-filter", "bpf", ifindex, ":1", fd=op.fd, name=op.name, parent=parent,
                    classid=1, direct_action=True, **extra)  # fmt: skip
        if op.priority:  # only this program goes back: another's on the same hook stay
            return [DetachTcProgram(ifindex, op.egress, op.priority)]
        return made

    def _DetachTcProgram(self, op: DetachTcProgram) -> list[KernelOp]:
        parent = "ffff:fff3" if op.egress else "ffff:fff2"
        self.ipr.tc("del-filter", "bpf", self.index(op.interface), ":1", parent=parent,
                    prio=op.priority)  # fmt: skip
        return []

    def tc_programs(self, index: int, *, egress: bool, prefix: str) -> set[DetachTcProgram]:
        """What detaches each tc program whose name starts with ``prefix`` on
        interface ``index``'s hook (none when it has no clsact hook)."""
        from pyroute2.netlink.exceptions import NetlinkError

        found: set[DetachTcProgram] = set()
        try:
            messages = self.ipr.get_filters(index, parent="ffff:fff3" if egress else "ffff:fff2")
        except NetlinkError:  # no clsact hook there: nothing on it
            return found
        for msg in messages:
            options = msg.get_attr("TCA_OPTIONS")
            name = options.get_attr("TCA_BPF_NAME") if options is not None else None
            if msg.get_attr("TCA_KIND") == "bpf" and str(name or "").startswith(prefix):
                found.add(DetachTcProgram(index, egress, msg["info"] >> 16))
        return found

    def _DeleteTcHook(self, op: DeleteTcHook) -> list[KernelOp]:
        self.ipr.tc("del", "clsact", self.index(op.interface))
        return []

    def _AddSitLink(self, op: AddSitLink) -> list[KernelOp]:
        sixrd = {}
        if op.sixrd is not None:
            prefix, length, relay, relay_length = op.sixrd
            sixrd = {
                "sit_6rd_prefix": prefix, "sit_6rd_prefixlen": length,
                "sit_6rd_relay_prefix": relay, "sit_6rd_relay_prefixlen": relay_length,
            }  # fmt: skip
        self.ipr.link("add", ifname=op.name, kind="sit", sit_local=op.local,
                      sit_remote=op.remote, sit_ttl=0, sit_pmtudisc=0, **sixrd)  # fmt: skip
        return [DeleteLink(op.name)]

    def _AddBridge(self, op: AddBridge) -> list[KernelOp]:
        self.ipr.link("add", ifname=op.name, kind="bridge", br_mcast_snooping=int(op.snooping),
                      br_mcast_querier=int(op.querier))  # fmt: skip
        return [DeleteLink(op.name)]

    def _AddVeth(self, op: AddVeth) -> list[KernelOp]:
        peer: dict[str, Any] = {"ifname": op.peer, "net_ns_fd": op.peer_netns_fd}
        if op.peer_mac:
            peer["address"] = op.peer_mac
        extra = {"address": op.mac} if op.mac else {}
        self.ipr.link("add", ifname=op.name, kind="veth", peer=peer, **extra)
        return [DeleteLink(op.name)]  # its peer goes with it

    def _SetLinkMaster(self, op: SetLinkMaster) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        (link,) = self.ipr.get_links(ifindex)
        old = link.get_attr("IFLA_MASTER")
        master = 0 if op.master is None else self.index(op.master)
        self.ipr.link("set", index=ifindex, master=master)
        return [SetLinkMaster(ifindex, old or None)]

    def _SetBridgePortRouter(self, op: SetBridgePortRouter) -> list[KernelOp]:
        self.ipr.brport("set", index=self.index(op.interface), multicast_router=op.mode)
        return []  # a lab's port: it goes with its bridge

    def _DeleteLink(self, op: DeleteLink) -> list[KernelOp]:
        """The link goes; nothing undoes that (a caller that can, makes it again)."""
        self.ipr.link("del", index=self.index(op.interface))
        return []

    def _SetLinkState(self, op: SetLinkState) -> list[KernelOp]:
        ifindex = self.index(op.interface)
        (link,) = self.ipr.get_links(ifindex)
        self.ipr.link("set", index=ifindex, state="up" if op.up else "down")
        return [SetLinkState(ifindex, bool(link["flags"] & IFF_UP))]


def _permanent(msg: Any) -> bool:
    """Whether an address message is of a permanent (manually added, no lifetime) one."""
    return bool(msg.get_attr("IFA_FLAGS", msg["flags"]) & IFA_F_PERMANENT)
