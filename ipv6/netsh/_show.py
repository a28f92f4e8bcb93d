"""What netsh shows, dumps and resets, read from the kernel (and netsh's memory).

Past 400 lines as one concept: every netsh view (show, dump, reset) reads the
same kernel state and netsh's memory the same way; a view is a few lines each.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from .._kernelops import INFINITE
from .._netlink import IFA_F_PERMANENT, RTN_ANYCAST, route_expires
from .._procsys import read_sysctl
from ._executor import Executor
from ._grammar import lifetime_text
from ._rows import (
    AddressRow,
    DestinationRow,
    GlobalRow,
    InterfaceRow,
    JoinRow,
    NeighborRow,
    RouteRow,
    Row,
    SitePrefixRow,
)

RTPROT_KERNEL, RTPROT_BOOT, RTPROT_STATIC, RTPROT_RA = 2, 3, 4, 9
_DAD = {0x40: "tentative", 0x08: "duplicate", 0x20: "deprecated"}


def _family(fam: str) -> int:
    return socket.AF_INET6 if fam == "ipv6" else socket.AF_INET


def show(kernel: Executor, fam: str, noun: str, interface: str | None = None) -> list[Row]:
    names = {index: name for name, index in kernel.interfaces().items()}
    wanted = None
    if interface is not None:
        from ._ops import resolve

        wanted = resolve(interface, kernel.interfaces())[1]
    rows = globals()[f"_show_{noun}"](kernel, fam, names)
    return [r for r in rows if wanted is None or getattr(r, "ifindex", None) in (None, wanted)]


def _show_interfaces(kernel: Executor, fam: str, names: dict[int, str]) -> list[InterfaceRow]:
    rows = []
    memory = kernel.state["memory"]
    for link in kernel.ipr.get_links():
        name = link.get_attr("IFLA_IFNAME")
        mtu = (
            read_sysctl(f"net/ipv6/conf/{name}/mtu")
            if fam == "ipv6"
            else str(link.get_attr("IFLA_MTU"))
        )
        rows.append(
            InterfaceRow(
                ifindex=link["index"],
                name=name,
                state=(link.get_attr("IFLA_OPERSTATE") or "").lower(),
                mtu=int(mtu) if mtu else None,
                forwarding=read_sysctl(f"net/{fam}/conf/{name}/forwarding") == "1",
                advertise=bool(memory.get(f"advertise/{name}", False)),
                advertiser=_advertiser_state(kernel.state, name),
                siteprefixlength=memory.get(f"siteprefixlength/{name}"),
                dnsservers=(memory.get(f"rdnss/{name}") or {}).get("addresses", []),
                nat64prefix=(memory.get(f"pref64/{name}") or {}).get("prefix"),
            )
        )
    return rows


def _extras_words(memory: dict[str, Any], name: str) -> list[str]:
    """dnsservers= and nat64prefix= as dump writes them (lifetimes when not the default)."""
    from .._ra import PREF64_LIFETIME, RDNSS_LIFETIME

    words = []
    rdnss, pref64 = memory.get(f"rdnss/{name}"), memory.get(f"pref64/{name}")
    if rdnss:
        words.append(f"dnsservers={','.join(rdnss['addresses'])}")
        if rdnss["lifetime"] != RDNSS_LIFETIME:
            words.append(f"dnslifetime={rdnss['lifetime']}")
    if pref64:
        words.append(f"nat64prefix={pref64['prefix']}")
        if pref64["lifetime"] != PREF64_LIFETIME:
            words.append(f"nat64lifetime={pref64['lifetime']}")
    return words


def _advertiser_state(state: dict[str, Any], name: str) -> str | None:
    """ "running", or why the interface's advertiser stopped; None when it has none."""
    from ._store import advertiser

    pid = state.get("advertisers", {}).get(name)
    if not pid:
        return None
    daemon = advertiser(name)
    return "running" if daemon.alive(pid) else f"stopped: {daemon.why_stopped(pid)}"


