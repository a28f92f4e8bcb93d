"""The kernel plane's messages: XFRM (netlink family NETLINK_XFRM) policies and
states for the seeds' policies and SAs, as bytes.

Rules of this module:
- Pure: :class:`ipv6.ipsec._files.Policy` and ``Association`` rows in,
  netlink requests out; answers and dumps decoded. The socket is
  :mod:`ipv6.ipsec._xfrm`'s.
- Layouts as data, as pyroute2 describes netlink: each C struct quoted above
  its ``struct`` format. XFRM's structs are in the host's byte order except
  ports and SPIs (big-endian); addresses are 16 octets.
- A seeds' policy becomes one XFRM policy per direction (BIDIRECT: out and
  in), with the seeds' order kept as XFRM priorities (a higher index comes
  first: a lower priority number). APPLY carries an AH transport template,
  BYPASS none, DISCARD is a block. An SA becomes an AH state in transport
  mode keyed by its destination and SPI; INBOUND ones with a replay window.
- Multicast is never matched (as on the userspace plane): a bypass policy for
  ff00::/8 in each direction comes before every other.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

from .._nlwire import (
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    attribute,
    attributes,
    error_of,
    messages,
    request,
)
from ._files import Association, Policy

NETLINK_XFRM = 6
XFRM_MSG_NEWSA, XFRM_MSG_DELSA, XFRM_MSG_GETSA = 0x10, 0x11, 0x12
XFRM_MSG_NEWPOLICY, XFRM_MSG_DELPOLICY = 0x13, 0x14
AF_INET6, IPPROTO_AH = 10, 51
XFRM_POLICY_IN, XFRM_POLICY_OUT = 0, 1
XFRM_POLICY_ALLOW, XFRM_POLICY_BLOCK = 0, 1
XFRM_MODE_TRANSPORT = 0
XFRMA_ALG_AUTH_TRUNC, XFRMA_TMPL, XFRMA_REPLAY_VAL = 20, 5, 10
XFRM_INF = 0xFFFFFFFFFFFFFFFF
REPLAY_WINDOW = 32  # the most the u32 bitmap of a non-ESN state holds (RFC 4302: at least 32)
PRIORITY_BASE = 0x10000  # priority = base - index: a higher index is looked at first
MULTICAST_PRIORITY = 1

# struct xfrm_selector { xfrm_address_t daddr, saddr; __be16 dport, dport_mask, sport,
#   sport_mask; __u16 family; __u8 prefixlen_d, prefixlen_s, proto; int ifindex; uid_t user; }
SELECTOR = struct.Struct("=16s16s2s2s2s2sHBBB3xiI")
# struct xfrm_lifetime_cfg { u64 soft_byte, hard_byte, soft_packet, hard_packet,
#   soft_add_expires, hard_add_expires, soft_use_expires, hard_use_expires; }
LIFETIME_CFG = struct.Struct("=8Q")
# struct xfrm_lifetime_cur { u64 bytes, packets, add_time, use_time; }
LIFETIME_CUR = struct.Struct("=4Q")
# struct xfrm_stats { u32 replay_window, replay, integrity_failed; }
STATS = struct.Struct("=3I")
# struct xfrm_id { xfrm_address_t daddr; __be32 spi; __u8 proto; }  (24 with padding)
XFRM_ID = struct.Struct("=16s4sB3x")
# struct xfrm_usersa_info { selector; id; saddr; lft; curlft; stats; u32 seq, reqid;
#   u16 family; u8 mode, replay_window, flags; }  (224 with padding)
USERSA_INFO = struct.Struct(
    f"={SELECTOR.size}s{XFRM_ID.size}s16s{LIFETIME_CFG.size}s{LIFETIME_CUR.size}s"
    f"{STATS.size}sIIHBBB7x"
)
# struct xfrm_usersa_id { xfrm_address_t daddr; __be32 spi; u16 family; u8 proto; }
USERSA_ID = struct.Struct("=16s4sHB1x")
# struct xfrm_userpolicy_info { selector; lft; curlft; u32 priority, index; u8 dir,
#   action, flags, share; }  (168 with padding)
USERPOLICY_INFO = struct.Struct(
    f"={SELECTOR.size}s{LIFETIME_CFG.size}s{LIFETIME_CUR.size}sIIBBBB4x"
)
# struct xfrm_userpolicy_id { selector; u32 index; u8 dir; }
USERPOLICY_ID = struct.Struct(f"={SELECTOR.size}sIB3x")
# struct xfrm_user_tmpl { xfrm_id id; u16 family; xfrm_address_t saddr; u32 reqid; u8 mode,
#   share, optional; u32 aalgos, ealgos, calgos; }
USER_TMPL = struct.Struct(f"={XFRM_ID.size}sH2x16sIBBBx3I")
# struct xfrm_algo_auth { char alg_name[64]; u32 alg_key_len; u32 alg_trunc_len; char key[]; }
ALGO_AUTH = struct.Struct("=64sII")
# struct xfrm_replay_state { u32 oseq, seq, bitmap; }
REPLAY_STATE = struct.Struct("=3I")

KERNEL_ALGORITHMS = {"HMAC-MD5": ("hmac(md5)", 96), "HMAC-SHA-256": ("hmac(sha256)", 128)}
NO_LIMITS = LIFETIME_CFG.pack(XFRM_INF, XFRM_INF, XFRM_INF, XFRM_INF, 0, 0, 0, 0)
ANY = bytes(16)


@dataclass(frozen=True)
class Selector:
    """One direction of a policy, as XFRM matches it."""

    daddr: IPv6Address | None
    saddr: IPv6Address | None
    dport: int | None
    sport: int | None
    protocol: int | None
    ifindex: int = 0
    prefix_d: int | None = None  # None: 128 with an address, 0 without

    def pack(self) -> bytes:
        def port(value: int | None) -> tuple[bytes, bytes]:
            if value is None:
                return b"\0\0", b"\0\0"
            return struct.pack("!H", value), b"\xff\xff"

        dport, dmask = port(self.dport)
        sport, smask = port(self.sport)
        prefix_d = self.prefix_d if self.prefix_d is not None else 128 * (self.daddr is not None)
        return SELECTOR.pack(
            self.daddr.packed if self.daddr else ANY, self.saddr.packed if self.saddr else ANY,
            dport, dmask, sport, smask, AF_INET6, prefix_d, 128 * (self.saddr is not None),
            self.protocol or 0, self.ifindex, 0,
        )  # fmt: skip


@dataclass(frozen=True)
class KernelPolicy:
    """One XFRM policy: a direction of a seeds' policy (or the multicast bypass)."""

    selector: Selector
    direction: int  # XFRM_POLICY_IN or XFRM_POLICY_OUT
    priority: int
    action: str  # APPLY, BYPASS, DISCARD


