"""What the userspace plane does with each packet the kernel queues to it: the
seeds' policy lookup, then AH on the way out and AH checked on the way in.

Rules of this module:
- Pure, as h11 is: a whole IPv6 packet goes in, an :class:`Accept` (the packet
  to send on, or None for "as it came") or a :class:`Drop` with its reason
  comes out. The queue, the socket and the clock are the driver's
  (:mod:`ipv6.ipsec._service`).
- A packet falls under the first policy, in the active list's order (highest
  index first), whose direction and selectors match; no policy, or BYPASS:
  it passes as it is. DISCARD drops it. APPLY needs an SA: outbound, the
  policy's OUTBOUND SA for the packet's destination, whose next sequence
  number goes in the AH; inbound, an AH whose SPI is one of the policy's
  INBOUND SAs for this host's address, whose ICV verifies and whose sequence
  number the SA's replay window has not seen. Anything else is dropped,
  never let through in the clear.
- Multicast destinations are not matched by any policy: a manually keyed SA
  names one unicast address, so a group's packets pass as they are (otherwise
  a "secure everything" policy would end Neighbor Discovery).
- Every drop is counted by a reason in :data:`DROP_REASONS`; every SA counts
  what it carried. Reconfiguring keeps the sequence numbers and replay
  windows of SAs that did not change.
"""

from __future__ import annotations

import collections
import struct
from dataclasses import dataclass, field
from ipaddress import IPv6Address

from ._ah import ALGORITHMS, NH_AH, AhError, IcvMismatch, protect, verify
from ._files import Association, Policy, Selectors, policy_for
from ._fragment import fragment
from ._replay import ReplayWindow

NH_TCP, NH_UDP, NH_FRAGMENT = 6, 17, 44
EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options: walked past
MAX_SEQUENCE = 0xFFFFFFFF
AH_IDS = struct.Struct("!II")  # an AH's SPI and sequence number, 4 octets in
FLOW_CACHE = 4096  # flows whose policy is remembered; forgotten all at once beyond

DROP_REASONS = {
    "malformed": "not a whole IPv6 packet, or its headers run past it",
    "policy_discard": "a DISCARD policy matched",
    "no_outbound_sa": "an APPLY policy matched and no OUTBOUND SA goes to the destination",
    "sequence_exhausted": "the OUTBOUND SA sent 2^32 - 1 packets: it must be keyed anew",
    "unprotected": "an APPLY policy matched and the packet carries no AH",
    "unknown_spi": "the AH's SPI is not an INBOUND SA of the policy for this address",
    "malformed_ah": "the AH's length does not fit the SA's algorithm, or it is cut short",
    "bad_icv": "the ICV is wrong (a wrong key, or the packet was changed)",
    "replayed": "the sequence number was already received",
    "behind_window": "the sequence number is older than the replay window",
    "sequence_zero": "sequence number 0 is never sent",
}


@dataclass(frozen=True)
class Accept:
    packet: bytes | None  # None: as it came
    how: str  # what was done: "protected", "verified", "no_policy", "bypass", "multicast"


@dataclass(frozen=True)
class Split:
    """A protected packet too big for the link it leaves by, as fragments to send
    in its place (the original is dropped): the kernel would refuse it whole."""

    fragments: tuple[bytes, ...]


@dataclass(frozen=True)
class Drop:
    reason: str  # a key of DROP_REASONS


@dataclass
class SaState:
    """An active SA and what it has done."""

    association: Association
    sequence: int = 0  # OUTBOUND: the last number sent
    window: ReplayWindow = field(default_factory=ReplayWindow)  # INBOUND
    packets: int = 0
    octets: int = 0
    drops: collections.Counter[str] = field(default_factory=collections.Counter)

    def to_json(self) -> dict[str, object]:
        a = self.association
        return {
            "index": a.index,
            "spi": a.spi,
            "destination": str(a.destination),
            "algorithm": a.algorithm,
            "direction": a.direction,
            "policy": a.policy,
            "packets": self.packets,
            "octets": self.octets,
            "sequence": self.sequence if a.direction == "OUTBOUND" else self.window.highest,
            "drops": dict(sorted(self.drops.items())),
        }