def _show_addresses(kernel: Executor, fam: str, names: dict[int, str]) -> list[AddressRow]:
    rows = []
    for msg in kernel.ipr.get_addr(family=_family(fam)):
        info = msg.get_attr("IFA_CACHEINFO") or {}
        flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
        address = msg.get_attr("IFA_LOCAL") if fam == "ipv4" else msg.get_attr("IFA_ADDRESS")
        rows.append(
            AddressRow(
                ifindex=msg["index"],
                interface=names.get(msg["index"], str(msg["index"])),
                address=address,
                prefixlen=msg["prefixlen"],
                type="unicast",
                state=next((n for b, n in _DAD.items() if flags & b), "preferred"),
                validlifetime=lifetime_text(info.get("ifa_valid", INFINITE)),
                preferredlifetime=lifetime_text(info.get("ifa_preferred", INFINITE)),
                static=bool(flags & IFA_F_PERMANENT),
                scope={0: "global", 253: "link", 254: "host"}.get(msg["scope"], str(msg["scope"])),
            )
        )
    for msg in kernel.ipr.get_routes(family=_family(fam), table=255):
        proto = msg.get_attr("RTA_PROTOCOL") or msg["proto"]
        if msg["type"] == RTN_ANYCAST and proto != RTPROT_KERNEL:
            ifindex = msg.get_attr("RTA_OIF")
            rows.append(
                AddressRow(
                    ifindex=ifindex,
                    interface=names.get(ifindex, str(ifindex)),
                    address=msg.get_attr("RTA_DST"),
                    prefixlen=msg["dst_len"],
                    type="anycast",
                    state="preferred",
                    validlifetime="infinite",
                    preferredlifetime="infinite",
                    static=True,
                    scope="global",
                )
            )
    return rows


def _show_route(kernel: Executor, fam: str, names: dict[int, str]) -> list[RouteRow]:
    rows = []
    memory = kernel.state["memory"]
    for msg in kernel.ipr.get_routes(family=_family(fam), table=254):
        ifindex = msg.get_attr("RTA_OIF")
        dst = msg.get_attr("RTA_DST") or ("::" if fam == "ipv6" else "0.0.0.0")
        prefix = f"{dst}/{msg['dst_len']}"
        name = names.get(ifindex, str(ifindex))
        remembered = memory.get(f"route/{ipaddress.ip_network(prefix, strict=False)}/{name}") or {}
        proto = msg.get_attr("RTA_PROTOCOL") or msg["proto"]
        rows.append(
            RouteRow(
                ifindex=ifindex,
                interface=name,
                prefix=prefix,
                nexthop=msg.get_attr("RTA_GATEWAY"),
                metric=msg.get_attr("RTA_PRIORITY"),
                publish=remembered.get("publish", "no"),
                expires=route_expires(msg),
                # What netsh was given (advertised as such when published).
                validlifetime=_life(remembered.get("validlifetime")),
                preferredlifetime=_life(remembered.get("preferredlifetime")),
                siteprefixlength=remembered.get("siteprefixlength"),
                origin={
                    RTPROT_KERNEL: "kernel",
                    RTPROT_BOOT: "manual",
                    RTPROT_STATIC: "manual",
                    RTPROT_RA: "router advertisement",
                }.get(proto, str(proto)),
            )
        )
    return rows


def _life(seconds: int | None) -> str | None:
    return None if seconds is None else lifetime_text(seconds)


def _show_neighbors(kernel: Executor, fam: str, names: dict[int, str]) -> list[NeighborRow]:
    states = {
        0x01: "incomplete",
        0x02: "reachable",
        0x04: "stale",
        0x08: "delay",
        0x10: "probe",
        0x20: "failed",
        0x40: "noarp",
        0x80: "permanent",
    }
    rows = []
    for msg in kernel.ipr.get_neighbours(family=_family(fam)):
        rows.append(
            NeighborRow(
                ifindex=msg["ifindex"],
                interface=names.get(msg["ifindex"], str(msg["ifindex"])),
                address=msg.get_attr("NDA_DST"),
                lladdr=msg.get_attr("NDA_LLADDR"),
                state=next((n for b, n in states.items() if msg["state"] & b), str(msg["state"])),
            )
        )
    return rows


