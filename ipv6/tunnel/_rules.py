"""RFC 3964's checks for 6to4, RFC 4213's for configured 6in4, and the same
adapted to 6rd (RFC 5969 section 12), as a pure decision: given a packet and
a tunnel's policy, where it goes or why it drops.

Every check has a named reason (the drop counters' keys) and a vector that
fails it and one that passes in tests/ipv6/test_tunnel_rules.py. RFC 3964
section 5.3.1 gives the IPv4 and IPv6 address lists no 6to4 packet may
carry, and the embedded-address matching both ends must do; section 5.2
the own-address checks that stop loops and reflection.

Addresses are integers here: the data plane calls these per packet.

Past 400 lines as one concept: RFC 3964's, RFC 4213's and RFC 5969's checks,
mostly address tables, each check beside its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import NamedTuple, Protocol

from ._packets import (
    ICMPV6,
    IPV6_HEADER,
    Malformed,
    Packet,
    ipv6_addresses,
    no_route,
    packet_too_big,
)

SIX_TO_FOUR = 0x2002 << 112
_TOP16 = ((1 << 16) - 1) << 112


def _net4(text: str) -> tuple[int, int]:
    net = IPv4Network(text)
    return int(net.network_address), int(net.netmask)


def _net6(prefix: int, length: int) -> tuple[int, int]:
    mask = ((1 << length) - 1) << (128 - length)
    return prefix, mask


# RFC 3964 5.3.1's IPv4 list, with the ranges registered since (RFC 3927
# link-local, RFC 6598 shared space); "private" and its like are what a lab
# may allow with --lab.
IPV4_DISALLOWED: tuple[tuple[str, tuple[int, int]], ...] = (
    ("this_network", _net4("0.0.0.0/8")),
    ("private", _net4("10.0.0.0/8")),
    ("shared", _net4("100.64.0.0/10")),
    ("loopback", _net4("127.0.0.0/8")),
    ("link_local", _net4("169.254.0.0/16")),
    ("private", _net4("172.16.0.0/12")),
    ("private", _net4("192.168.0.0/16")),
    ("multicast", _net4("224.0.0.0/4")),
    ("broadcast", _net4("255.255.255.255/32")),
    ("reserved", _net4("240.0.0.0/4")),
)
LAB_MAY_ALLOW = frozenset({"private", "shared", "link_local"})

# RFC 3964 5.3.1's IPv6 list: ::/16 holds the compatible, mapped, loopback
# and unspecified addresses.
IPV6_DISALLOWED: tuple[tuple[str, tuple[int, int]], ...] = (
    ("compatible_or_mapped", _net6(0, 16)),
    ("link_local", _net6(0xFE80 << 112, 10)),
    ("site_local", _net6(0xFEC0 << 112, 10)),
    ("multicast", _net6(0xFF << 120, 8)),
)


def embedded_ipv4(address: int) -> int:
    """The IPv4 address in bits 16..47 of a 2002::/16 address."""
    return (address >> 80) & 0xFFFFFFFF


def is_6to4(address: int) -> bool:
    return address & _TOP16 == SIX_TO_FOUR


@dataclass(frozen=True)
class SixRd:
    """A 6rd domain (RFC 5969): its IPv6 prefix, and how many high bits of
    every customer edge's IPv4 address are the same (left out of the
    delegated prefix). ``common`` holds those bits."""

    prefix: int
    prefix_length: int
    mask_length: int
    common: int

    @property
    def suffix_bits(self) -> int:
        return 32 - self.mask_length

    @property
    def delegated_length(self) -> int:
        return self.prefix_length + self.suffix_bits

    def contains(self, address: int) -> bool:
        return address >> (128 - self.prefix_length) == self.prefix >> (128 - self.prefix_length)

    def delegated(self, ipv4: int) -> int:
        """The delegated prefix (as an integer) of the edge with IPv4 ``ipv4`` (RFC 5969 7.1.1)."""
        bits = ipv4 & ((1 << self.suffix_bits) - 1)
        return self.prefix | bits << (128 - self.delegated_length)

    def is_own(self, address: int, ipv4: int) -> bool:
        """Whether ``address`` is in the delegated prefix of the edge with IPv4 ``ipv4``."""
        shift = 128 - self.delegated_length
        return address >> shift == self.delegated(ipv4) >> shift

    def ipv4_of(self, address: int) -> int:
        """The IPv4 address embedded in a 6rd address."""
        bits = (address >> (128 - self.delegated_length)) & ((1 << self.suffix_bits) - 1)
        return self.common | bits


@dataclass(frozen=True)
class Policy:
    """What one tunnel end knows: its mode, its addresses, whom it trusts.

    ``own`` holds every IPv4 address of the host and ``broadcasts`` its
    subnets' broadcast addresses (section 5.2: never decapsulate what was
    sent to a broadcast, never encapsulate towards yourself). ``lab`` holds
    the private blocks --lab allowed (the block of the tunnel's own address).
    """

    mode: str  # "6to4", "6in4" or "6rd"
    local: int
    router: int  # an IPv6 address of this end, the source of its ICMPv6 errors (0: none sent)
    own: frozenset[int] = frozenset()
    broadcasts: frozenset[int] = frozenset()
    remote: int | None = None  # 6in4: the one peer
    relays: tuple[
        int, ...
    ] = ()  # 6to4: where native destinations go, whom native sources come from
    lab: tuple[tuple[int, int], ...] = ()
    mtu: int = 1280
    sixrd: SixRd | None = None  # 6rd: the domain; relays then holds the border relay (a CE)
    border_relay: bool = False  # 6rd: this end is the border relay, not a customer edge
    _seen: dict[int, str | None] = field(default_factory=dict, compare=False, repr=False)

    def ipv4_category(self, address: int) -> str | None:
        """Why an IPv4 address may not appear in a tunnel header, or None."""
        try:
            return self._seen[address]
        except KeyError:
            pass
        found: str | None = None
        if address in self.broadcasts:
            found = "broadcast"
        else:
            for name, (net, mask) in IPV4_DISALLOWED:
                if address & mask == net:
                    found = name
                    break
            if found in LAB_MAY_ALLOW and any(address & m == n for n, m in self.lab):
                found = None
        if len(self._seen) > 4096:
            self._seen.clear()
        self._seen[address] = found
        return found

    def ipv6_category(self, address: int) -> str | None:
        for name, (net, mask) in IPV6_DISALLOWED:
            if address & mask == net:
                return name
        if is_6to4(address):
            why = self.ipv4_category(embedded_ipv4(address))
            if why is not None:
                return f"6to4_of_{why}"
        return None


@dataclass(frozen=True)
class Send:
    """Encapsulate towards ``dst`` (an IPv4 address as an integer)."""

    dst: int


class Deliver(NamedTuple):
    """Decapsulated: hand the inner packet to the IPv6 stack (a tuple: one is made
    for every packet delivered)."""

    packet: Packet


@dataclass(frozen=True)
class Drop:
    """Dropped for ``reason``; ``reply`` is an ICMPv6 error to write back, if any."""

    reason: str
    reply: bytes | None = None


Verdict = Send | Deliver | Drop


def _may_answer(packet: Packet, src_category: str | None, policy_router: int) -> bool:
    """RFC 4443 2.4(e): no error about an error, nor to an unusable source."""
    if src_category is not None or not policy_router:
        return False
    is_error = packet[6] == ICMPV6 and len(packet) > IPV6_HEADER and packet[IPV6_HEADER] < 128
    return not is_error


def encapsulate(policy: Policy, packet: Packet) -> Send | Drop:
    """A packet the IPv6 stack routed into the tunnel: to which IPv4 address."""
    try:
        src, dst = ipv6_addresses(packet)
    except Malformed:
        return Drop("inner_malformed")
    if dst >> 120 == 0xFF:  # no mapping of IPv6 multicast to IPv4: neither plane carries it
        return Drop("inner_dst_multicast")  # (the stack's own MLD reports end here)
    if policy.mode == "6in4":
        return _encapsulate_6in4(policy, packet, src, dst)
    if policy.mode == "6rd":
        return _encapsulate_6rd(policy, packet, src, dst)
    dropped = _inner_listed(policy, src, dst)
    if dropped is not None:
        return dropped
    if not is_6to4(src):
        return Drop("inner_src_not_6to4")  # a 6to4 router sends only its own site's packets
    if embedded_ipv4(src) != policy.local:
        return Drop("inner_src_not_own_6to4")
    if is_6to4(dst):
        target = embedded_ipv4(dst)
        if target in policy.own:
            return Drop("inner_dst_own_ipv4")
    elif policy.relays:
        target = policy.relays[0]
    else:
        reply = (
            no_route(policy.router, packet) if _may_answer(packet, None, policy.router) else None
        )
        return Drop("no_relay", reply)
    if len(packet) > policy.mtu:
        return _too_big(policy, packet)
    return Send(target)


def _inner_listed(policy: Policy, src: int, dst: int) -> Drop | None:
    """RFC 3964's IPv6 list, source first, then destination."""
    for side, address in (("src", src), ("dst", dst)):
        why = policy.ipv6_category(address)
        if why is not None:
            return Drop(f"inner_{side}_{why}")
    return None


def _configured_source(policy: Policy, src: int) -> Drop | None:
    """RFC 4213's inner source check: no ::/16 (loopback, mapped, ...) nor multicast."""
    why = policy.ipv6_category(src)
    if why in ("compatible_or_mapped", "multicast"):
        return Drop(f"inner_src_{why}")
    return None


def _encapsulate_6in4(policy: Policy, packet: Packet, src: int, dst: int) -> Send | Drop:
    dropped = _configured_source(policy, src)
    if dropped is not None:
        return dropped
    if policy.ipv6_category(dst) == "compatible_or_mapped":
        return Drop("inner_dst_compatible_or_mapped")
    if len(packet) > policy.mtu:
        return _too_big(policy, packet)
    assert policy.remote is not None
    return Send(policy.remote)


def _encapsulate_6rd(policy: Policy, packet: Packet, src: int, dst: int) -> Send | Drop:
    """A customer edge sends its own site's packets: to another edge of the
    domain straight, elsewhere to the border relay; the relay only into the domain."""
    domain = policy.sixrd
    assert domain is not None
    dropped = _inner_listed(policy, src, dst)
    if dropped is not None:
        return dropped
    if not policy.border_relay and not domain.is_own(src, policy.local):
        return Drop("inner_src_not_own_6rd")
    if domain.contains(dst):
        target = domain.ipv4_of(dst)
        if target in policy.own:
            return Drop("inner_dst_own_ipv4")
    elif policy.relays and not policy.border_relay:
        target = policy.relays[0]
    else:
        reply = (
            no_route(policy.router, packet) if _may_answer(packet, None, policy.router) else None
        )
        return Drop("inner_dst_not_6rd" if policy.border_relay else "no_relay", reply)
    if len(packet) > policy.mtu:
        return _too_big(policy, packet)
    return Send(target)


def _decapsulate_6rd(
    policy: Policy, src4: int, inner: Packet, src: int, dst: int
) -> Deliver | Drop:
    """RFC 5969 section 12: a source inside the domain must be the sender's own; one
    outside it may come only from the border relay. An edge takes only what is for its
    own delegated prefix; the relay takes what the domain's edges send anywhere."""
    domain = policy.sixrd
    assert domain is not None
    dropped = _inner_listed(policy, src, dst)
    if dropped is not None:
        return dropped
    if not policy.border_relay and not domain.is_own(dst, policy.local):
        return Drop("inner_dst_not_own_6rd")
    if domain.contains(src):
        if domain.ipv4_of(src) != src4:
            return Drop("inner_src_6rd_mismatch")
    elif policy.border_relay:
        return Drop("inner_src_not_6rd")
    elif src4 not in policy.relays:
        return Drop("inner_src_native_not_from_relay")
    return Deliver(inner)


def _too_big(policy: Policy, packet: Packet) -> Drop:
    src = int.from_bytes(packet[8:24], "big")
    category = policy.ipv6_category(src) if policy.mode != "6in4" else None
    ok = _may_answer(packet, category, policy.router)
    return Drop("too_big", packet_too_big(policy.router, packet, policy.mtu) if ok else None)


def decapsulate(policy: Policy, src4: int, dst4: int, inner: Packet) -> Deliver | Drop:
    """A protocol-41 packet from ``src4`` to ``dst4``: deliver its inner packet or drop."""
    why = policy.ipv4_category(dst4)
    if why is not None:
        return Drop(f"outer_dst_{why}")
    if dst4 not in policy.own:
        return Drop("outer_dst_not_own")
    if policy.mode == "6in4" and src4 != policy.remote:
        return Drop("outer_src_not_remote")  # RFC 4213 3.6: only the configured peer
    why = policy.ipv4_category(src4)
    if why is not None:
        return Drop(f"outer_src_{why}")
    if src4 in policy.own:
        return Drop("outer_src_own")
    try:
        src, dst = ipv6_addresses(inner)
    except Malformed:
        return Drop("inner_malformed")
    if policy.mode == "6in4":
        return _configured_source(policy, src) or Deliver(inner)
    if policy.mode == "6rd":
        return _decapsulate_6rd(policy, src4, inner, src, dst)
    dropped = _inner_listed(policy, src, dst)
    if dropped is not None:
        return dropped
    if not is_6to4(dst):
        return Drop("inner_dst_not_6to4")  # a 6to4 router is not a relay
    if embedded_ipv4(dst) != dst4:
        return Drop("inner_dst_6to4_mismatch")
    if is_6to4(src):
        if embedded_ipv4(src) != src4:
            return Drop("inner_src_6to4_mismatch")
    elif src4 not in policy.relays:
        return Drop("inner_src_native_not_from_relay")
    return Deliver(inner)


def lab_block(address: IPv4Address) -> tuple[int, int] | None:
    """The private block --lab allows for a tunnel whose own address is ``address``."""
    value = int(address)
    for name, (net, mask) in IPV4_DISALLOWED:
        if value & mask == net and name in LAB_MAY_ALLOW:
            return net, mask
    return None


def _well_formed(packet: Packet) -> bool:
    return (
        len(packet) >= IPV6_HEADER
        and packet[0] >> 4 == 6
        and IPV6_HEADER + int.from_bytes(packet[4:6], "big") == len(packet)
    )


class Flows:
    """The checks with a memory: every check above depends on the addresses alone
    (and the packet's lengths), so a packet of an address pair already passed
    needs only its lengths checked. Drops are never remembered; a new policy
    (the host's addresses changed) starts a new memory."""

    LIMIT = 65536

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._out: dict[bytes, Send] = {}
        self._in: set[tuple[int, int, bytes]] = set()
        # Who keeps a copy (the kernel's fast path, ``_ebpf``): told of each pair
        # remembered, and of each memory started over.
        self.observer: FlowsObserver | None = None

    def encapsulate(self, packet: Packet) -> Send | Drop:
        pair = bytes(packet[8:40])
        sent = self._out.get(pair)
        if sent is not None and len(packet) <= self.policy.mtu and _well_formed(packet):
            return sent
        verdict = encapsulate(self.policy, packet)
        if isinstance(verdict, Send):
            if len(self._out) >= self.LIMIT:
                self._out.clear()
                if self.observer is not None:
                    self.observer.cleared(out=True)
            self._out[pair] = verdict
            if self.observer is not None:
                self.observer.sends(pair, verdict.dst)
        return verdict

    def decapsulate(self, src4: int, dst4: int, inner: Packet) -> Deliver | Drop:
        key = (src4, dst4, bytes(inner[8:40]))
        if key in self._in and _well_formed(inner):
            return Deliver(inner)
        verdict = decapsulate(self.policy, src4, dst4, inner)
        if isinstance(verdict, Deliver):
            if len(self._in) >= self.LIMIT:
                self._in.clear()
                if self.observer is not None:
                    self.observer.cleared(out=False)
            self._in.add(key)
            if self.observer is not None:
                self.observer.delivers(*key)
        return verdict

    def remembered(self) -> tuple[list[tuple[bytes, int]], list[tuple[int, int, bytes]]]:
        """What is remembered: (pairs and where they go, delivered triples)."""
        return [(pair, sent.dst) for pair, sent in self._out.items()], list(self._in)


class FlowsObserver(Protocol):
    """A copy of a tunnel's remembered pairs (the kernel's fast path)."""

    def sends(self, pair: bytes, dst4: int) -> None: ...

    def delivers(self, src4: int, dst4: int, pair: bytes) -> None: ...

    def cleared(self, *, out: bool) -> None: ...
