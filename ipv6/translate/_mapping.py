"""Where a translated packet's addresses and ports go, as pure values: RFC 6052
prefixes of every length (IPv4 addresses embedded in IPv6 ones and taken out
again), the :class:`Mapper` interface the translator asks, and the stateless
mapper of SIIT (RFC 7915), with explicit address mappings (RFC 7757). The
stateful NAT64 of ``_nat64`` (RFC 6146) is the other mapper. Pure.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Address, IPv6Network
from typing import Protocol

from .._derive import NAT64_LENGTHS, NAT64_WELL_KNOWN
from .._errors import BadInput

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58

# Non-global IPv4 space (RFC 6890) that the well-known prefix must not carry (RFC 6052 3.1).
_NON_GLOBAL = tuple(
    (int(n.network_address), int(n.netmask))
    for n in map(
        IPv4Network,
        (
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
            "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16",
            "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
        ),
    )
)  # fmt: skip


def is_global4(address: int) -> bool:
    return not any(address & mask == net for net, mask in _NON_GLOBAL)


def forwardable4(address: int) -> bool:
    """Whether a router may forward a packet from or to ``address``: not "this network"
    (0/8) nor loopback (127/8, RFC 1812 5.3.7 and 4.2.2.11), not link-local (169.254/16,
    RFC 3927 7: a router MUST NOT forward it), not multicast (224/4: no unicast mapping,
    RFC 7915 1.2) nor class E with the limited broadcast (240/4, RFC 1812 4.2.2.11).
    Per packet, so by the octets rather than a list of networks."""
    top = address >> 24
    return 0 < top < 224 and top != 127 and address >> 16 != 0xA9FE


class Prefix64:
    """An RFC 6052 prefix, with the IPv4 address embedded and extracted as integers."""

    __slots__ = ("_high", "_low_shift", "_n1", "length", "network", "strict")

    def __init__(self, network: int, length: int) -> None:
        self.network, self.length = network, length
        self._n1 = max(0, 64 - length) if length <= 64 else 0  # IPv4 bits before octet 8
        self._high = 32 - self._n1  # IPv4 bits after it
        self._low_shift = 24 + self._n1 if length <= 64 else 0
        # RFC 6052 3.1: the well-known prefix carries only global IPv4 addresses.
        self.strict = network == int(NAT64_WELL_KNOWN.network_address) and length == 96

    @classmethod
    def parse(cls, text: str) -> Prefix64:
        """A prefix from text, refused (BadInput) where RFC 6052 forbids it."""
        try:
            net = IPv6Network(text, strict=True)
        except ValueError as exc:
            raise BadInput(f"NAT64 prefix {text!r}: {exc}") from None
        if net.prefixlen not in NAT64_LENGTHS:
            raise BadInput(
                f"NAT64 prefix {net}: RFC 6052 allows /32, /40, /48, /56, /64 and /96 only"
            )
        if net.network_address.packed[8] != 0:
            raise BadInput(f"NAT64 prefix {net}: bits 64 to 71 must be zero (RFC 6052 2.2)")
        return cls(int(net.network_address), net.prefixlen)

    def __str__(self) -> str:
        return f"{IPv6Address(self.network)}/{self.length}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prefix64) and (other.network, other.length) == (
            self.network,
            self.length,
        )

    def __hash__(self) -> int:
        return hash((self.network, self.length))

    def contains(self, address: int) -> bool:
        return address >> (128 - self.length) == self.network >> (128 - self.length)

    def embed(self, v4: int) -> int | None:
        """The IPv6 address for IPv4 ``v4``, or None if the prefix may not carry it."""
        if self.strict and not is_global4(v4):
            return None
        if self.length == 96:
            return self.network | v4
        n1 = self._n1
        high = (v4 >> self._high) << 64 if n1 else 0
        low = (v4 & ((1 << self._high) - 1)) << self._low_shift
        return self.network | high | low

    def embed_any(self, v4: int) -> int:
        """``v4`` in the prefix even where RFC 6052 3.1 forbids carrying it (the
        translator's own address, only ever the source of its own errors)."""
        strict, self.strict = self.strict, False
        try:
            found = self.embed(v4)
        finally:
            self.strict = strict
        assert found is not None
        return found

    def extract(self, v6: int) -> int | None:
        """The IPv4 address inside ``v6``, or None if ``v6`` is not in the prefix."""
        if not self.contains(v6):
            return None
        if self.length == 96:
            v4 = v6 & 0xFFFFFFFF
        else:
            n1 = self._n1
            high = ((v6 >> 64) & ((1 << n1) - 1)) << self._high if n1 else 0
            v4 = high | ((v6 >> self._low_shift) & ((1 << self._high) - 1))
        if self.strict and not is_global4(v4):
            return None
        return v4


Flow = tuple[int, int, int, int, int]  # (protocol, source, source port, destination, its port)
Mapped = tuple[int, int, int, int]  # (source, source port, destination, destination port)


class Mapper(Protocol):
    """Where a flow's addresses and ports go. Ports are ICMP query identifiers
    for ICMP (both the same), and 0 for protocols without ports.

    A flow's addresses are only ever mapped where a router may forward them
    (:func:`forwardable4`); one address on its own (:meth:`address4`,
    :meth:`address6`: the source of an ICMP error) is mapped whatever it is, for
    the purpose of trouble shooting (RFC 7915 4.1)."""

    stateful: bool  # whether the mapping depends on ports (fragments then need memory)
    prefix: Prefix64

    @property
    def syn_hold(self) -> float:
        """Seconds an IPv4 SYN that no session takes is held (0: not held)."""

    def outbound(self, flow: Flow, flags: int, now: float, *, create: bool) -> Mapped | str:
        """An IPv6 flow's IPv4 form, or why it has none."""

    def inbound(
        self, flow: Flow, flags: int, now: float, *, create: bool, hairpinned: bool = False
    ) -> Mapped | str:
        """An IPv4 flow's IPv6 form, or why it has none. ``hairpinned``: the flow is
        one the translator made from an IPv6 packet and turns back to IPv6."""

    def address4(self, v6: int) -> int | None:
        """One IPv6 address's stateless IPv4 form (a router's, in an ICMP error)."""

    def address6(self, v4: int) -> int | None:
        """One IPv4 address's stateless IPv6 form (a router's, in an ICMP error)."""

    def paired4(self, v6: int) -> int | None:
        """The IPv4 address an explicit mapping pairs with ``v6`` (a host's), or None."""

    def hairpin(self, v4: int) -> bool:
        """Whether an IPv4 destination stands for a host on the IPv6 side, so that a
        packet the translator made for it goes straight back to IPv6 (RFC 6146 3.8,
        RFC 7757 4)."""

    def last_flow(self) -> tuple[object, float] | None:
        """The flow of the mapping made last, for its next packets' fast path: its
        session (None without state) and how long a packet keeps it (0: forever);
        None when its packets must take the full path (a session not established)."""

    def expire(self, now: float) -> None:
        """Forget what has timed out."""


class StatelessMapper:
    """SIIT's mapping: explicit address pairs first (RFC 7757), then the prefix.

    ``pairs`` maps IPv4 addresses to IPv6 ones. A pair's IPv6 host is on the IPv6
    side (the usual: an IPv6 server that IPv4 reaches as the pair's IPv4 address)
    unless its IPv4 address is in ``ipv4_side`` (an IPv4 host that IPv6 reaches as
    the pair's IPv6 address). IPv6 hosts on the IPv6 side reach each other through
    the IPv4 form of a pair: those packets are hairpinned (RFC 7757 4)."""

    stateful = False
    syn_hold = 0.0

    def __init__(
        self, prefix: Prefix64, pairs: dict[int, int] | None = None,
        ipv4_side: frozenset[int] = frozenset(),
    ) -> None:  # fmt: skip
        self.prefix = prefix
        self.to4 = {v6: v4 for v4, v6 in (pairs or {}).items()}
        self.to6 = dict(pairs or {})
        self.hairpins = frozenset(v4 for v4 in self.to6 if v4 not in ipv4_side)

    def address4(self, v6: int) -> int | None:
        found = self.to4.get(v6)
        return found if found is not None else self.prefix.extract(v6)

    def address6(self, v4: int) -> int | None:
        found = self.to6.get(v4)
        return found if found is not None else self.prefix.embed_any(v4)

    def paired4(self, v6: int) -> int | None:
        return self.to4.get(v6)

    def _forward4(self, v6: int) -> int | None:
        found = self.to4.get(v6)
        if found is None:
            found = self.prefix.extract(v6)
        return found if found is not None and forwardable4(found) else None

    def _forward6(self, v4: int, *, by_prefix: bool = False) -> int | None:
        if not forwardable4(v4):
            return None
        found = None if by_prefix else self.to6.get(v4)
        return found if found is not None else self.prefix.embed(v4)

    def outbound(self, flow: Flow, flags: int, now: float, *, create: bool) -> Mapped | str:
        _, src, sport, dst, dport = flow
        src4, dst4 = self._forward4(src), self._forward4(dst)
        if dst4 is None:
            return "destination_unmapped"
        if src4 is None:
            return "source_unmapped"
        return src4, sport, dst4, dport

    def inbound(
        self, flow: Flow, flags: int, now: float, *, create: bool, hairpinned: bool = False
    ) -> Mapped | str:
        _, src, sport, dst, dport = flow
        # A hairpinned packet's source takes the prefix's form, not its pair's: the
        # host it goes to answers that form, and the answer comes back the same way.
        src6, dst6 = self._forward6(src, by_prefix=hairpinned), self._forward6(dst)
        if dst6 is None:
            return "destination_unmapped"
        if src6 is None:
            return "source_unmapped"
        return src6, sport, dst6, dport

    def last_flow(self) -> tuple[object, float] | None:
        return (None, 0.0)  # no state: every flow's mapping stands as long as the prefix

    def hairpin(self, v4: int) -> bool:
        return v4 in self.hairpins

    def expire(self, now: float) -> None:
        return None