def _show_joins(kernel: Executor, fam: str, names: dict[int, str]) -> list[JoinRow]:
    from .._inventory import read_host_joins

    version = 6 if fam == "ipv6" else 4
    return [
        JoinRow(
            ifindex=j.ifindex,
            interface=j.interface,
            group=str(j.group),
            mode=j.mode,
            sources=[str(s) for s in j.filter_sources],
            users=j.users,
        )
        for j in read_host_joins()
        if j.group.version == version
    ]


def _show_destinationcache(
    kernel: Executor, fam: str, names: dict[int, str]
) -> list[DestinationRow]:
    rows = []
    for msg in kernel.ipr.get_routes(family=_family(fam), table=254):
        if msg.get_attr("RTA_CACHEINFO") and msg["flags"] & 0x200:  # RTM_F_CLONED
            rows.append(DestinationRow(msg.get_attr("RTA_OIF"), msg.get_attr("RTA_DST")))
    return rows


def _show_global(kernel: Executor, fam: str, names: dict[int, str]) -> list[GlobalRow]:
    return [
        GlobalRow(
            defaultcurhoplimit=int(read_sysctl("net/ipv6/conf/default/hop_limit") or 64),
            neighborcachelimit=int(read_sysctl("net/ipv6/neigh/default/gc_thresh3") or 0),
            routecachelimit=int(read_sysctl("net/ipv6/route/max_size") or 0),
            reassemblylimit=int(read_sysctl("net/ipv6/ip6frag_high_thresh") or 0),
            forwarding=read_sysctl(f"net/{fam}/conf/all/forwarding") == "1",
        )
    ]


def _show_siteprefixes(kernel: Executor, fam: str, names: dict[int, str]) -> list[SitePrefixRow]:
    memory = kernel.state["memory"]
    rows = []
    by_name = {n: i for i, n in names.items()}
    for key, value in memory.items():
        if key.startswith("route/") and isinstance(value, dict) and value.get("siteprefixlength"):
            _, prefix, name = key.split("/", 1)[0], key[6:].rsplit("/", 1)[0], key.rsplit("/", 1)[1]
            network = ipaddress.ip_network(prefix)
            site = (
                network.supernet(new_prefix=value["siteprefixlength"])
                if value["siteprefixlength"] <= network.prefixlen
                else network
            )
            rows.append(
                SitePrefixRow(
                    ifindex=by_name.get(name),
                    interface=name,
                    prefix=str(site),
                    validlifetime=lifetime_text(value.get("validlifetime", INFINITE)),
                )
            )
    return rows


# --- dump and reset -------------------------------------------------------------------------------


def dump(kernel: Executor, fam: str) -> list[str]:
    """Commands that recreate what netsh manages here (static addresses and routes,
    permanent neighbours, forwarding, MTUs, the hop limit). The first is ``reset``:
    run with ``netsh -f`` after any change, the script first returns what netsh
    manages to the defaults and then adds back exactly what was dumped, in one
    transaction."""
    return [f"interface {fam} reset", *configuration(kernel, fam)]


