"""A translator as configured, checked before anything starts, and the
translator and routes it stands for. Pure: what the host has (its IPv4
subnets and interface names) is handed in.

Two modes, one TUN device each, as tayga runs:

- ``nat64`` (RFC 6146): IPv6 hosts reach the IPv4 Internet through
  ``prefix`` (RFC 6052) from the addresses of ``pool``.
- ``siit`` (RFC 7915, stateless): IPv6 hosts with IPv4-translatable
  addresses in ``prefix`` appear to IPv4 as ``pool``; ``pairs`` map single
  addresses explicitly (RFC 7757), which is also what a CLAT is (RFC 6877).

A pair stands for a host on one side: an IPv6 host behind the translator
(the usual: its IPv4 address is routed into the device, and IPv6 hosts reach
each other through it, hairpinned), or, when its IPv4 address is in a subnet
of one of this host's links, an IPv4 host there (its IPv6 address is routed
into the device). Routing both into the device would send the translated
packets of one back in, to circle until their hop limit ran out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from .._errors import BadInput
from .._kernelops import AddAddress, AddRoute, KernelOp
from ._headers import IPV6_MIN_MTU
from ._mapping import Prefix64, StatelessMapper, forwardable4, is_global4
from ._nat64 import FILTERINGS, MAX_SESSIONS, Nat64Mapper, Timeouts
from ._siit import ICMP_ERROR_RATE, Translator

MODES = ("nat64", "siit")
# Where packets are translated: ``userspace`` every one in the service (the pure
# core); ``ebpf`` remembered flows in the kernel (``_ebpf``), the rest as before;
# ``auto`` the eBPF plane where its program loads and attaches, else userspace.
PLANES = ("auto", "ebpf", "userspace")
UDP_MIN = 120.0  # RFC 6146 4


@dataclass
class TranslatorSpec:
    name: str
    mode: str = "nat64"
    prefix: str = "64:ff9b::/96"
    pool: str | None = None  # the IPv4 addresses routed into the translator
    pairs: dict[str, str] = field(default_factory=dict)  # siit: IPv4 -> IPv6, one each
    ipv4_address: str | None = None  # the source of its own ICMP errors
    ipv6_address: str | None = None  # the source of its own ICMPv6 errors
    mtu: int = 1500  # the TUN device's
    ipv6_mtu: int = IPV6_MIN_MTU  # the lowest IPv6 MTU: IPv4 without DF is fragmented to it
    filtering: str = FILTERINGS[0]
    max_sessions: int = MAX_SESSIONS
    udp_timeout: float = Timeouts.udp
    tcp_timeout: float = Timeouts.tcp_established
    tcp_trans_timeout: float = Timeouts.tcp_transitory
    icmp_timeout: float = Timeouts.icmp
    icmp_error_rate: float = ICMP_ERROR_RATE  # its own ICMP errors a second (0: none)
    icmp_pool: str | None = None  # RFC 6791: sources for ICMPv6 errors without an IPv4 form
    strict_protocols: bool = False  # refuse the other family's protocol numbers
    ipv4_side: list[str] = field(default_factory=list)  # pairs standing for IPv4 hosts
    clat: bool = False  # a CLAT: its IPv4 side is this host's own (see ``_clat``)
    uplink: str | None = None  # a CLAT's IPv6 interface
    undo: list[list[str]] = field(default_factory=list)  # what a CLAT changed, to put back
    plane: str = "auto"  # one of PLANES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TranslatorSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check(
    spec: TranslatorSpec, *, subnets: dict[str, list[IPv4Network]], names: set[str]
) -> list[str]:
    """Refuse (BadInput, nothing started) what cannot work; fill in the defaults;
    what works but is worth a note.

    ``subnets``: this host's IPv4 subnets by interface; ``names``: its interface names.
    """
    if not spec.name or len(spec.name) > 15 or "/" in spec.name or " " in spec.name:
        raise BadInput(f"{spec.name!r} is not a usable interface name (1 to 15 characters)")
    if spec.name in names:
        raise BadInput(f"an interface named {spec.name} already exists; pick another name")
    if spec.mode not in MODES:
        raise BadInput(f"mode {spec.mode!r}: use nat64 or siit")
    if spec.plane not in PLANES:
        raise BadInput(f"plane {spec.plane!r}: use {', '.join(PLANES)}")
    prefix = Prefix64.parse(spec.prefix)
    spec.prefix = str(prefix)
    pool = _network4(spec.pool, "the pool") if spec.pool else None
    if pool is not None and not all(
        forwardable4(int(a)) for a in (pool.network_address, pool.broadcast_address)
    ):  # fmt: skip
        raise BadInput(f"the pool {pool} is space no router forwards (RFC 1812, RFC 3927)")
    if spec.mode == "nat64" and pool is None:
        raise BadInput("a NAT64 needs an IPv4 pool (--pool, 192.0.2.0/28 say)")
    pairs = _pairs(spec.pairs, prefix)
    if spec.mode == "nat64" and pairs:
        raise BadInput("explicit address pairs (--map) are for the stateless mode (--stateless)")
    if spec.mode == "siit" and pool is None and not pairs:
        raise BadInput("a stateless translator needs an IPv4 pool (--pool) or pairs (--map)")
    spec.pairs = {str(k): str(v) for k, v in pairs.items()}
    # Where each pair's host is: on a link of this host (IPv4), else behind the
    # translator (IPv6); a CLAT's one pair is this host's own IPv4 side.
    here = [net for nets in subnets.values() for net in nets]
    spec.ipv4_side = sorted(
        (str(v4) for v4 in pairs if spec.clat or any(v4 in net for net in here)),
        key=IPv4Address,
    )
    if pool is not None and spec.mode == "siit" and prefix.strict and not all(
        is_global4(int(a)) for a in (pool.network_address, pool.broadcast_address)
    ):  # fmt: skip
        raise BadInput(
            f"pool {pool} is not global IPv4: the well-known prefix may not carry it (RFC "
            "6052 3.1); use a network-specific prefix (64:ff9b:1::/96, RFC 8215, say)"
        )
    if pool is not None and not spec.clat:
        for interface, nets in sorted(subnets.items()):
            for net in nets:
                if pool.overlaps(net):
                    raise BadInput(
                        f"pool {pool} overlaps {net}, a subnet of {interface}: the pool must be "
                        "addresses no link of this host has (the translator answers for them)"
                    )
        spec.pool = str(pool)
    own4 = _own4(spec, pool)
    if not forwardable4(int(own4)):
        raise BadInput(f"the translator's own IPv4 address {own4} is one no router forwards")
    if str(own4) in spec.pairs and not spec.clat:
        raise BadInput(f"--map: {own4} is the translator's own IPv4 address")
    spec.ipv4_address = str(own4)
    if spec.ipv6_address is None:
        spec.ipv6_address = str(IPv6Address(prefix.embed_any(int(own4))))
    else:
        spec.ipv6_address = str(_address6(spec.ipv6_address, "--ipv6-address"))
        if spec.ipv6_address in spec.pairs.values() and not spec.clat:
            raise BadInput(f"--ipv6-address {spec.ipv6_address} is a mapped host's (--map)")
    if not IPV6_MIN_MTU <= spec.mtu <= 65535:
        raise BadInput(f"MTU {spec.mtu}: IPv6 needs at least 1280 (and at most 65535)")
    if not IPV6_MIN_MTU <= spec.ipv6_mtu <= spec.mtu:
        raise BadInput(f"the lowest IPv6 MTU {spec.ipv6_mtu} must be 1280 to the MTU {spec.mtu}")
    if spec.filtering not in FILTERINGS:
        raise BadInput(f"filtering {spec.filtering!r}: use {' or '.join(FILTERINGS)}")
    if spec.max_sessions < 1:
        raise BadInput("--max-sessions must be at least 1")
    if not 0 <= spec.icmp_error_rate <= 1_000_000:
        raise BadInput("--icmp-errors must be 0 (none) to 1000000 a second")
    if spec.icmp_pool is not None:
        icmp_pool = _network4(spec.icmp_pool, "the ICMP source pool")
        if not forwardable4(int(icmp_pool.network_address)):
            raise BadInput(f"the ICMP source pool {icmp_pool} is space no router forwards")
        spec.icmp_pool = str(icmp_pool)
    for name in ("udp_timeout", "tcp_timeout", "tcp_trans_timeout", "icmp_timeout"):
        if not 0 < getattr(spec, name) <= 86400 * 7:
            raise BadInput(f"--{name.replace('_', '-')} must be more than 0 s and at most a week")
    notes = []
    if spec.mode == "nat64" and spec.udp_timeout < UDP_MIN:
        notes.append(
            f"a UDP timeout of {spec.udp_timeout:g} s is below RFC 6146's minimum "
            f"of {UDP_MIN:g} s (fine in a lab, not on a real network)"
        )
    return notes


def _network4(text: str, what: str) -> IPv4Network:
    try:
        return IPv4Network(text, strict=True)
    except ValueError as exc:
        raise BadInput(f"{what} {text!r}: {exc}") from None


def _address4(text: str, what: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise BadInput(f"{what}: {text!r} is not an IPv4 address") from None


def _address6(text: str, what: str) -> IPv6Address:
    try:
        return IPv6Address(text)
    except ValueError:
        raise BadInput(f"{what}: {text!r} is not an IPv6 address") from None


def _pairs(pairs: dict[str, str], prefix: Prefix64) -> dict[IPv4Address, IPv6Address]:
    out: dict[IPv4Address, IPv6Address] = {}
    seen6: set[IPv6Address] = set()
    for v4_text, v6_text in pairs.items():
        v4, v6 = _address4(v4_text, "--map"), _address6(v6_text, "--map")
        if v6 in seen6:
            raise BadInput(f"--map: {v6} is paired twice")
        if not forwardable4(int(v4)):
            raise BadInput(f"--map: {v4} is an address no router forwards (RFC 1812, RFC 3927)")
        if prefix.contains(int(v6)):
            raise BadInput(f"--map: {v6} is inside the prefix {prefix}; pair an address outside it")
        seen6.add(v6)
        out[v4] = v6
    return out


def _own4(spec: TranslatorSpec, pool: IPv4Network | None) -> IPv4Address:
    if spec.ipv4_address is not None:
        own = _address4(spec.ipv4_address, "--ipv4-address")
        if spec.mode == "nat64" and pool is not None and own in pool and pool.num_addresses < 2:
            raise BadInput(f"the pool {pool} has no address left beside {own}")
        return own
    if pool is None:
        raise BadInput("give the translator's own IPv4 address (--ipv4-address)")
    if spec.mode == "nat64" and pool.num_addresses < 2:
        raise BadInput(
            f"the pool {pool} has one address: give the translator's own IPv4 address "
            "(--ipv4-address) outside it, or a larger pool"
        )
    return pool.network_address


def make_translator(spec: TranslatorSpec) -> Translator:
    """The translator a checked spec stands for."""
    prefix = Prefix64.parse(spec.prefix)
    own4 = int(IPv4Address(spec.ipv4_address))
    own6 = int(IPv6Address(spec.ipv6_address))
    if spec.mode == "nat64":
        assert spec.pool is not None
        timeouts = Timeouts(
            udp=spec.udp_timeout,
            tcp_established=spec.tcp_timeout,
            tcp_transitory=spec.tcp_trans_timeout,
            icmp=spec.icmp_timeout,
        )
        mapper: Nat64Mapper | StatelessMapper = Nat64Mapper(
            prefix, IPv4Network(spec.pool), timeouts=timeouts, max_sessions=spec.max_sessions,
            filtering=spec.filtering, reserved=frozenset({own4}),
        )  # fmt: skip
    else:
        pairs = {int(IPv4Address(k)): int(IPv6Address(v)) for k, v in spec.pairs.items()}
        ipv4_side = frozenset(int(IPv4Address(v4)) for v4 in spec.ipv4_side)
        mapper = StatelessMapper(prefix, pairs, ipv4_side)
    icmp_pool = IPv4Network(spec.icmp_pool) if spec.icmp_pool else None
    sources = (int(icmp_pool.network_address), icmp_pool.num_addresses) if icmp_pool else (0, 0)
    return Translator(
        mapper, own4, own6, mtu6=spec.ipv6_mtu, mtu=spec.mtu,
        icmp_error_rate=spec.icmp_error_rate, icmp_sources=sources,
        strict_protocols=spec.strict_protocols,
    )  # fmt: skip


CLAT_IPV4 = "192.0.0.1"  # RFC 7335: the host's IPv4 address behind a CLAT
CLAT_OWN4 = "192.0.0.2"  # the CLAT's own, the source of its ICMP errors


def device_setup(spec: TranslatorSpec) -> list[KernelOp]:
    """The addresses and routes of the translator's device (they go with it)."""
    name = spec.name
    if spec.clat:
        # The host's IPv4 side: its address, and every IPv4 destination through the CLAT.
        return [
            AddAddress(name, IPv4Interface(f"{CLAT_IPV4}/29"), dad=False),
            *[AddRoute(IPv6Network(f"{v6}/128"), name) for v6 in spec.pairs.values()],
            AddRoute(IPv4Network("0.0.0.0/0"), name, source=IPv4Address(CLAT_IPV4)),
        ]
    return [AddRoute(prefix, name) for prefix in routes(spec)]


def routes(spec: TranslatorSpec) -> list[IPv4Network | IPv6Network]:
    """What the kernel must route into a translator's device (a CLAT's: see device_setup)."""
    out: list[IPv4Network | IPv6Network] = [IPv6Network(spec.prefix)]
    # A pair's one side only: an IPv4 host's IPv6 name, or an IPv6 host's IPv4 name.
    out += [IPv6Network(f"{v6}/128") for v4, v6 in spec.pairs.items() if v4 in spec.ipv4_side]
    pool = IPv4Network(spec.pool) if spec.pool else None
    if pool is not None:
        out.append(pool)
    out += [
        IPv4Network(f"{v4}/32")
        for v4 in spec.pairs
        if v4 not in spec.ipv4_side and (pool is None or IPv4Address(v4) not in pool)
    ]
    return out  # the translator's own IPv4 address is only ever a source: no route