def kernel_policies(policy: Policy) -> list[KernelPolicy]:
    """The XFRM policies of one seeds' policy."""
    out = []
    priority = PRIORITY_BASE - policy.index
    if policy.direction in ("OUTBOUND", "BIDIRECT"):
        selector = Selector(policy.remote, policy.local, policy.remote_port, policy.local_port,
                            policy.protocol, policy.interface)  # fmt: skip
        out.append(KernelPolicy(selector, XFRM_POLICY_OUT, priority, policy.action))
    if policy.direction in ("INBOUND", "BIDIRECT"):
        selector = Selector(policy.local, policy.remote, policy.local_port, policy.remote_port,
                            policy.protocol, policy.interface)  # fmt: skip
        out.append(KernelPolicy(selector, XFRM_POLICY_IN, priority, policy.action))
    return out


MULTICAST_BYPASS = [
    KernelPolicy(Selector(IPv6Address("ff00::"), None, None, None, None, prefix_d=8), d,
                 MULTICAST_PRIORITY, "BYPASS")
    for d in (XFRM_POLICY_OUT, XFRM_POLICY_IN)
]  # fmt: skip


def _request(kind: int, sequence: int, body: bytes, flags: int = NLM_F_REQUEST | NLM_F_ACK
             ) -> bytes:  # fmt: skip
    return request(kind, flags, sequence, body)


