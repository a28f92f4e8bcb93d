"""Tunnels on the eBPF plane: the kernel encapsulates and decapsulates what the
userspace plane has already checked.

``bpf/tunnel.c`` holds two tc programs. One is on the egress of the tunnel's
TUN device (``tc/encap``); the other is on the ingress of the interface that
holds the tunnel's IPv4 address (``tc/decap``). The userspace plane
(``ipv6.plane._service``) still runs the tunnel and makes every decision
(RFC 3964, RFC 4213 and RFC 5969's checks, ``_rules``). It remembers each
address pair it has checked (``_rules.Flows``) and, through this module,
writes it into the programs' maps. The next packets of the pair are then
carried in the kernel and never reach Python. Everything else still goes to
the userspace plane, untouched. The Python Flows is the reference:
tests/ipv6/test_ebpf_tunnel_differential.py runs packets through both.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from .. import _bpf
from .._bpfelf import BpfObjectError

OBJECT = Path(__file__).resolve().parent / "bpf" / "tunnel.o"
ENCAP, ENCAP_ETH, DECAP = "tc/encap", "tc/encap_eth", "tc/decap"
TTL = 64  # the raw socket's (net.ipv4.ip_default_ttl's default)
_CONFIG = struct.Struct("<4sIII")  # local, mtu, ttl, pad
_OUT = struct.Struct("<4s4xQQ")  # dst, pad, packets, bytes
_IN = struct.Struct("<I4xQQ")  # ifindex, pad, packets, bytes
COUNTER_NAMES = (
    "encapsulated_packets", "encapsulated_bytes", "decapsulated_packets",
    "decapsulated_bytes", "to_userspace", "no_route", "room_refused", "rewrite_failed",
)  # fmt: skip


def in_key(src4: int, dst4: int, pair: bytes) -> bytes:
    return src4.to_bytes(4, "big") + dst4.to_bytes(4, "big") + pair


@dataclass
class KernelTunnel:
    """One tunnel's programs and maps, loaded; its Flows' observer."""

    loaded: _bpf.Loaded
    ifindex: int  # the tunnel's device
    lost: int = 0  # pairs the kernel's maps had no room for: left to the userspace plane
    out_keys: set[bytes] = field(default_factory=set)
    in_keys: set[bytes] = field(default_factory=set)
    hooked: list[Any] = field(default_factory=list)  # its programs on their hooks (Attachments)

    @classmethod
    def load(cls, ifindex: int, *, path: Path | None = None) -> KernelTunnel:
        """BpfError (the verifier's words) or BpfObjectError when it cannot load."""
        path = path or OBJECT
        if not path.exists():
            raise BpfObjectError(f"{path} is missing: build it with scripts/bpf-build")
        return cls(_bpf.load(path, [ENCAP, ENCAP_ETH, DECAP]), ifindex)

    def configure(self, local: int, mtu: int, ttl: int = TTL) -> None:
        """The tunnel's IPv4 address and MTU."""
        config = _CONFIG.pack(local.to_bytes(4, "big"), mtu, ttl, 0)
        self.loaded.maps["config"].update(b"\0\0\0\0", config)

    def set_ident(self, value: int) -> None:
        self.loaded.maps["ident"].update(b"\0\0\0\0", struct.pack("<I", value & 0xFFFFFFFF))

    # -- Flows' observer --

    def sends(self, pair: bytes, dst4: int) -> None:
        try:
            self.loaded.maps["out4"].update(pair, _OUT.pack(dst4.to_bytes(4, "big"), 0, 0))
        except OSError:
            self.lost += 1
            return
        self.out_keys.add(pair)

    def delivers(self, src4: int, dst4: int, pair: bytes) -> None:
        key = in_key(src4, dst4, pair)
        try:
            self.loaded.maps["in6"].update(key, _IN.pack(self.ifindex, 0, 0))
        except OSError:
            self.lost += 1
            return
        self.in_keys.add(key)

    def cleared(self, *, out: bool) -> None:
        self.loaded.maps["out4" if out else "in6"].clear()
        (self.out_keys if out else self.in_keys).clear()

    def mirror(self, flows: object) -> None:
        """Write what ``flows`` (a ``_rules.Flows``) remembers, and observe it from here on."""
        from ._rules import Flows

        assert isinstance(flows, Flows)
        self.cleared(out=True)
        self.cleared(out=False)
        sent, delivered = flows.remembered()
        for pair, dst in sent:
            self.sends(pair, dst)
        for src4, dst4, pair in delivered:
            self.delivers(src4, dst4, pair)
        flows.observer = self

    def counters(self) -> dict[str, int]:
        counted = self.loaded.maps["counters"]
        return {n: counted.sum_per_cpu(struct.pack("<I", i)) for i, n in enumerate(COUNTER_NAMES)}

    def close(self) -> None:
        self.loaded.close()

    def detach(self) -> None:
        """Take the programs off (the device's goes with the device), and close."""
        for attachment in self.hooked:
            attachment.detach()
        self.hooked = []
        self.close()


def attach(spec: Any, flows: object, ours: list[KernelTunnel]) -> KernelTunnel | str:
    """A tunnel's programs (``spec`` a registry TunnelSpec whose device exists): on
    its device's egress and on the ingress of the interface holding its IPv4
    address, fed by ``flows`` from here on; or why not, in a line. ``ours``: the
    other tunnels' programs, whose ingress programs stay (any other there is a
    killed service's, and goes)."""
    from .._bpf import BpfError, why_not
    from .._interfaces import interface_of_address
    from .._netlink import Netlink
    from .._procsys import write_sysctl
    from ..ebpf import attach_tc

    uplink = interface_of_address(IPv4Address(spec.local))
    if uplink is None:
        return f"no interface here holds {spec.local}"
    kernel = None
    netlink = Netlink()
    try:
        index = socket.if_nametoindex(spec.name)
        kernel = KernelTunnel.load(index)
        kernel.configure(int(IPv4Address(spec.local)), spec.mtu)
        # The program looks routes up as for a packet that came in on the device.
        write_sysctl(f"net/ipv4/conf/{spec.name}/forwarding", "1")
        # Where the kernel has no tcx, the programs are cls_bpf filters, which stay
        # when a service is killed: any on the uplink that is not another running
        # tunnel's is such a leftover, and goes.
        kept = {op for other in ours for a in other.hooked for op in a.undo}
        for stale in netlink.tc_programs(uplink.index, egress=False, prefix="tunnel_decap") - kept:
            netlink.apply(stale)
        programs = kernel.loaded.programs
        kernel.hooked.append(attach_tc(index, programs[ENCAP], f"tunnel_encap_{index}_",
                                       egress=True, priority=1000 + index))  # fmt: skip
        kernel.hooked.append(attach_tc(uplink.index, programs[DECAP], f"tunnel_decap_{index}_",
                                       egress=False, priority=1000 + index))  # fmt: skip
    except (BpfError, BpfObjectError, OSError) as exc:
        if kernel is not None:
            kernel.detach()
        return why_not(exc)
    finally:
        netlink.close()
    kernel.mirror(flows)
    return kernel
