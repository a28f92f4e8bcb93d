"""The sending side of ``set interface IF advertise=enabled``: one small daemon per interface.

netsh starts it (``python -m ipv6.netsh._advertiser IF``) in the namespace
it configures and stops it with SIGTERM. Before every advertisement it reads
the kernel and netsh's state again, so a route published later is in the
next one. It sends while the interface forwards and advertising is on:
three quick advertisements first (RFC 4861 6.2.4), then every 200 to 600
seconds, and one in answer to each router solicitation, sent straight back
to the soliciting host. On SIGTERM it sends a last advertisement with router
lifetime 0 (RFC 4861 6.2.5) and exits; it also exits when its interface goes.
Like Windows, the advertising interface autoconfigures addresses from the /64
prefixes it advertises.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import ipaddress
import random
import signal
import socket
import struct
import sys
from ipaddress import IPv6Interface
from typing import Any

import trio

from .. import _daemon
from .._ancillary import SO_RXQ_OVFL, drop_count
from .._derive import eui64_address
from .._errors import Ipv6Error
from .._netlink import RTPROT_MANUAL, route_expires
from .._procsys import read_sysctl
from .._ra import (
    INFINITE,
    ROUTER_SOLICITATION,
    Advertisement,
    DnsServers,
    Pref64,
    Published,
    encode_advertisement,
    plan_advertisement,
    solicitation_fault,
)
from .._result import counts_text
from ._store import load_state

ALL_NODES = "ff02::1"
ALL_ROUTERS = "ff02::2"
ICMP6_FILTER = 1
INITIAL_INTERVAL = 4.0  # seconds between the first three (at most 16, RFC 4861)
MIN_INTERVAL, MAX_INTERVAL = 200.0, 600.0


def published_routes(
    ipr: object, ifindex: int, ifname: str, memory: dict[str, Any]
) -> list[Published]:
    """Routes netsh published (publish=yes non-aging, age counting down), on any interface.

    As on Windows, a router advertises on each link the published routes of
    all its interfaces: those on the link itself as its prefixes, those through
    other interfaces (a default route into a tunnel, say) as routes through
    this router. Only a route on this link can be on-link here.
    """
    found = []
    for msg in ipr.get_routes(family=socket.AF_INET6, table=254):  # type: ignore[attr-defined]
        if msg["proto"] not in RTPROT_MANUAL:
            continue  # the kernel's own prefix routes are not netsh's to publish
        oif = msg.get_attr("RTA_OIF")
        try:
            route_ifname = ifname if oif == ifindex else socket.if_indextoname(oif)
        except (OSError, TypeError):
            continue
        dst = msg.get_attr("RTA_DST") or "::"
        prefix = ipaddress.IPv6Network(f"{dst}/{msg['dst_len']}")
        kept = memory.get(f"route/{prefix}/{route_ifname}") or {}
        publish = kept.get("publish", "no")
        if publish == "no":
            continue
        valid = int(kept.get("validlifetime", INFINITE))
        preferred = int(kept.get("preferredlifetime", valid))
        if publish == "age":
            left = route_expires(msg)
            if left:  # the advertised lifetimes count down with the route's own
                valid, preferred = left, min(preferred, left)
        found.append(
            Published(
                prefix,
                oif == ifindex and msg.get_attr("RTA_GATEWAY") is None,
                valid,
                min(preferred, valid),
                kept.get("siteprefixlength"),
            )
        )
    return found


def read_advertisement(ifname: str) -> tuple[Advertisement | None, int]:
    """What to send now (None: not advertising) and the interface index."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    state = load_state()
    memory = state["memory"]
    try:
        return _read_advertisement(IPRoute, ifname, memory)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:  # it went between the lookup and the reads
            raise LookupError(ifname) from None
        raise


def _read_advertisement(
    IPRoute: Any, ifname: str, memory: dict[str, Any]
) -> tuple[Advertisement | None, int]:
    with IPRoute() as ipr:
        links = ipr.link_lookup(ifname=ifname)
        if not links:
            raise LookupError(ifname)
        (index,) = links
        (link,) = ipr.get_links(index)
        mac = link.get_attr("IFLA_ADDRESS") or ""
        on = (
            memory.get(f"advertise/{ifname}")
            and read_sysctl(f"net/ipv6/conf/{ifname}/forwarding") == "1"
        )
        if not on:
            return None, index
        rdnss, pref64 = memory.get(f"rdnss/{ifname}"), memory.get(f"pref64/{ifname}")
        ad = plan_advertisement(
            published_routes(ipr, index, ifname, memory),
            mtu=int(read_sysctl(f"net/ipv6/conf/{ifname}/mtu", "1280")),
            lladdr=mac,
            hop_limit=int(read_sysctl(f"net/ipv6/conf/{ifname}/hop_limit", "64")),
            dns=DnsServers(
                tuple(ipaddress.IPv6Address(a) for a in rdnss["addresses"]), rdnss["lifetime"]
            )
            if rdnss
            else None,
            pref64=Pref64(ipaddress.IPv6Network(pref64["prefix"]), pref64["lifetime"])
            if pref64
            else None,
        )
        _autoconfigure(ipr, index, mac, ad)
    return ad, index