@dataclass(frozen=True)
class Headers:
    """What a policy and an SA look at in a packet (addresses as their 16 octets)."""

    src: bytes
    dst: bytes
    protocol: int  # the upper layer's, past every extension header and AH
    src_port: int | None
    dst_port: int | None
    spi: int | None  # the AH's, when there is one
    sequence: int = 0  # the AH's

    def selectors(self, outbound: bool) -> Selectors:
        src, dst = IPv6Address(self.src), IPv6Address(self.dst)
        if outbound:
            return Selectors(dst, src, self.protocol, self.dst_port, self.src_port)
        return Selectors(src, dst, self.protocol, self.src_port, self.dst_port)

    def flow(self, outbound: bool) -> tuple[object, ...]:
        """What the policy lookup depends on: packets alike here get the same policy."""
        return (outbound, self.src, self.dst, self.protocol, self.src_port, self.dst_port)


def headers_untrusted(packet: bytes) -> Headers:
    """The addresses, upper-layer protocol, ports and AH SPI of an IPv6 packet;
    ValueError when its headers do not add up."""
    try:
        return _headers(packet)
    except (struct.error, IndexError) as exc:
        raise ValueError(f"cut short ({exc})") from None


def _headers(packet: bytes) -> Headers:
    if len(packet) < 40 or packet[0] >> 4 != 6:
        raise ValueError("not an IPv6 packet")
    if 40 + struct.unpack_from("!H", packet, 4)[0] != len(packet):
        raise ValueError("the payload length does not match")
    at, kind, spi, sequence = 40, packet[6], None, 0
    ports: tuple[int | None, int | None] = (None, None)
    while True:
        if kind in EXTENSIONS:
            kind, at = packet[at], at + (packet[at + 1] + 1) * 8
        elif kind == NH_AH:
            spi, sequence = AH_IDS.unpack_from(packet, at + 4)
            kind, at = packet[at], at + (packet[at + 1] + 2) * 4
        elif kind == NH_FRAGMENT:
            if struct.unpack_from("!H", packet, at + 2)[0] & 0xFFF8:
                break  # a later fragment: no upper-layer header to read
            kind, at = packet[at], at + 8
        else:
            if kind in (NH_TCP, NH_UDP):
                ports = struct.unpack_from("!HH", packet, at)
            break
        if at > len(packet):
            raise ValueError("an extension header runs past the packet")
    return Headers(packet[8:24], packet[24:40], kind, ports[0], ports[1], spi, sequence)


