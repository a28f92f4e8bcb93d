"""Translators on the eBPF plane: the kernel translates remembered flows.

``bpf/xlat.c`` is a tc program on the egress of the translator's TUN device.
The userspace plane still reads what the program leaves it (a flow's first
packet, SYN, FIN, RST, ICMP, fragments, what is too big, what it refuses) and
translates it with the pure core; a TCP or UDP flow that went the full way is
remembered there (``_fastpath``) and, through this module, written into the
program's maps, so that the flow's next packets are translated in the kernel
and put back into the device's ingress without leaving it. The Python fast
path is the reference: the same packet of the same remembered flow gives the
same bytes (tests/ipv6/test_ebpf_differential.py).

Stateful NAT64's decisions stay in Python: a session's flows are written into
the maps only while it is established, and taken out when a packet that the
userspace plane sees (a FIN or RST) or its timer ends that; the kernel's last
packet time refreshes the session's lifetime each second, before expiry.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _bpf
from .._bpfelf import BpfObjectError
from ._fastpath import ESTABLISHED, Entry, FlowCache

OBJECT = Path(__file__).resolve().parent / "bpf" / "xlat.o"
SECTION_L3, SECTION_ETH = "tc/l3", "tc/eth"
_CONFIG = struct.Struct("<IIII")  # ifindex, mtu6, mtu, pad
_ENTRY_TAIL = struct.Struct("<4xQQQ")  # pad, last_ns, packets, bytes
COUNTER_NAMES = (
    "to_ipv4_packets", "to_ipv4_bytes", "to_ipv6_packets", "to_ipv6_bytes",
    "to_userspace", "change_refused", "rewrite_failed",
)  # fmt: skip


def kernel_key(proto: int, key: bytes) -> bytes:
    """The program's key for a flow cache key (addresses and ports) of ``proto``."""
    return bytes((proto, 0, 0, 0)) + key


def kernel_entry(entry: Entry) -> bytes:
    """The program's value for a remembered flow: addresses, ports, zero counts."""
    _session, src, dst, ports, _delta, _lifetime = entry
    return src + dst + ports + _ENTRY_TAIL.pack(0, 0, 0)


def entry_counts(value: bytes) -> tuple[int, int, int]:
    """A kernel entry's last packet time (CLOCK_MONOTONIC, ns), packets and bytes."""
    tail = value[-_ENTRY_TAIL.size :]
    return _ENTRY_TAIL.unpack(tail)


def _alive(session: Any, now: float) -> bool:
    return session is None or (session.state in (ESTABLISHED, "") and session.expires > now)