_CONFIGURED: set[tuple[int, str]] = set()  # (ifindex, address) this advertiser added


def _autoconfigure(ipr: object, index: int, mac: str, ad: Advertisement) -> None:
    """The router's own addresses from the /64 prefixes it advertises (as Windows does).

    An address already there that this advertiser did not add is the user's and stays
    as it is; the ones it added go when it stops (:func:`_unconfigure`).
    """
    from .._kernelops import AddAddress
    from .._netlink import KernelOpFailed, Netlink

    if not mac:
        return
    netlink = Netlink(ipr)  # the advertiser's handle, not closed here
    for p in ad.prefixes:
        if not p.autonomous or p.valid == 0:
            continue
        address = str(eui64_address(bytes.fromhex(mac.replace(":", "")), p.prefix))
        if (index, address) not in _CONFIGURED and ipr.get_addr(  # type: ignore[attr-defined]
            index=index, address=address
        ):
            continue
        ours = (index, address) in _CONFIGURED
        op = AddAddress(index, IPv6Interface(f"{address}/64"), valid=p.valid,
                        preferred=p.preferred, replace=ours)  # fmt: skip
        with contextlib.suppress(Ipv6Error, OSError):  # the interface went, say
            try:
                netlink.apply(op)
            except KernelOpFailed:  # ours, removed by hand since; or there after all
                netlink.apply(dataclasses.replace(op, replace=not ours))
            _CONFIGURED.add((index, address))


def _unconfigure() -> None:
    from .._kernelops import DeleteAddress
    from .._netlink import Netlink

    netlink = Netlink()
    try:
        for index, address in sorted(_CONFIGURED):
            with contextlib.suppress(Ipv6Error, OSError):  # gone with its interface, or by hand
                netlink.apply(DeleteAddress(index, IPv6Interface(f"{address}/64")))
    finally:
        netlink.close()
    _CONFIGURED.clear()


def _socket(ifname: str, index: int) -> trio.socket.SocketType:
    sock = trio.socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    group = socket.inet_pton(socket.AF_INET6, ALL_ROUTERS) + struct.pack("@I", index)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
    blocked = [0xFFFFFFFF] * 8  # Linux: a set bit blocks that ICMPv6 type
    blocked[ROUTER_SOLICITATION >> 5] &= ~(1 << (ROUTER_SOLICITATION & 31))
    sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *blocked))
    return sock


class Counters:
    """What the advertiser did and what it refused, written to its log on SIGUSR1 and at exit."""

    def __init__(self) -> None:
        self.sent = 0  # advertisements, periodic and solicited
        self.solicitations = 0
        self.answered = 0
        self.rate_limited = 0  # valid solicitations past ANSWERS_PER_SECOND
        self.kernel_dropped = 0  # solicitations the socket's full queue lost (SO_RXQ_OVFL)
        self.send_failed: collections.Counter[str] = collections.Counter()
        self.ignored: collections.Counter[str] = collections.Counter()  # invalid, by reason

    def line(self) -> str:
        ignored = counts_text(self.ignored, "none")
        failed = counts_text(self.send_failed, "none")
        return (
            f"counters: advertisements sent {self.sent}; solicitations {self.solicitations}, "
            f"answered {self.answered}, rate-limited {self.rate_limited}; "
            f"dropped by the kernel {self.kernel_dropped}; ignored: {ignored}; "
            f"send failures: {failed}"
        )


ANSWERS_PER_SECOND = 20  # solicited advertisements at most, a burst of as many
REREAD_AFTER = 1.0  # seconds an advertisement read from the kernel is reused for answers
HOP_LIMIT = struct.Struct("=i")


class InterfaceGone(Exception):
    pass


