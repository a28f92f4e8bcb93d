"""nfnetlink_queue (the kernel's NFQUEUE target) as bytes: the messages that
bind a queue, the packets the kernel hands over, and the verdicts that hand
them back, changed or not.

Rules of this module:
- Pure: bytes in, frozen dataclasses out, and back. The socket is the
  caller's (:mod:`ipv6.ipsec._service`).
- Layouts as data, as pyroute2 describes netlink: the C structs quoted next to
  their ``struct`` formats, the attributes in :data:`PACKET_ATTRIBUTES`;
  netlink's framing is :mod:`ipv6._nlwire`'s. Netfilter's attribute values
  are big-endian.
- What the kernel sends is decoded by :func:`decode_untrusted`, which lets only
  :class:`QueueMessageError` escape, with the offset; a netlink error message
  (the kernel refusing a request) is a :class:`KernelAnswer`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .._errors import Ipv6Error
from .._nlwire import (
    NLA_TYPE_MASK,
    NLATTR,
    NLM_F_ACK,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    attribute,
    error_of,
    messages,
    request,
)

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NF_DROP, NF_ACCEPT = 0, 1
AF_INET6 = 10

# struct nfgenmsg { u8 family; u8 version; be16 res_id; }  (res_id: the queue number)
NFGENMSG = struct.Struct("!BBH")

# Configuration attributes (enum nfqnl_attr_config)
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
# struct nfqnl_msg_config_cmd { u8 command; u8 _pad; be16 pf; }
CONFIG_CMD = struct.Struct("!BxH")
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
# struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; }  (packed)
CONFIG_PARAMS = struct.Struct("!IB")
NFQNL_COPY_PACKET = 2
NFQA_CFG_F_FAIL_OPEN = 0x1  # never set here: a full queue must drop, not let through

# Packet attributes (enum nfqnl_attr_type): the ones this toolkit reads or writes.
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_IFINDEX_INDEV, NFQA_IFINDEX_OUTDEV = 1, 2, 5, 6
NFQA_PAYLOAD = 10
# struct nfqnl_msg_packet_hdr { be32 packet_id; be16 hw_protocol; u8 hook; }  (packed)
PACKET_HDR = struct.Struct("!IHB")
# struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id; }
VERDICT_HDR = struct.Struct("!II")
U32 = struct.Struct("!I")

PACKET_ATTRIBUTES = {
    NFQA_PACKET_HDR: "packet_hdr",
    NFQA_IFINDEX_INDEV: "indev",
    NFQA_IFINDEX_OUTDEV: "outdev",
    NFQA_PAYLOAD: "payload",
}
HOOK_LOCAL_IN, HOOK_LOCAL_OUT = 1, 3  # enum nf_inet_hooks


class QueueMessageError(Ipv6Error):
    """Bytes from the kernel's queue that are not a message this module knows."""


@dataclass(frozen=True, slots=True)
class QueuedPacket:
    """One packet the kernel is holding until it gets a verdict."""

    queue: int
    packet_id: int
    hook: int  # HOOK_LOCAL_IN or HOOK_LOCAL_OUT (others if a rule queues elsewhere)
    indev: int  # interface index, 0 when there is none
    outdev: int
    payload: bytes  # the IPv6 packet, from its fixed header on


@dataclass(frozen=True)
class KernelAnswer:
    """The kernel's answer to a request: 0 when it was done, else an errno."""

    sequence: int
    error: int


def _message(kind: int, flags: int, sequence: int, queue: int, body: bytes,
             *, family: int = AF_INET6) -> bytes:  # fmt: skip
    return request(NFNL_SUBSYS_QUEUE << 8 | kind, flags, sequence,
                   NFGENMSG.pack(family, 0, queue) + body)  # fmt: skip


def bind(queue: int, sequence: int, *, max_length: int = 4096) -> list[bytes]:
    """The requests that make this socket queue ``queue``'s listener: bind,
    copy whole packets, a bounded queue (the kernel drops, and counts, beyond
    it). Each asks for an acknowledgement."""
    flags = NLM_F_REQUEST | NLM_F_ACK
    return [
        _message(NFQNL_MSG_CONFIG, flags, sequence, queue,
                 attribute(NFQA_CFG_CMD, CONFIG_CMD.pack(NFQNL_CFG_CMD_BIND, AF_INET6))),
        _message(NFQNL_MSG_CONFIG, flags, sequence + 1, queue,
                 attribute(NFQA_CFG_PARAMS, CONFIG_PARAMS.pack(0xFFFF, NFQNL_COPY_PACKET))),
        _message(NFQNL_MSG_CONFIG, flags, sequence + 2, queue,
                 attribute(NFQA_CFG_QUEUE_MAXLEN, U32.pack(max_length))),
    ]  # fmt: skip


def unbind(queue: int, sequence: int) -> bytes:
    command = CONFIG_CMD.pack(NFQNL_CFG_CMD_UNBIND, AF_INET6)
    flags = NLM_F_REQUEST | NLM_F_ACK
    return _message(NFQNL_MSG_CONFIG, flags, sequence, queue, attribute(NFQA_CFG_CMD, command))


def verdict(queue: int, packet_id: int, accept: bool, payload: bytes | None = None) -> bytes:
    """Hand a packet back: accept it (as it was, or as ``payload``) or drop it."""
    header = VERDICT_HDR.pack(NF_ACCEPT if accept else NF_DROP, packet_id)
    attributes = attribute(NFQA_VERDICT_HDR, header)
    if payload is not None:
        attributes += attribute(NFQA_PAYLOAD, payload)
    return _message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, queue, attributes, family=0)


def decode_untrusted(data: bytes) -> list[QueuedPacket | KernelAnswer]:
    """Every message in one datagram from the queue's socket."""
    try:
        return list(_decode(data))
    except (struct.error, IndexError, ValueError) as exc:
        raise QueueMessageError(f"an unreadable queue message ({exc})") from None


def _decode(data: bytes) -> list[QueuedPacket | KernelAnswer]:
    out: list[QueuedPacket | KernelAnswer] = []
    for kind, sequence, body, at in messages(data):
        if kind == NLMSG_ERROR:
            out.append(KernelAnswer(sequence, error_of(body)))
        elif kind == NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET:
            out.append(_packet(body, at))
        elif kind != NLMSG_DONE:
            raise QueueMessageError(f"message type {kind:#x} at offset {at}")
    return out


def _packet(body: bytes, at: int) -> QueuedPacket:
    """One queued packet. Walked here rather than with ``_nlwire.attributes``:
    this runs for every packet of a protected flow, and the loop is the cost."""
    queue = body[2] << 8 | body[3]  # nfgenmsg's res_id, big-endian
    header = None
    found = {"indev": 0, "outdev": 0}
    payload = b""
    offset, end = NFGENMSG.size, len(body)
    while offset + 4 <= end:
        length, kind = NLATTR.unpack_from(body, offset)
        if length < 4 or offset + length > end:
            raise QueueMessageError(f"an attribute of {length} octets at offset {at + offset}")
        name = PACKET_ATTRIBUTES.get(kind & NLA_TYPE_MASK)
        if name == "payload":
            payload = body[offset + 4 : offset + length]
        elif name == "packet_hdr":
            header = PACKET_HDR.unpack_from(body, offset + 4)
        elif name is not None:
            found[name] = U32.unpack_from(body, offset + 4)[0]
        offset += (length + 3) & ~3
    if header is None:
        raise QueueMessageError(f"a queued packet without its header at offset {at}")
    return QueuedPacket(queue, header[0], header[2], found["indev"], found["outdev"], payload)
