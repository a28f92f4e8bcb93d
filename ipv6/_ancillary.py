"""Control messages of the running system, decoded and built in one place.

Rules of this module:
- Pure: numbers come from the running platform's table
  (:data:`ipv6._platforms.HOST`), layouts are ``struct`` formats checked
  against that table's :class:`~ipv6._layouts.Layout` by the tests, and
  every function takes and returns plain values (what ``recvmsg`` gives,
  what ``sendmsg`` takes).
- The struct formats are precompiled because these run once per datagram.
"""

from __future__ import annotations

import ipaddress
import struct

from ._platforms import HOST, NATIVE

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SOL_IP, SOL_IPV6 = 0, 41  # IPPROTO_IP and IPPROTO_IPV6 on every platform
SOL_SOCKET = HOST.sol_socket_level


def _number(name: str) -> int:
    """The running system's number for ``name``; -1 where it has none (no message
    carries -1, and setsockopt refuses it, saying so)."""
    number = HOST.option(name)
    return -1 if number is None else number


IP_PKTINFO = _number("IP_PKTINFO")
IPV6_PKTINFO = _number("IPV6_PKTINFO")
IPV6_RECVPKTINFO = _number("IPV6_RECVPKTINFO")
IP_TTL, IP_TOS = _number("IP_TTL"), _number("IP_TOS")
IPV6_HOPLIMIT = _number("IPV6_HOPLIMIT")
IPV6_TCLASS = _number("IPV6_TCLASS")
SO_RXQ_OVFL = HOST.sol_socket.get("SO_RXQ_OVFL")  # None where the system has no such counter
SO_TIMESTAMPNS = HOST.sol_socket.get("SO_TIMESTAMPNS")  # None: no nanosecond arrival time
SO_RCVBUFFORCE = HOST.sol_socket.get("SO_RCVBUFFORCE")  # None: no way past the buffer limit

IN_PKTINFO = struct.Struct(NATIVE + "i4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr (Linux, macOS)
IN6_PKTINFO = struct.Struct(NATIVE + "16sI")  # ipi6_addr, ipi6_ifindex
TIMESPEC = struct.Struct(NATIVE + "qq")  # tv_sec, tv_nsec (64-bit Linux)
INT = struct.Struct(NATIVE + "i")
U32 = struct.Struct(NATIVE + "I")
# Where the destination address sits in packet info data, and its size, by level.
PKTINFO_ADDRESS = {SOL_IP: (struct.calcsize(NATIVE + "i4s"), 4), SOL_IPV6: (0, 16)}
CMSG_HEADER = struct.Struct(NATIVE + "QiI")  # cmsg_len, cmsg_level, cmsg_type (LP64 Linux)


def control_messages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(level, type, data) for each control message in raw cmsg bytes (what
    recvmmsg leaves in a message's control buffer), as recvmsg would list them."""
    out = []
    offset = 0
    header = CMSG_HEADER.size
    while offset + header <= len(data):
        length, level, kind = CMSG_HEADER.unpack_from(data, offset)
        if length < header:
            break
        out.append((level, kind, data[offset + header : offset + length]))
        offset += (length + 7) & ~7
    return out


def packet_info(level: int, kind: int, data: bytes) -> tuple[str, int] | None:
    """(the address a datagram came to, the interface it came in on) from an
    IP_PKTINFO or IPV6_PKTINFO message; None for any other message."""
    if level == SOL_IPV6 and kind == IPV6_PKTINFO and len(data) >= IN6_PKTINFO.size:
        address6, ifindex = IN6_PKTINFO.unpack_from(data)
        return str(ipaddress.IPv6Address(address6)), ifindex
    if level == SOL_IP and kind == IP_PKTINFO and len(data) >= IN_PKTINFO.size:
        ifindex, _, address4 = IN_PKTINFO.unpack_from(data)
        return str(ipaddress.IPv4Address(address4)), ifindex
    return None


def drop_count(level: int, kind: int, data: bytes) -> int | None:
    """The socket's drops so far, from an SO_RXQ_OVFL message; None for any other."""
    if level == SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= U32.size:
        return int(U32.unpack_from(data)[0])
    return None


def arrival_ns(level: int, kind: int, data: bytes) -> int | None:
    """When the kernel received the datagram (CLOCK_REALTIME, nanoseconds), from an
    SO_TIMESTAMPNS message; None for any other message."""
    if level == SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
        seconds, nanoseconds = TIMESPEC.unpack_from(data)
        return int(seconds * 1_000_000_000 + nanoseconds)
    return None


def send_from(source: IPAddress, ifindex: int = 0) -> tuple[int, int, bytes]:
    """The message that makes ``sendmsg`` send from ``source`` (and out of
    ``ifindex``, when not 0), whatever routing would have picked."""
    if source.version == 4:
        return SOL_IP, IP_PKTINFO, IN_PKTINFO.pack(ifindex, source.packed, bytes(4))
    return SOL_IPV6, IPV6_PKTINFO, IN6_PKTINFO.pack(source.packed, ifindex)
