"""What a netsh command does to the kernel, as data, and how to plan it (pure).

Rules of this module:
- A command becomes a list of :data:`Op` values: address and route changes,
  neighbour entries, sysctl writes, MTUs. :func:`plan` needs the host's
  interfaces (name -> index) and nothing else; it does no I/O.
- Linux words for Windows ones: an IPv6 interface MTU is
  ``net.ipv6.conf.IF.mtu``, forwarding is ``net.ipvX.conf.IF.forwarding``,
  the default hop limit ``net.ipv6.conf.{all,default}.hop_limit``, the
  neighbour cache limit ``net.ipv6.neigh.default.gc_thresh3``; publishing
  and site prefix lengths are kept by netsh itself (Linux has no such
  attribute) for the router advertisements and ``show`` commands.
- Where Linux has no such concept, the command is refused saying so
  (an interface metric: give the metric on each route).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import Ipv6Error
from .._kernelops import (
    INFINITE,
    AddAddress,
    AddNeighbor,
    AddRoute,
    DeleteAddress,
    DeleteNeighbor,
    DeleteRoute,
    FlushDestinations,
    Interface,
    IPNetwork,
    KernelOp,
    SetLinkMtu,
    WriteSysctl,
)
from ._grammar import Command, NetshSyntaxError


@dataclass(frozen=True)
class StartAdvertiser:
    """Run the router advertisement daemon for an interface (netsh's advertise=enabled)."""

    ifname: str


@dataclass(frozen=True)
class StopAdvertiser:
    ifname: str


@dataclass(frozen=True)
class Remember:
    """Something netsh keeps for itself (publish flags, site prefix lengths)."""

    key: str
    value: object


@dataclass(frozen=True)
class AddTunnel:
    """A tunnel interface (see ipv6.tunnel); ``spec`` is its TunnelSpec as JSON."""

    spec: tuple[tuple[str, object], ...]
    plane: str = "auto"

    @property
    def name(self) -> str:
        return str(dict(self.spec)["name"])


@dataclass(frozen=True)
class DeleteTunnel:
    """A tunnel's or a translator's interface removed (``delete interface``)."""

    name: str


@dataclass(frozen=True)
class AddTranslator:
    """A NAT64 or SIIT translator (see ipv6.translate); ``spec`` is its spec as JSON."""

    spec: tuple[tuple[str, object], ...]

    @property
    def name(self) -> str:
        return str(dict(self.spec)["name"])


# The shared kernel operations (ipv6._kernelops) and netsh's own.
Op = (
    KernelOp | StartAdvertiser | StopAdvertiser | Remember | AddTunnel | DeleteTunnel
    | AddTranslator
)  # fmt: skip

GLOBALS = {
    "defaultcurhoplimit": ("net/ipv6/conf/all/hop_limit", "net/ipv6/conf/default/hop_limit"),
    "neighborcachelimit": ("net/ipv6/neigh/default/gc_thresh3",),
    "routecachelimit": ("net/ipv6/route/max_size",),
    "reassemblylimit": ("net/ipv6/ip6frag_high_thresh",),
}


def resolve(name: str, interfaces: Mapping[str, Interface]) -> tuple[str, Interface]:
    """An interface by name or index among ``interfaces`` (name -> index, or -> its
    name for one the script makes, whose index is known only once it exists)."""
    if name in interfaces:
        return name, interfaces[name]
    if name.isdigit():
        for known, index in interfaces.items():
            if index == int(name):
                return known, index
    listed = ", ".join(
        f"{n} ({i})" for n, i in sorted(interfaces.items(), key=lambda x: _order(x[1]))
    )
    raise NetshSyntaxError(f"interface: no interface {name!r} (interfaces: {listed})")


def _order(interface: Interface) -> tuple[int, int, str]:
    """Indexes in order, then the names of interfaces still to be made."""
    return (0, interface, "") if isinstance(interface, int) else (1, 0, interface)


def plan(command: Command, interfaces: Mapping[str, Interface]) -> list[Op]:
    """The operations ``command`` stands for (show, dump, reset and restore excepted)."""
    v = command.values
    if command.verb in ("install", "uninstall"):
        # The namespace's IPv6 on or off: "all" reaches every interface there is,
        # "default" every one made later. Off takes every IPv6 address with it.
        off = "1" if command.verb == "uninstall" else "0"
        return [WriteSysctl(f"net/ipv6/conf/{which}/disable_ipv6", off)
                for which in ("default", "all")]  # fmt: skip
    if command.noun == "v6v4tunnel":  # names an interface still to be made
        return [_tunnel(command)]
    if command.noun == "nat64":
        return [_translator(command)]
    ifname, ifindex = resolve(v["interface"], interfaces) if "interface" in v else ("", 0)
    fam = command.family
    what = (command.verb, command.noun)
    if command.noun == "address":
        address = v["address"]
        if fam == "ipv4" and "mask" in v:
            address = ipaddress.ip_interface(f"{address.ip}/{v['mask']}")
        key = f"address/{ifname}/{address.ip}"
        if what[0] == "delete":
            return [DeleteAddress(ifindex, address), Remember(key, None)]
        valid = v.get("validlifetime", INFINITE)
        preferred = v.get("preferredlifetime", valid)
        if preferred > valid:
            raise NetshSyntaxError("preferredlifetime is longer than validlifetime")
        anycast = v.get("type") == "anycast"
        ops: list[Op] = [
            AddAddress(ifindex, address, valid, preferred, anycast, replace=what[0] == "set")
        ]
        # The kernel marks an address with a finite lifetime as not permanent; netsh
        # remembers adding it, so that dump lists it too.
        if valid != INFINITE or what[0] == "set":
            ops.append(Remember(key, True))
        return ops
    if command.noun == "route":
        prefix, gateway = v["prefix"], v.get("nexthop")
        if what[0] == "delete":
            return [
                DeleteRoute(prefix, ifindex, gateway, v.get("metric")),
                Remember(_route_key(prefix, ifname), None),
            ]
        valid = v.get("validlifetime", INFINITE)
        # publish=yes is a non-aging route: its lifetime is what is advertised, while the
        # route itself stays (seeds: "IPv6 Router Advertisements"); others age in the kernel.
        expires = None if valid == INFINITE or v.get("publish") == "yes" else valid
        ops = [
            AddRoute(prefix, ifindex, gateway, v.get("metric"), expires, replace=what[0] == "set")
        ]
        extra: dict[str, Any] = {
            k: v[k] for k in ("publish", "siteprefixlength", "preferredlifetime") if k in v
        }
        # Remembered when there is something the kernel cannot hold (a plain add of a
        # route has nothing: the defaults are what show route assumes).
        if fam == "ipv6" and (extra or expires is not None or what[0] == "set"):
            ops.append(
                Remember(
                    _route_key(prefix, ifname),
                    {"publish": v.get("publish", "no"), **extra, "validlifetime": valid},
                )
            )
        return ops
    if command.noun == "neighbors":
        if what[0] == "add":
            return [AddNeighbor(ifindex, v["address"], v["neighbor"])]
        if not ifindex:
            return [
                DeleteNeighbor(index, None) for index in sorted(interfaces.values(), key=_order)
            ]
        return [DeleteNeighbor(ifindex, v.get("address"))]
    if command.noun == "destinationcache":
        return [FlushDestinations(fam)]
    if command.noun == "interface" and what[0] == "delete":
        return [DeleteTunnel(ifname)]
    if command.noun == "interface":
        return _interface_ops(command, ifname, ifindex)
    if command.noun == "global":
        ops = []
        if "forwarding" in v:
            on = "1" if v["forwarding"] == "enabled" else "0"
            ops.append(WriteSysctl("net/ipv6/conf/all/forwarding", on))
        for keyword, paths in GLOBALS.items():
            if keyword in v:
                ops += [WriteSysctl(path, str(v[keyword])) for path in paths]
        if not ops:
            raise NetshSyntaxError("set global: give at least one setting")
        return ops
    raise NetshSyntaxError(f"{command.verb} {command.noun} is not something netsh changes")


def _tunnel(command: Command) -> AddTunnel:
    v = command.values
    remote = v.get("remoteaddress")
    mode = v.get("mode", "6in4" if remote is not None else "6to4")
    if mode == "6in4" and remote is None:
        raise NetshSyntaxError("add v6v4tunnel: a 6in4 tunnel needs remoteaddress")
    if mode == "6to4" and remote is not None:
        raise NetshSyntaxError("add v6v4tunnel: mode=6to4 has no remoteaddress (2002::/16 is)")
    spec = {
        "name": v["interface"],
        "mode": mode,
        "local": str(v["localaddress"]),
        "remote": str(remote) if remote is not None else None,
        "relays": [str(v["relay"])] if "relay" in v else [],
        "mtu": v.get("mtu", 1280),
        "router": str(v["router"]) if "router" in v else None,
        "lab": v.get("lab") == "yes",
        "sixrd_prefix": v.get("sixrdprefix"),
        "ipv4_mask_length": v.get("ipv4masklength", 0),
        "border_relay": v.get("borderrelay") == "yes",
    }
    if mode != "6rd" and any(k in v for k in ("sixrdprefix", "ipv4masklength", "borderrelay")):
        raise NetshSyntaxError("add v6v4tunnel: sixrdprefix and its kin are for mode=6rd")
    return AddTunnel(tuple(spec.items()), v.get("plane", "auto"))


def _translator(command: Command) -> AddTranslator:
    v = command.values
    spec: dict[str, object] = {
        "name": v["interface"],
        "mode": "siit" if v.get("mode") == "stateless" else "nat64",
        "prefix": v["prefix"],
        "pool": v.get("pool"),
    }
    optional = {
        "ipv4address": "ipv4_address", "ipv6address": "ipv6_address", "mtu": "mtu",
        "filtering": "filtering", "maxsessions": "max_sessions", "udptimeout": "udp_timeout",
        "tcptimeout": "tcp_timeout", "icmptimeout": "icmp_timeout",
        "icmperrors": "icmp_error_rate", "icmppool": "icmp_pool", "plane": "plane",
    }  # fmt: skip
    for word, key in optional.items():
        if word in v:
            spec[key] = str(v[word]) if word.endswith("address") else v[word]
    if "strictprotocols" in v:
        spec["strict_protocols"] = v["strictprotocols"] == "yes"
    if "map" in v:
        pairs = {}
        for item in v["map"].split(","):
            v4, sep, v6 = item.partition("=")
            if not sep:
                raise NetshSyntaxError(f"map: {item!r}: write IPV4=IPV6, comma-separated")
            pairs[v4.strip()] = v6.strip()
        spec["pairs"] = pairs
    return AddTranslator(tuple(spec.items()))


def _interface_ops(command: Command, ifname: str, ifindex: Interface) -> list[Op]:
    v, fam = command.values, command.family
    ops: list[Op] = []
    if "metric" in v:
        raise NetshSyntaxError(
            "metric: Linux has no interface metric; give metric= on each route instead"
        )
    if "forwarding" in v:
        ops.append(
            WriteSysctl(
                f"net/{fam}/conf/{ifname}/forwarding", "1" if v["forwarding"] == "enabled" else "0"
            )
        )
    if "mtu" in v:
        ops.append(
            WriteSysctl(f"net/ipv6/conf/{ifname}/mtu", str(v["mtu"]))
            if fam == "ipv6"
            else SetLinkMtu(ifindex, v["mtu"])
        )
    if v.get("advertise") == "enabled":
        ops += [Remember(f"advertise/{ifname}", True), StartAdvertiser(ifname)]
    elif "advertise" in v:
        ops += [StopAdvertiser(ifname), Remember(f"advertise/{ifname}", None)]
    if "siteprefixlength" in v:
        length = v["siteprefixlength"]
        if not 0 <= length <= 128:
            raise NetshSyntaxError(f"siteprefixlength: {length} is not 0 to 128")
        ops.append(Remember(f"siteprefixlength/{ifname}", length))
    ops += _advertised_extras(v, ifname)
    if not ops:
        raise NetshSyntaxError("set interface: give at least one setting")
    return ops


def _advertised_extras(v: Mapping[str, Any], ifname: str) -> list[Op]:
    """dnsservers= (RFC 8106) and nat64prefix= (RFC 8781): kept for the advertiser."""
    from .._ra import PREF64_LIFETIME, PREF64_LIFETIME_MAX, RDNSS_LIFETIME
    from ..translate._mapping import Prefix64

    ops: list[Op] = []
    if "dnslifetime" in v and "dnsservers" not in v:
        raise NetshSyntaxError("dnslifetime: give it with dnsservers=")
    if "nat64lifetime" in v and "nat64prefix" not in v:
        raise NetshSyntaxError("nat64lifetime: give it with nat64prefix=")
    if "dnsservers" in v:
        if v["dnsservers"].lower() == "none":
            ops.append(Remember(f"rdnss/{ifname}", None))
        else:
            addresses = []
            for text in v["dnsservers"].split(","):
                try:
                    addresses.append(str(ipaddress.IPv6Address(text.strip())))
                except ValueError:
                    raise NetshSyntaxError(
                        f"dnsservers: {text.strip()!r} is not an IPv6 address"
                    ) from None
            lifetime = v.get("dnslifetime", RDNSS_LIFETIME)
            if not 0 <= lifetime <= 0xFFFFFFFF:
                raise NetshSyntaxError(f"dnslifetime: {lifetime} is not 0 to 4294967295")
            ops.append(Remember(f"rdnss/{ifname}", {"addresses": addresses, "lifetime": lifetime}))
    if "nat64prefix" in v:
        if v["nat64prefix"].lower() == "none":
            ops.append(Remember(f"pref64/{ifname}", None))
        else:
            try:
                prefix = Prefix64.parse(v["nat64prefix"])
            except Ipv6Error as exc:
                raise NetshSyntaxError(f"nat64prefix: {exc}") from None
            lifetime = v.get("nat64lifetime", PREF64_LIFETIME)
            if not 0 <= lifetime <= PREF64_LIFETIME_MAX:
                raise NetshSyntaxError(
                    f"nat64lifetime: {lifetime} is not 0 to {PREF64_LIFETIME_MAX} (RFC 8781)"
                )
            ops.append(Remember(f"pref64/{ifname}", {"prefix": str(prefix), "lifetime": lifetime}))
    return ops


def _route_key(prefix: IPNetwork, ifname: str) -> str:
    return f"route/{prefix}/{ifname}"