async def advertise(ifname: str) -> int:
    try:
        _, index = await trio.to_thread.run_sync(read_advertisement, ifname)
    except LookupError:
        raise InterfaceGone(ifname) from None
    try:
        sock = _socket(ifname, index)
    except OSError as exc:
        if exc.errno == errno.ENODEV:  # it went since the lookup
            raise InterfaceGone(ifname) from None
        raise
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    if SO_RXQ_OVFL is not None:  # the kernel's drops, on every datagram
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    counters = Counters()
    cached: list[tuple[float, Advertisement | None]] = []

    async def current(*, fresh: bool) -> Advertisement | None:
        now = trio.current_time()
        if fresh or not cached or now - cached[0][0] > REREAD_AFTER:
            try:
                ad, _ = await trio.to_thread.run_sync(read_advertisement, ifname)
            except LookupError:
                raise InterfaceGone(ifname) from None
            cached[:] = [(now, ad)]
        return cached[0][1]

    async def send(to: str, *, last: bool = False, fresh: bool = True) -> bool:
        ad = await current(fresh=fresh or last)
        if ad is None and not last:
            return False
        if ad is None or last:
            ad = ad or Advertisement(64, 0, None, None)
            ad = Advertisement(ad.hop_limit, 0, ad.mtu, ad.lladdr, ad.prefixes, ad.routes)
        try:
            await sock.sendto(encode_advertisement(ad), (to, 0, 0, index))
        except OSError as exc:  # a host that went, a full queue: that answer is lost
            if exc.errno == errno.ENODEV:
                raise InterfaceGone(ifname) from None
            counters.send_failed[errno.errorcode.get(exc.errno or 0, "error")] += 1
            return False
        counters.sent += 1
        return True

    async def answer_solicitations() -> None:
        tokens, refilled = float(ANSWERS_PER_SECOND), trio.current_time()
        while True:
            try:
                data, ancillary, flags, address = await sock.recvmsg(1500, 64)
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    raise InterfaceGone(ifname) from None
                counters.ignored[f"receive_{errno.errorcode.get(exc.errno or 0, 'error')}"] += 1
                continue
            counters.solicitations += 1
            for level, kind, value in ancillary:
                dropped = drop_count(level, kind, value)
                if dropped is not None:
                    counters.kernel_dropped = dropped
            hops = next(
                (
                    HOP_LIMIT.unpack_from(value)[0]
                    for level, kind, value in ancillary
                    if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT
                ),
                None,
            )
            host = str(address[0]).split("%", 1)[0]  # type: ignore[index]
            fault = (
                "oversized"  # more than a link's worth of options: not read, not answered
                if flags & socket.MSG_TRUNC
                else solicitation_fault(data, hops, host == "::")
            )
            if fault is not None:
                counters.ignored[fault] += 1
                continue
            now = trio.current_time()
            tokens = min(ANSWERS_PER_SECOND, tokens + (now - refilled) * ANSWERS_PER_SECOND)
            refilled = now
            if tokens < 1:
                counters.rate_limited += 1
                continue
            tokens -= 1
            if await send(ALL_NODES if host == "::" else host, fresh=False):
                counters.answered += 1

    wanted = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
    try:
        with sock, _daemon.signal_receiver(*wanted) as signals:
            _daemon.say(f"advertiser {ifname}", "answering router solicitations")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer_solicitations)

                async def periodically() -> None:
                    await trio.sleep(0.5)  # netsh saves its state as it finishes
                    for n in range(1_000_000_000):
                        await send(ALL_NODES)
                        pause = (
                            INITIAL_INTERVAL
                            if n < 2
                            else random.uniform(MIN_INTERVAL, MAX_INTERVAL)
                        )
                        await trio.sleep(pause)

                nursery.start_soon(periodically)
                async for signum in signals:
                    if signum == signal.SIGUSR1:
                        _daemon.say(f"advertiser {ifname}", counters.line())
                        continue
                    if signum == signal.SIGHUP:  # advertise now, from what the kernel says now
                        await send(ALL_NODES)
                        continue
                    with contextlib.suppress(OSError, InterfaceGone):
                        await send(ALL_NODES, last=True)
                    _daemon.say(
                        f"advertiser {ifname}",
                        f"{signal.Signals(signum).name}: sent the last advertisement",
                    )
                    nursery.cancel_scope.cancel()
                    break
    finally:
        _daemon.say(f"advertiser {ifname}", counters.line())
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_unconfigure)
    return 0


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m ipv6.netsh._advertiser IFNAME", file=sys.stderr)
        return 2
    ifname = sys.argv[1]

    def run() -> int:
        try:
            return trio.run(advertise, ifname)
        except* InterfaceGone:
            # Nothing to advertise on: said in one line, as documented.
            raise SystemExit(f"interface {ifname} is gone (deleted, or renamed)") from None

    return _daemon.run_daemon(f"advertiser {ifname}", run)


if __name__ == "__main__":
    sys.exit(main())