def configuration(kernel: Executor, fam: str) -> list[str]:
    """The commands of :func:`dump` after its leading reset."""
    lines = []
    ctx = f"interface {fam}"
    if fam == "ipv6":
        lines += [f"{ctx} {line}" for line in _tunnel_lines()]
        if read_sysctl("net/ipv6/conf/all/forwarding") == "1":
            lines.append(f"{ctx} set global forwarding=enabled")
    for link in _show_interfaces(kernel, fam, {}):
        if link.name == "lo":
            continue
        settings = []
        if link.forwarding:
            settings.append("forwarding=enabled")
        if link.advertise:
            settings.append("advertise=enabled")
        settings += _extras_words(kernel.state["memory"], link.name)
        if fam == "ipv6" and link.mtu and link.mtu != _link_mtu(kernel, link.ifindex):
            settings.append(f"mtu={link.mtu}")
        if settings:
            lines.append(f"{ctx} set interface interface={link.name} {' '.join(settings)}")
    names = {i: n for n, i in kernel.interfaces().items()}
    memory = kernel.state["memory"]
    # Sorted, so that a dump does not depend on the order the kernel happens to keep.
    addresses = _show_addresses(kernel, fam, names)
    for addr in sorted(addresses, key=lambda r: (r.interface, ipaddress.ip_address(r.address))):
        added = memory.get(f"address/{addr.interface}/{addr.address}")
        if addr.interface == "lo" or addr.scope != "global" or not (addr.static or added):
            continue
        where = f"interface={addr.interface} address={addr.address}"
        if addr.type == "anycast":
            lines.append(f"{ctx} add address {where} type=anycast")
            continue
        life = ""
        if addr.validlifetime != "infinite":
            life = f" validlifetime={addr.validlifetime}"
            life += f" preferredlifetime={addr.preferredlifetime}"
        lines.append(f"{ctx} add address {where}/{addr.prefixlen}{life}")
    translators = _translator_devices()
    for route in _show_route(kernel, fam, names):
        if route.origin != "manual" or route.interface == "lo":
            continue
        if route.interface in translators:
            continue  # the translator's own routes, made again with it
        extra = f" nexthop={route.nexthop}" if route.nexthop else ""
        extra += f" metric={route.metric}" if route.metric is not None else ""
        extra += f" publish={route.publish}" if route.publish != "no" else ""
        if route.validlifetime and route.validlifetime != "infinite":
            extra += f" validlifetime={route.validlifetime}"
        elif route.expires:
            extra += f" validlifetime={route.expires}"
        if route.preferredlifetime and route.preferredlifetime != route.validlifetime:
            extra += f" preferredlifetime={route.preferredlifetime}"
        if route.siteprefixlength is not None:
            extra += f" siteprefixlength={route.siteprefixlength}"
        lines.append(f"{ctx} add route prefix={route.prefix} interface={route.interface}{extra}")
    for neighbor in _show_neighbors(kernel, fam, names):
        if neighbor.state == "permanent" and neighbor.lladdr:
            lines.append(
                f"{ctx} add neighbors {neighbor.interface} {neighbor.address} {neighbor.lladdr}"
            )
    hop = read_sysctl("net/ipv6/conf/default/hop_limit")
    if fam == "ipv6" and hop and hop != "64":
        lines.append(f"{ctx} set global defaultcurhoplimit={hop}")
    return lines


def _tunnel_lines() -> list[str]:
    """``add v6v4tunnel`` for each tunnel of this namespace, as it was made."""
    from ..tunnel._registry import load, tunnels

    lines = []
    for name, spec in sorted(tunnels(load()).items()):
        words = [f"add v6v4tunnel interface={name} localaddress={spec.local}"]
        if spec.remote:
            words.append(f"remoteaddress={spec.remote}")
        words.append(f"mode={spec.mode}")
        words += [f"relay={relay}" for relay in spec.relays[:1]]
        if spec.mtu != 1280:
            words.append(f"mtu={spec.mtu}")
        if spec.router and spec.mode == "6in4":
            words.append(f"router={spec.router}")
        if spec.lab:
            words.append("lab=yes")
        if spec.mode == "6rd":
            words.append(f"sixrdprefix={spec.sixrd_prefix}")
            words.append(f"ipv4masklength={spec.ipv4_mask_length}")
            if spec.border_relay:
                words.append("borderrelay=yes")
        lines.append(" ".join(words))
    return lines + _translator_lines()


_TRANSLATOR_WORDS = (
    ("mtu", "mtu"), ("filtering", "filtering"), ("maxsessions", "max_sessions"),
    ("udptimeout", "udp_timeout"), ("tcptimeout", "tcp_timeout"), ("icmptimeout", "icmp_timeout"),
    ("icmperrors", "icmp_error_rate"),
)  # fmt: skip