class Engine:
    """The active policies and SAs, and what they have done.

    The policy a flow (addresses, protocol, ports, direction) falls under is
    remembered, up to ``flow_cache`` flows (then all are forgotten at once), and
    the SAs are indexed by what looks them up: a packet costs a dictionary
    lookup, not a walk of the lists. Reconfiguring forgets every flow."""

    def __init__(self, policies: list[Policy], associations: list[Association], *,
                 identification: int = 0, flow_cache: int = FLOW_CACHE) -> None:  # fmt: skip
        self.policies: list[Policy] = []
        self.identification = identification  # the next fragment identification
        self.sas: dict[int, SaState] = {}
        self.handled: collections.Counter[str] = collections.Counter()
        self.drops: collections.Counter[str] = collections.Counter()
        self._flow_cache = flow_cache
        self._flows: dict[tuple[object, ...], Policy | None] = {}
        self._outbound: dict[tuple[int, bytes], SaState] = {}
        self._inbound: dict[tuple[int, bytes, int], SaState] = {}
        self.configure(policies, associations)

    def configure(self, policies: list[Policy], associations: list[Association]) -> None:
        """Take a new active list; an SA that is the same as before keeps its state."""
        self.policies = sorted(policies, key=lambda p: -p.index)
        old = {s.association: s for s in self.sas.values()}
        self.sas = {a.index: old.get(a) or SaState(a) for a in associations}
        self._flows.clear()
        self._outbound, self._inbound = {}, {}
        for state in sorted(self.sas.values(), key=lambda s: -s.association.index):
            a = state.association
            if a.direction == "OUTBOUND":
                self._outbound.setdefault((a.policy, a.destination.packed), state)
            else:
                self._inbound.setdefault((a.policy, a.destination.packed, a.spi), state)

    def _policy(self, packet: bytes, outbound: bool) -> tuple[Headers, Policy] | Accept | Drop:
        try:
            headers = headers_untrusted(packet)
        except ValueError:
            return self._drop("malformed")
        if headers.dst[0] == 0xFF:
            return self._accept(None, "multicast")
        flow = headers.flow(outbound)
        try:
            policy = self._flows[flow]
        except KeyError:
            policy = policy_for(self.policies, outbound, headers.selectors(outbound))
            if len(self._flows) >= self._flow_cache:
                self._flows.clear()
            if self._flow_cache:
                self._flows[flow] = policy
        if policy is None:
            return self._accept(None, "no_policy")
        if policy.action == "BYPASS":
            return self._accept(None, "bypass")
        if policy.action == "DISCARD":
            return self._drop("policy_discard")
        return headers, policy

    def outbound(self, packet: bytes, mtu: int | None = None) -> Accept | Split | Drop:
        """A packet this host sends: as it is, with an AH, or dropped. With the
        ``mtu`` of the link it leaves by, a packet that fits it and no longer
        does with its AH is split (a bigger one is a whole the kernel reassembled
        and fragments again itself)."""
        found = self._policy(packet, outbound=True)
        if not isinstance(found, tuple):
            return found
        headers, policy = found
        state = self._outbound.get((policy.index, headers.dst))
        if state is None:
            return self._drop("no_outbound_sa")
        if state.sequence >= MAX_SEQUENCE:
            return self._drop("sequence_exhausted", state)
        a = state.association
        try:
            protected = protect(packet, a.spi, state.sequence + 1, ALGORITHMS[a.algorithm], a.key)
        except AhError:
            return self._drop("malformed", state)
        state.sequence += 1
        state.packets += 1
        state.octets += len(protected)
        if mtu is not None and len(packet) <= mtu < len(protected):
            self.identification = (self.identification + 1) & 0xFFFFFFFF
            self.handled["protected_fragmented"] += 1
            return Split(tuple(fragment(protected, mtu, self.identification)))
        return self._accept(protected, "protected")

    def inbound(self, packet: bytes) -> Accept | Drop:
        """A packet for this host: its AH checked and removed, as it is, or dropped."""
        found = self._policy(packet, outbound=False)
        if not isinstance(found, tuple):
            return found
        headers, policy = found
        if headers.spi is None:
            return self._drop("unprotected")
        state = self._inbound.get((policy.index, headers.dst, headers.spi))
        if state is None:
            return self._drop("unknown_spi")
        a = state.association
        sequence = headers.sequence
        refused = state.window.check(sequence)
        if refused is not None:
            reason = {"sequence number 0": "sequence_zero", "replayed": "replayed"}.get(
                refused, "behind_window"
            )
            return self._drop(reason, state)
        try:
            checked = verify(packet, ALGORITHMS[a.algorithm], a.key)
        except IcvMismatch:
            return self._drop("bad_icv", state)
        except AhError:
            return self._drop("malformed_ah", state)
        state.window.accept(sequence)
        state.packets += 1
        state.octets += len(packet)
        return self._accept(checked.packet, "verified")

    def _accept(self, packet: bytes | None, how: str) -> Accept:
        self.handled[how] += 1
        return Accept(packet, how)

    def _drop(self, reason: str, state: SaState | None = None) -> Drop:
        self.drops[reason] += 1
        if state is not None:
            state.drops[reason] += 1
        return Drop(reason)
