"""The kernel features the toolkit uses, as data: what each is, the kernel
option that builds it, the commands that need it, and what they do without it.

Rules of this module:
- Pure: one row per feature (:data:`FEATURES`), the state a probe found for
  each (:class:`Finding`), and the one line a command says when a feature it
  cannot do without is absent (:class:`KernelLacks`). The probing itself is
  :mod:`ipv6._probe`'s.
- A feature is present, absent, or unknown (the probe could not try it: no
  privilege, a program missing); a command treats unknown as present and lets
  the kernel answer, so a probe that could not run never stops a command.
- Where the toolkit has a fallback (a userspace plane), a row names it; where
  it has none, a command that needs the feature refuses with
  :class:`KernelLacks` (exit 7), naming the feature and its kernel option.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import Ipv6Error
from ._result import Result

EXIT_KERNEL_LACKS = 7

PRESENT, ABSENT, UNKNOWN = "present", "absent", "unknown"


@dataclass(frozen=True)
class Feature:
    name: str
    title: str
    config: str  # the kernel option(s) that build it
    used_by: str  # the commands that use it
    without: str  # what those commands do when it is absent
    fallback: bool  # whether the toolkit carries on without it (another plane)


FEATURES: tuple[Feature, ...] = (
    Feature("ip_mroute", "IPv4 multicast routing", "CONFIG_IP_MROUTE",
            "mcast route (IPv4), mcast proxy (IGMP)",
            "the eBPF forwarding plane (tc programs) forwards instead, or the userspace one "
            "(packet sockets) where the kernel has no eBPF on tc", True),
    Feature("ip6_mroute", "IPv6 multicast routing", "CONFIG_IPV6_MROUTE",
            "mcast route (IPv6), mcast proxy (MLD)",
            "the eBPF forwarding plane (tc programs) forwards instead, or the userspace one "
            "(packet sockets) where the kernel has no eBPF on tc", True),
    Feature("packet", "packet sockets", "CONFIG_PACKET",
            "mcast watch, mcast querier, mcast proxy, the userspace multicast forwarding plane",
            "they refuse: nothing else reads a link's IGMP and MLD", False),
    Feature("sit", "sit tunnels (6to4, 6in4, 6rd in the kernel)", "CONFIG_IPV6_SIT",
            "ipv6 tunnel, ipv6 6to4cfg, netsh interface 6to4 (--plane kernel)",
            "the userspace tunnel plane (TUN and a raw socket) carries them", True),
    Feature("tun", "TUN devices", "CONFIG_TUN",
            "the userspace tunnel plane, ipv6 nat64, ipv6 clat",
            "they refuse (tunnels use sit where the kernel has it)", False),
    Feature("tun_offload", "TUN offloads (virtio-net headers, TSO6, checksums)", "CONFIG_TUN",
            "the userspace tunnel plane",
            "it moves one packet per system call (as --no-offload)", True),
    Feature("xfrm_ah", "IPv6 AH in XFRM", "CONFIG_INET6_AH",
            "ipsec6 (--plane kernel)",
            "ipsec6's userspace plane (NFQUEUE) protects and checks AH", True),
    Feature("nfqueue", "NFQUEUE (queueing packets to user space)",
            "CONFIG_NETFILTER_NETLINK_QUEUE, CONFIG_NETFILTER_XT_TARGET_NFQUEUE",
            "ipsec6 (--plane userspace)",
            "ipsec6 needs the kernel's AH instead", False),
    Feature("statistic", "the iptables statistic match (random loss)",
            "CONFIG_NETFILTER_XT_MATCH_STATISTIC",
            "the tour's PGM scene, the loss tests",
            "the tour moves its PGM file without injected loss, and says so", True),
    Feature("veth", "veth pairs", "CONFIG_VETH",
            "ipv6 lab up",
            "labs cannot be built", False),
    Feature("bridge", "bridges", "CONFIG_BRIDGE",
            "ipv6 lab up (labs with a bridge)",
            "labs with a bridge cannot be built", False),
    Feature("bridge_snooping", "bridge IGMP/MLD snooping", "CONFIG_BRIDGE_IGMP_SNOOPING",
            "mcast show mdb, labs with snooping = true",
            "mcast show mdb refuses; a lab asking for snooping refuses", False),
    Feature("ebpf_tc", "eBPF classifiers on tc (clsact, cls_bpf direct action)",
            "CONFIG_BPF_SYSCALL, CONFIG_NET_CLS_BPF, CONFIG_NET_SCH_INGRESS",
            "the eBPF planes (--plane auto or ebpf): ipv6 nat64, ipv6 clat, netsh add nat64; "
            "ipv6 tunnel, ipv6 6to4cfg, netsh add v6v4tunnel; mcast route, mcast proxy",
            "--plane auto carries every packet on the userspace plane; --plane ebpf refuses",
            True),
    Feature("lwtunnel_bpf", "eBPF on routes (encap bpf)", "CONFIG_LWTUNNEL_BPF",
            "no command yet (the eBPF planes use tc)",
            "nothing changes today", True),
)  # fmt: skip

BY_NAME = {f.name: f for f in FEATURES}


@dataclass(frozen=True)
class Finding(Result):
    """What a probe found of one feature, and what that means here."""

    name: str
    title: str
    state: str  # present, absent, unknown
    how: str  # what was tried, and what the kernel said
    config: str
    used_by: str
    without: str


def finding(name: str, state: str, how: str) -> Finding:
    feature = BY_NAME[name]
    return Finding(name, feature.title, state, how, feature.config, feature.used_by,
                   feature.without)  # fmt: skip


class KernelLacks(Ipv6Error):
    """A command needs a kernel feature this host lacks, and has no other way."""

    exit_code = EXIT_KERNEL_LACKS

    def __init__(self, name: str, what: str, hint: str = "") -> None:
        feature = BY_NAME[name]
        self.feature = name
        text = (
            f"{what} needs {feature.title}, and this kernel has none ({feature.config} is not set)"
        )
        super().__init__(text + (f": {hint}" if hint else "") + "; see 'ipv6 capabilities'")


def pretended_absent(text: str) -> frozenset[str]:
    """The features a test asks the probe to report absent (``TOOLKIT_PRETEND_ABSENT``:
    names separated by commas), so that every fallback runs on every machine."""
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - BY_NAME.keys()
    if unknown:
        raise Ipv6Error(f"TOOLKIT_PRETEND_ABSENT names no feature {', '.join(sorted(unknown))}")
    return names
