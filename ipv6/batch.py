"""Many datagrams per system call (recvmmsg, sendmmsg), for every part of the
toolkit that moves datagrams in bulk: mcast's receivers and test streams, the
userspace tunnel plane and multicast forwarding plane. Each
``*_available()`` says whether this process can use the call (Linux, LP64,
a libc that has it); callers fall back to one system call per datagram
otherwise."""

from __future__ import annotations

from ._recvmmsg import SOCKADDR_SIZE, BatchReader, sockaddr_address
from ._recvmmsg import available as recvmmsg_available
from ._sendmmsg import AddressedSender, PacketSender, StreamSender
from ._sendmmsg import available as sendmmsg_available

__all__ = [
    "SOCKADDR_SIZE",
    "AddressedSender",
    "BatchReader",
    "PacketSender",
    "StreamSender",
    "recvmmsg_available",
    "sendmmsg_available",
    "sockaddr_address",
]
