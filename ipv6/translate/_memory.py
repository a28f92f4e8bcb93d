"""What a stateful translation (NAT64, RFC 6146) remembers between packets,
beside its sessions (:mod:`._nat64`): the mapping of a fragmented datagram
for its later fragments, the fragments that came before their datagram's
first, and the IPv4 SYNs that no session took, held for a simultaneous open.

Rules of this module:
- Pure: keys, packets and times go in; what to do comes out (a reason to
  drop, the packets to translate now, the SYNs whose time ran out). The
  translator (:mod:`._siit`) translates what comes back.
- Everything is bounded: ``FRAGMENT_MEMORY`` datagrams' mappings (the oldest
  forgotten first), ``HELD_FRAGMENTS`` datagrams of held fragments and as
  many fragments each, ``HELD_SYNS`` SYNs each trimmed to what its port
  unreachable quotes.
- A held fragment is counted when its fate is known: released with its
  datagram's first fragment, or expired after ``FRAGMENT_TIMEOUT``. A held
  SYN likewise: made moot by the IPv6 side's SYN of its session, or, after
  the mapper's hold time, answered with a port unreachable.
"""

from __future__ import annotations

from collections import OrderedDict

from ._headers import ICMPV4_ERROR_LIMIT
from ._mapping import Mapped

FRAGMENT_MEMORY = 4096  # fragmented datagrams whose mapping is remembered
FRAGMENT_TIMEOUT = 2.0  # RFC 6146 4: FRAGMENT_MIN
HELD_FRAGMENTS = 64  # fragments held until the first of their datagram arrives
HELD_SYNS = 256  # unsolicited IPv4 SYNs held for a simultaneous open (RFC 6146 3.5.2.2)

FragmentKey = tuple[int, int, int, int, int]  # (family, source, destination, id, protocol)
SynKey = tuple[int, int, int, int]  # (IPv4 source, its port, destination, its port)


class Nat64Memory:
    def __init__(self, fragment_memory: int = FRAGMENT_MEMORY) -> None:
        self._fragments: OrderedDict[FragmentKey, tuple[float, Mapped]] = OrderedDict()
        self._fragment_limit = fragment_memory
        self._held: OrderedDict[FragmentKey, list[tuple[float, bytes]]] = OrderedDict()
        self._syns: OrderedDict[SynKey, tuple[float, bytes]] = OrderedDict()
        self.released_fragments = 0
        self.expired_fragments = 0
        self.syns_simultaneous = 0  # held SYNs an IPv6 SYN of their session made moot
        self.syns_unanswered = 0  # held SYNs answered, in the end, by a port unreachable

    # -- fragments --

    def remember(self, key: FragmentKey, mapped: Mapped, now: float) -> None:
        """A datagram's first fragment took ``mapped``: its later fragments will."""
        self._fragments[key] = (now + FRAGMENT_TIMEOUT, mapped)
        self._fragments.move_to_end(key)
        if len(self._fragments) > self._fragment_limit:
            self._fragments.popitem(last=False)

    def recall(self, key: FragmentKey, now: float) -> Mapped | None:
        found = self._fragments.get(key)
        if found is None or found[0] <= now:
            return None
        return found[1]

    def hold(self, key: FragmentKey, packet: bytes, now: float) -> str:
        """A fragment ahead of its datagram's first, kept until the first comes: the
        reason it is not translated now (held, or the memory is full)."""
        held = self._held.get(key)
        if held is None:
            if len(self._held) >= HELD_FRAGMENTS:
                return "fragment_memory_full"
            held = self._held[key] = []
        if len(held) >= HELD_FRAGMENTS:
            return "fragment_memory_full"
        held.append((now, packet))
        return "fragment_held"

    def release(self, key: FragmentKey) -> list[bytes]:
        """The fragments held for a datagram whose first has just been translated."""
        packets = [packet for _, packet in self._held.pop(key, ())]
        self.released_fragments += len(packets)
        return packets

    @property
    def held_fragments(self) -> int:
        return sum(len(held) for held in self._held.values())

    # -- IPv4 SYNs (RFC 6146 3.5.2.2) --

    def hold_syn(self, key: SynKey, packet: bytes, reason: str, until: float) -> str:
        """An IPv4 SYN no session took (for ``reason``), held until ``until``: the
        reason it goes no further now (held; a repeat of a held one; past
        ``HELD_SYNS``, ``reason`` itself)."""
        if key in self._syns:
            return "tcp_syn_repeated"
        if len(self._syns) >= HELD_SYNS:
            return reason
        # Only what its port unreachable will quote: 256 held SYNs stay within 150 KB.
        self._syns[key] = (until, bytes(packet[:ICMPV4_ERROR_LIMIT]))
        return "tcp_syn_held"

    def simultaneous_open(self, key: SynKey) -> None:
        """The IPv6 side opened the session of a held SYN: the held one is dropped."""
        if key in self._syns:
            del self._syns[key]
            self.syns_simultaneous += 1

    @property
    def held_syns(self) -> int:
        return len(self._syns)

    # -- time --

    def expire(self, now: float) -> list[tuple[SynKey, bytes]]:
        """Forget what is past its time; the held SYNs whose time ran out, to answer."""
        unanswered: list[tuple[SynKey, bytes]] = []
        while self._syns:
            syn_key, (until, syn) = next(iter(self._syns.items()))
            if until > now:
                break
            del self._syns[syn_key]
            self.syns_unanswered += 1
            unanswered.append((syn_key, syn))
        while self._fragments:
            key, (expires, _) = next(iter(self._fragments.items()))
            if expires > now:
                break
            del self._fragments[key]
        while self._held:
            key, held = next(iter(self._held.items()))
            if held[0][0] + FRAGMENT_TIMEOUT > now:
                break
            self.expired_fragments += len(held)
            del self._held[key]
        return unanswered