def new_policy(policy: KernelPolicy, sequence: int) -> bytes:
    info = USERPOLICY_INFO.pack(
        policy.selector.pack(), NO_LIMITS, bytes(LIFETIME_CUR.size), policy.priority, 0,
        policy.direction, XFRM_POLICY_BLOCK if policy.action == "DISCARD" else XFRM_POLICY_ALLOW,
        0, 0,
    )  # fmt: skip
    if policy.action == "APPLY":
        template = USER_TMPL.pack(
            XFRM_ID.pack(ANY, bytes(4), IPPROTO_AH), AF_INET6, ANY, 0, XFRM_MODE_TRANSPORT,
            0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
        )  # fmt: skip
        info += attribute(XFRMA_TMPL, template)
    return _request(XFRM_MSG_NEWPOLICY, sequence, info)


def delete_policy(policy: KernelPolicy, sequence: int) -> bytes:
    return _request(XFRM_MSG_DELPOLICY, sequence,
                    USERPOLICY_ID.pack(policy.selector.pack(), 0, policy.direction))  # fmt: skip


def new_sa(association: Association, sequence: int) -> bytes:
    name, truncation = KERNEL_ALGORITHMS[association.algorithm]
    inbound = association.direction == "INBOUND"
    info = USERSA_INFO.pack(
        bytes(SELECTOR.size),
        XFRM_ID.pack(association.destination.packed, struct.pack("!I", association.spi),
                     IPPROTO_AH),
        ANY, NO_LIMITS, bytes(LIFETIME_CUR.size), bytes(STATS.size), 0, 0, AF_INET6,
        XFRM_MODE_TRANSPORT, REPLAY_WINDOW if inbound else 0, 0,
    )  # fmt: skip
    key = association.key
    algorithm = ALGO_AUTH.pack(name.encode(), len(key) * 8, truncation) + key
    return _request(XFRM_MSG_NEWSA, sequence, info + attribute(XFRMA_ALG_AUTH_TRUNC, algorithm))


def delete_sa(association: Association, sequence: int) -> bytes:
    return _request(XFRM_MSG_DELSA, sequence, USERSA_ID.pack(
        association.destination.packed, struct.pack("!I", association.spi), AF_INET6,
        IPPROTO_AH))  # fmt: skip


def dump_sas(sequence: int) -> bytes:
    return _request(XFRM_MSG_GETSA, sequence, bytes(USERSA_ID.size), NLM_F_REQUEST | NLM_F_DUMP)


@dataclass(frozen=True)
class KernelSa:
    """What the kernel counted for one AH state."""

    destination: IPv6Address
    spi: int
    octets: int
    packets: int
    replayed: int
    integrity_failed: int
    sent: int  # the outbound sequence number
    received: int  # the highest inbound sequence number


def decode_untrusted(data: bytes) -> list[int | KernelSa]:
    """A datagram of answers: errnos (0: done) and, from a dump, AH states;
    ValueError when it does not add up."""
    out: list[int | KernelSa] = []
    try:
        for kind, _, body, _ in messages(data):
            if kind == NLMSG_ERROR:
                out.append(error_of(body))
            elif kind == XFRM_MSG_NEWSA:
                out.append(_sa(body))
            elif kind == NLMSG_DONE:
                out.append(0)
    except struct.error as exc:
        raise ValueError(f"an unreadable XFRM answer: {exc}") from None
    return out


def _sa(body: bytes) -> KernelSa:
    _, xid, _, _, cur, stats, *_ = USERSA_INFO.unpack_from(body)
    daddr, spi, _ = XFRM_ID.unpack(xid)
    octets, packets, _, _ = LIFETIME_CUR.unpack(cur)
    _, replayed, failed = STATS.unpack(stats)
    sent = received = 0
    for kind, value in attributes(body, USERSA_INFO.size):
        if kind == XFRMA_REPLAY_VAL and len(value) >= REPLAY_STATE.size:
            sent, received, _ = REPLAY_STATE.unpack_from(value)
    return KernelSa(IPv6Address(daddr), struct.unpack("!I", spi)[0], octets, packets, replayed,
                    failed, sent, received)  # fmt: skip
