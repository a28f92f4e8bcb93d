"""Many netlink changes on one socket: written in chunks, each acknowledged.

One pyroute2 call per change waits for each answer before the next request;
for a 2,000-line script that round trip is most of the time. Here requests
are encoded from a description of the messages as data (checked in the
tests against pyroute2's own encoder),
written a chunk at a time, and the kernel's acknowledgements matched back by
sequence number, so each change still gets its own verdict.

Only plain additions go this way (``add address`` and ``add route`` without
anycast or replace): their inverse is known without reading anything, which
keeps a script a transaction.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Sequence

from .._kernelops import AddAddress, AddRoute, DeleteAddress, DeleteRoute, tunnel_next_hop
from ._ops import Op

# From linux/netlink.h and linux/rtnetlink.h (pyroute2 not imported: see ipv6._netlink.Netlink.ipr).
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 20, 21, 24, 25
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1
CHUNK = 256  # requests a write; well inside the socket's send buffer
_HEADER = struct.Struct("=LHHLL")
_ERROR = struct.Struct("=i")


def pipelined(op: Op) -> bool:
    """Whether ``op`` goes in a batch: a plain addition, whose inverse needs no reading
    first, or a deletion such an inverse is, on an interface known by its index, with
    nothing the encoder below does not write (anycast, replace, a table, a kind...)."""
    if isinstance(op, AddAddress):
        plain = not op.anycast and not op.replace and op.dad and not op.broadcast
        return plain and isinstance(op.interface, int)
    if isinstance(op, AddRoute):
        plain = not op.replace and op.table is None and op.kind == "unicast" and not op.source
        return plain and isinstance(op.interface, int) and not tunnel_next_hop(op.gateway)
    return isinstance(op, (DeleteAddress, DeleteRoute)) and isinstance(op.interface, int)


def inverse(op: AddAddress | AddRoute) -> DeleteAddress | DeleteRoute:
    if isinstance(op, AddAddress):
        return DeleteAddress(op.interface, op.address)
    return DeleteRoute(op.prefix, op.interface, op.gateway, op.metric)


Change = AddAddress | DeleteAddress | AddRoute | DeleteRoute

# The two rtnetlink messages, described as data: the fixed header of each and
# the attributes used here (number, encoding). ``encode`` is written against
# these, and the tests check its bytes against pyroute2's own encoder.
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct(
    "=BBBBBBBBI"
)  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
ATTRIBUTES: dict[str, tuple[int, str]] = {
    "IFA_ADDRESS": (1, "ip"),
    "IFA_LOCAL": (2, "ip"),
    "IFA_CACHEINFO": (6, "=IIII"),  # preferred, valid, created, updated
    "RTA_DST": (1, "ip"),
    "RTA_OIF": (4, "=I"),
    "RTA_GATEWAY": (5, "ip"),
    "RTA_PRIORITY": (6, "=I"),
    "RTA_EXPIRES": (23, "=I"),
}
_ATTR_HEADER = struct.Struct("=HH")
_FORMATS = {fmt: struct.Struct(fmt) for _, fmt in ATTRIBUTES.values() if fmt != "ip"}


def _attribute(name: str, *value: object) -> bytes:
    number, fmt = ATTRIBUTES[name]
    body = value[0].packed if fmt == "ip" else _FORMATS[fmt].pack(*value)  # type: ignore[attr-defined]
    padding = b"\0" * (-len(body) % 4)
    return _ATTR_HEADER.pack(_ATTR_HEADER.size + len(body), number) + body + padding


def encode(op: Change, sequence: int) -> bytes:
    """The rtnetlink request for ``op``, numbered ``sequence``."""
    family = socket.AF_INET if _version(op) == 4 else socket.AF_INET6
    create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    if isinstance(op, (AddAddress, DeleteAddress)):
        ip = op.address.ip
        fixed = IFADDRMSG.pack(family, op.address.network.prefixlen, 0, 0, _index(op))
        attrs = [_attribute("IFA_LOCAL", ip), _attribute("IFA_ADDRESS", ip)]
        if isinstance(op, AddAddress):
            attrs.append(_attribute("IFA_CACHEINFO", op.preferred, op.valid, 0, 0))
            kind, flags = RTM_NEWADDR, create
        else:
            kind, flags = RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK
    else:
        fixed = RTMSG.pack(
            family, op.prefix.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST, 0
        )
        attrs = []
        if op.prefix.prefixlen:  # a default route has no destination, as ip sends it
            attrs.append(_attribute("RTA_DST", op.prefix.network_address))
        attrs.append(_attribute("RTA_OIF", _index(op)))
        if op.gateway is not None:
            attrs.append(_attribute("RTA_GATEWAY", op.gateway))
        if op.metric is not None:
            attrs.append(_attribute("RTA_PRIORITY", op.metric))
        if isinstance(op, AddRoute):
            if op.expires is not None:
                attrs.append(_attribute("RTA_EXPIRES", op.expires))
            kind, flags = RTM_NEWROUTE, create
        else:
            kind, flags = RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK
    body = fixed + b"".join(attrs)
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, sequence, 0) + body


def _index(op: Change) -> int:
    assert isinstance(op.interface, int), "only operations on a known index are batched"
    return op.interface


def _version(op: Change) -> int:
    if isinstance(op, (AddAddress, DeleteAddress)):
        return op.address.version
    return op.prefix.version


class Pipeline:
    """A netlink route socket of its own; ``send`` returns an errno per operation."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.sequence = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, ops: Sequence[Change]) -> list[int]:
        """Apply every op; 0 or the errno the kernel answered, in order."""
        verdicts: list[int] = []
        for start in range(0, len(ops), CHUNK):
            chunk = ops[start : start + CHUNK]
            first = self.sequence + 1
            self.sequence += len(chunk)
            self.sock.sendall(b"".join(encode(op, first + i) for i, op in enumerate(chunk)))
            answers = self._acks(first, len(chunk))
            verdicts += [answers[first + i] for i in range(len(chunk))]
        return verdicts

    def _acks(self, first: int, count: int) -> dict[int, int]:
        answers: dict[int, int] = {}
        while len(answers) < count:
            data = self.sock.recv(1 << 20)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _flags, sequence, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                if kind == NLMSG_ERROR and first <= sequence < first + count:
                    (code,) = _ERROR.unpack_from(data, offset + _HEADER.size)
                    answers[sequence] = -code
                offset += (length + 3) & ~3
        return answers


def describe(code: int) -> str:
    return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})"