@dataclass
class KernelFlows:
    """The translator's program and maps, loaded; the flow cache's observer."""

    loaded: _bpf.Loaded
    section: str
    counts: dict[bytes, int] = field(default_factory=dict)  # kernel key -> its packets, as seen
    # Which kernel keys each session has, to take them out when it ends.
    by_session: dict[int, list[tuple[bool, bytes]]] = field(default_factory=dict)
    lost: int = 0  # flows the kernel would not take (its map full): left to Python

    @classmethod
    def load(cls, *, section: str = SECTION_L3, path: Path = OBJECT) -> KernelFlows:
        """Load the program (BpfError with the verifier's words if the kernel
        refuses it, BpfObjectError if the object is missing or wrong)."""
        if not path.exists():
            raise BpfObjectError(f"{path} is missing: build it with scripts/bpf-build")
        return cls(_bpf.load(path, [SECTION_L3, SECTION_ETH]), section)

    @property
    def program_fd(self) -> int:
        return self.loaded.programs[self.section]

    def configure(self, ifindex: int, mtu6: int, mtu: int) -> None:
        self.loaded.maps["config"].update(b"\0\0\0\0", _CONFIG.pack(ifindex, mtu6, mtu, 0))

    def set_ident(self, value: int) -> None:
        """The IPv4 identification the next translated packet's follows."""
        self.loaded.maps["ident"].update(b"\0\0\0\0", struct.pack("<I", value & 0xFFFFFFFF))

    def ident(self) -> int:
        return int.from_bytes(self.loaded.maps["ident"].lookup(b"\0\0\0\0") or b"\0" * 4, "little")

    def _map(self, to4: bool) -> _bpf.Map:
        return self.loaded.maps["flows4" if to4 else "flows6"]

    # -- the flow cache's observer --

    def remembered(self, to4: bool, proto: int, key: bytes, entry: Entry) -> None:
        k = kernel_key(proto, key)
        try:
            self._map(to4).update(k, kernel_entry(entry))
        except OSError:
            self.lost += 1  # the map is full: the flow stays on the userspace fast path
            return
        self.counts[k] = 0
        session = entry[0]
        if session is not None:
            self.by_session.setdefault(id(session), []).append((to4, k))

    def cleared(self, to4: bool) -> None:
        kmap = self._map(to4)
        kmap.clear()
        size = kmap.definition.key_size  # the two ways' keys differ in length
        self.counts = {k: v for k, v in self.counts.items() if len(k) != size}
        for session, keys in list(self.by_session.items()):
            kept = [(way, k) for way, k in keys if way != to4]
            if kept:
                self.by_session[session] = kept
            else:
                del self.by_session[session]

    def forget_session(self, session: Any) -> None:
        """Take a session's flows out of the kernel (it is no longer established)."""
        for to4, k in self.by_session.pop(id(session), ()):
            self._map(to4).delete(k)
            self.counts.pop(k, None)

    def mirror(self, cache: FlowCache, now: float) -> None:
        """Write every remembered flow still alive at ``now`` and observe from here on."""
        for to4 in (True, False):
            for proto, key, entry in cache.items(to4):
                if _alive(entry[0], now):
                    self.remembered(to4, proto, key, entry)
        cache.observer = self

    def refresh(self, cache: FlowCache, now: float) -> tuple[int, int]:
        """Bring each remembered session up to what the kernel saw since last time:
        its lifetime from the last packet, its packet counts; then take out the
        flows whose session is no longer alive. What the kernel translated since
        last time: (packets to IPv4, packets to IPv6)."""
        mono = time.monotonic_ns()
        moved = [0, 0]
        for to4 in (True, False):
            # The whole map in a few system calls (one per 4,096 flows), not one per flow.
            held = self._map(to4).items() if self.counts else {}
            for proto, key, entry in cache.items(to4):
                k = kernel_key(proto, key)
                if k not in self.counts:
                    continue
                value = held.get(k)
                if value is None:
                    self.counts.pop(k, None)
                    continue
                last_ns, packets, _bytes = entry_counts(value)
                seen = self.counts[k]
                if packets > seen:
                    self.counts[k] = packets
                    moved[0 if to4 else 1] += packets - seen
                    session, lifetime = entry[0], entry[5]
                    if session is not None:
                        if to4:
                            session.packets_out += packets - seen
                        else:
                            session.packets_in += packets - seen
                        last = now - max(0, mono - last_ns) / 1e9
                        session.expires = max(session.expires, last + lifetime)
        return moved[0], moved[1]

    def sweep(self, cache: FlowCache, now: float) -> None:
        """Take out the kernel's copies of flows whose session has ended."""
        for to4 in (True, False):
            for proto, key, entry in cache.items(to4):
                if not _alive(entry[0], now):
                    k = kernel_key(proto, key)
                    if self.counts.pop(k, None) is not None:
                        self._map(to4).delete(k)
                        if entry[0] is not None:
                            self.by_session.pop(id(entry[0]), None)

    def counters(self) -> dict[str, int]:
        """What the program counted, summed over the CPUs."""
        counters = self.loaded.maps["counters"]
        return {
            name: counters.sum_per_cpu(struct.pack("<I", i)) for i, name in enumerate(COUNTER_NAMES)
        }

    def close(self) -> None:
        self.loaded.close()
