"""6to4cfg as a planner (pure): from what a host has and the options given,
the netsh script that configures 6to4 and the script that undoes it.

The seeds' "Manual 6to4 Configuration", step by step:
- the 2002:WWXX:YYZZ::/48 of the host's IPv4 address, the 6to4 address
  (subnet 0, the IPv4 address as interface id) on the tunnel, and the
  2002::/16 route through it;
- with a relay (-R), the default route through the tunnel to it (never a
  silent default: 192.88.99.1 is deprecated, RFC 7526);
- with -r, the host becomes the site's gateway: subnet k of the /48 is
  published on the k-th inner interface, which forwards and advertises, so
  that hosts there autoconfigure; -s adds site-local fec0:0:0:k::/64 too.
The undo script puts back what the host had before (forwarding, advertising)
rather than assuming defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Network

from .._derive import sixto4_address, sixto4_prefix
from .._errors import BadInput

TUNNEL = "tun6to4"
CONTEXT = "interface ipv6"


@dataclass(frozen=True)
class Options:
    router: bool = False  # -r
    sitelocal: bool = False  # -s
    relay: IPv4Address | None = None  # -R, resolved
    address: IPv4Address | None = None  # -S
    lab: bool = False
    plane: str = "auto"
    mtu: int = 1280  # the seeds' default; larger ones travel as IPv4 fragments


@dataclass(frozen=True)
class HostFacts:
    """What the planner needs to know about the host, gathered by the caller."""

    ipv4: tuple[tuple[str, IPv4Address], ...]  # (interface, address), every IPv4 address
    outbound: IPv4Address | None  # the source the kernel picks towards the IPv4 Internet
    interfaces: tuple[str, ...]  # up, not loopback, not tunnels: candidates for inner links
    forwarding: bool = False  # net.ipv6.conf.all.forwarding before
    interface_forwarding: dict[str, bool] = field(default_factory=dict)
    advertising: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    address: IPv4Address
    site: IPv6Network
    inner: tuple[tuple[str, IPv6Network], ...]
    script: tuple[str, ...]
    undo: tuple[str, ...]


def choose_address(options: Options, facts: HostFacts) -> IPv4Address:
    """-S, or the address the host reaches the Internet from, or its first global one."""
    mine = [a for _, a in facts.ipv4]
    if options.address is not None:
        if options.address not in mine:
            raise BadInput(f"-S {options.address}: not an address of this host")
        return _usable(options.address, options.lab)
    if facts.outbound is not None and (facts.outbound.is_global or options.lab):
        return _usable(facts.outbound, options.lab)
    usable = [a for a in mine if a.is_global and not a.is_multicast]
    if usable:
        return usable[0]
    found = ", ".join(str(a) for a in mine if not a.is_loopback) or "none"
    raise BadInput(
        f"no global IPv4 address for 6to4 on this host (has: {found}); 6to4 needs one "
        "(RFC 3056). Name one with -S, and add --lab if it is a lab's private address"
    )


def _usable(address: IPv4Address, lab: bool) -> IPv4Address:
    if address.is_loopback or address.is_multicast or address.is_unspecified:
        raise BadInput(f"{address} cannot be a 6to4 address: it is not unicast")
    if address.is_link_local:
        raise BadInput(f"{address} is link-local (169.254/16): no 6to4 site can be built on it")
    if not address.is_global and not lab:
        raise BadInput(
            f"{address} is a private (non-global) IPv4 address: 6to4 needs a globally "
            "routable one (RFC 3056). Add --lab if this is a lab network"
        )
    return address


def plan(options: Options, facts: HostFacts) -> Plan:
    """What ``netsh interface 6to4 set`` does on a host with these ``facts``: the
    6to4 address chosen, the steps to make the tunnel and its routes (a plan, run
    by the caller)."""
    v4 = choose_address(options, facts)
    site = sixto4_prefix(v4)
    holding = {name for name, a in facts.ipv4 if a == v4}
    inner = tuple(i for i in facts.interfaces if i not in holding and i != TUNNEL)
    if options.router and not inner:
        raise BadInput("-r: this host has no other interface to be a gateway for")
    tunnel = [f"add v6v4tunnel {TUNNEL} {v4} mode=6to4"]
    if options.relay is not None:
        tunnel.append(f"relay={options.relay}")
    if options.lab:
        tunnel.append("lab=yes")
    if options.plane != "auto":
        tunnel.append(f"plane={options.plane}")
    if options.mtu != 1280:
        tunnel.append(f"mtu={options.mtu}")
    script = [" ".join(tunnel)]
    script.append(f"add address {TUNNEL} {sixto4_address(v4)}")
    script.append(f"add route 2002::/16 {TUNNEL}")
    publish = " publish=yes" if options.router else ""
    if options.relay is not None or options.router:
        # -r without a relay still routes ::/0 into the tunnel: native destinations
        # then get "no route" from the gateway itself, and hosts learn it as their router.
        script.append(f"add route ::/0 {TUNNEL}{publish}")
    undo = [f"delete interface {TUNNEL}"]  # its addresses and routes go with it
    served: list[tuple[str, IPv6Network]] = []
    if options.router:
        script.append("set global forwarding=enabled")
        script.append(f"set interface {TUNNEL} forwarding=enabled")
        restore: list[str] = []
        for k, name in enumerate(inner, start=1):
            subnet = IPv6Network((int(site.network_address) | k << 64, 64))
            served.append((name, subnet))
            script.append(f"add route {subnet} {name} publish=yes")
            undo.insert(0, f"delete route {subnet} {name}")
            if options.sitelocal:
                local = IPv6Network((0xFEC0 << 112 | k << 64, 64))
                script.append(f"add route {local} {name} publish=yes")
                undo.insert(0, f"delete route {local} {name}")
            script.append(f"set interface {name} forwarding=enabled advertise=enabled")
            was_fwd = "enabled" if facts.interface_forwarding.get(name) else "disabled"
            was_adv = "enabled" if name in facts.advertising else "disabled"
            restore.append(f"set interface {name} forwarding={was_fwd} advertise={was_adv}")
        # Stop advertising first (a last RA withdraws the router), put the global switch
        # back (Linux copies it to every interface), then each interface's own value.
        undo = [
            *[f"set interface {n} advertise=disabled" for n, _ in served],
            f"set global forwarding={'enabled' if facts.forwarding else 'disabled'}",
            *restore,
            *undo,
        ]
    return Plan(v4, site, tuple(served), tuple(script), tuple(undo))


def script_text(lines: tuple[str, ...], title: str) -> str:
    """A netsh script (``netsh -f``) with a comment saying what it is."""
    body = "\n".join(f"{CONTEXT} {line}" for line in lines)
    return f"# {title}\n{body}\n"