def _translator_devices() -> set[str]:
    from ..tunnel._registry import load

    return set(load()["translators"])


def _translator_lines() -> list[str]:
    """``add nat64`` for each translator of this namespace (not CLATs: ipv6 clat's)."""
    from ..translate._spec import TranslatorSpec
    from ..tunnel._registry import load

    defaults = TranslatorSpec(name="")
    lines = []
    for name, data in sorted(load()["translators"].items()):
        spec = TranslatorSpec.from_json(data)
        if spec.clat:
            continue
        words = [f"add nat64 interface={name} prefix={spec.prefix}"]
        if spec.pool:
            words.append(f"pool={spec.pool}")
        if spec.mode == "siit":
            words.append("mode=stateless")
        if spec.pairs:
            pairs = ",".join(f"{v4}={v6}" for v4, v6 in sorted(spec.pairs.items()))
            words.append(f"map={pairs}")
        words.append(f"ipv4address={spec.ipv4_address} ipv6address={spec.ipv6_address}")
        for word, key in _TRANSLATOR_WORDS:
            value = getattr(spec, key)
            if value != getattr(defaults, key):
                words.append(f"{word}={value if isinstance(value, str) else int(value)}")
        if spec.icmp_pool:
            words.append(f"icmppool={spec.icmp_pool}")
        if spec.strict_protocols:
            words.append("strictprotocols=yes")
        if spec.plane != defaults.plane:
            words.append(f"plane={spec.plane}")
        lines.append(" ".join(words))
    return lines


def _link_mtu(kernel: Executor, ifindex: int) -> int:
    (link,) = kernel.ipr.get_links(ifindex)
    return int(link.get_attr("IFLA_MTU"))


def reset_script(kernel: Executor, fam: str, keep: frozenset[str] = frozenset()) -> list[str]:
    """Commands that return everything :func:`dump` would show to the defaults,
    but for the objects whose dump lines are in ``keep``."""
    early: list[str] = []  # routes and neighbours: before the addresses they may rely on
    lines: list[str] = []
    tunnels = []  # removed last: addresses and routes on them go first
    for line in configuration(kernel, fam):
        if line in keep:
            continue
        words = line.split()
        verb_at = words.index("add") if "add" in words else words.index("set")
        noun = words[verb_at + 1]
        args = words[verb_at + 2 :]
        if noun in ("v6v4tunnel", "nat64"):
            tunnels.append(f"interface {fam} delete interface {args[0].split('=', 1)[1]}")
        elif noun == "address":
            which = [a for a in args if a.startswith(("interface=", "address="))]
            lines.append(f"interface {fam} delete address {' '.join(which)}")
        elif noun == "route":
            which = [a for a in args if a.startswith(("prefix=", "interface=", "nexthop="))]
            which += [a for a in args if a.startswith("metric=")]  # one of two routes
            early.append(f"interface {fam} delete route {' '.join(which)}")
        elif noun == "neighbors":
            early.append(f"interface {fam} delete neighbors {args[0]} {args[1]}")
        elif noun == "interface":
            name = args[0].split("=", 1)[1]
            settings = [
                f"{word}=disabled"
                for word in ("forwarding", "advertise")
                if any(a.startswith(word) for a in args)
            ]
            settings += [
                f"{word}=none"
                for word in ("dnsservers", "nat64prefix")
                if any(a.startswith(f"{word}=") for a in args)
            ]
            for a in args:
                if a.startswith("mtu="):
                    (link,) = [
                        one for one in kernel.ipr.get_links() if one.get_attr("IFLA_IFNAME") == name
                    ]
                    settings.append(f"mtu={link.get_attr('IFLA_MTU')}")
            lines.append(f"interface {fam} set interface interface={name} {' '.join(settings)}")
        elif noun == "global" and "forwarding=enabled" in args:
            lines.append(f"interface {fam} set global forwarding=disabled")
        elif noun == "global":
            lines.append(f"interface {fam} set global defaultcurhoplimit=64")
    return early + lines + tunnels
