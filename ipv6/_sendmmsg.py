"""Many datagrams per system call: Linux sendmmsg(2) through ctypes.

Two senders over one call. :class:`StreamSender` sends datagrams of one size
to one destination from a preallocated buffer (a test stream writes each
datagram's header in place). :class:`PacketSender` sends packets the caller
made, each to its own IPv4 destination, all with one control message (the
userspace tunnel plane's segments of one TCP super-packet). The layout is
:mod:`._recvmmsg`'s LP64 one (``struct mmsghdr`` 64 bytes); :func:`available`
says whether this process can use it; callers fall back to one ``sendto`` or
``sendmsg`` per datagram otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import sys
from typing import Any

from ._recvmmsg import _IOV, _IOVLEN, _MMSGHDR_SIZE, _NAME, _NAMELEN, _PTR_PAIR, _U32, _U64

MSG_DONTWAIT = 0x40
_MMSGHDR = struct.Struct("=QI4xQQQQi4xI4x")  # name, namelen, iov, iovlen, control, len, flags, sent
_IOVEC = struct.Struct("=QQ")
_SOCKADDR_IN = struct.Struct("=H2s4s8x")  # family (host order), port, address, zero


def _load() -> Any:
    try:
        function = ctypes.CDLL(None, use_errno=True).sendmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


_syscall = _load()


def available() -> bool:
    """Whether sendmmsg(2) can be called here (64-bit Linux with the system call)."""
    return sys.platform == "linux" and ctypes.sizeof(ctypes.c_void_p) == 8 and _syscall is not None


class PacketSender:
    """Sends up to ``count`` IPv4 datagrams per call from buffers the caller keeps
    alive until the call returns; all with one control message."""

    def __init__(self, count: int, control: bytes) -> None:
        self.count = count
        self._headers = ctypes.create_string_buffer(count * 64)
        self._iovecs = ctypes.create_string_buffer(count * 16)
        self._names = ctypes.create_string_buffer(count * 16)
        self._control = ctypes.create_string_buffer(control, len(control))
        self._control_len = len(control)
        self._raw_headers = memoryview(self._headers).cast("B")
        self._raw_iovecs = memoryview(self._iovecs).cast("B")
        self._raw_names = memoryview(self._names).cast("B")
        self._address = ctypes.addressof(self._headers)
        iovecs, names = ctypes.addressof(self._iovecs), ctypes.addressof(self._names)
        control_at = ctypes.addressof(self._control)
        for i in range(count):
            _MMSGHDR.pack_into(
                self._raw_headers, i * 64, names + i * 16, 16, iovecs + i * 16, 1, control_at,
                self._control_len, 0, 0,
            )  # fmt: skip
            _SOCKADDR_IN.pack_into(self._raw_names, i * 16, socket.AF_INET, b"\0\0", b"\0" * 4)

    def send(self, fd: int, batch: list[tuple[bytearray | memoryview, bytes]]) -> list[int]:
        """Send each (packet, packed IPv4 destination); the errno of each that was not
        sent (0 for those that were), in order. A bytearray (or a view of one) keeps
        its address while the call runs: the kernel reads the bytes in place."""
        results: list[int] = []
        for start in range(0, len(batch), self.count):
            results += self._send(fd, batch[start : start + self.count])
        return results

    def _send(self, fd: int, batch: list[tuple[bytearray | memoryview, bytes]]) -> list[int]:
        keep = []
        for i, (packet, destination) in enumerate(batch):
            buffer = (ctypes.c_char * len(packet)).from_buffer(packet)
            keep.append(buffer)
            _IOVEC.pack_into(self._raw_iovecs, i * 16, ctypes.addressof(buffer), len(packet))
            self._raw_names[i * 16 + 4 : i * 16 + 8] = destination
        results = [0] * len(batch)
        start = 0
        while start < len(batch):
            sent: int = _syscall(fd, self._address + start * 64, len(batch) - start, MSG_DONTWAIT)
            if sent < 0:
                code = ctypes.get_errno()
                results[start] = code or errno.EIO  # that one failed; try the rest
                start += 1
                continue
            start += sent
        del keep
        return results


class StreamSender:
    """Up to ``count`` datagrams of ``size`` bytes to one destination per call.

    :attr:`buffer` holds the datagrams back to back (datagram ``i`` at
    ``i * size``); the caller writes each one's header, then calls :meth:`send`.
    """

    def __init__(self, count: int, size: int, sockaddr: bytes) -> None:
        self.count = count
        self.size = size
        self._headers = ctypes.create_string_buffer(count * _MMSGHDR_SIZE)
        self._iovecs = ctypes.create_string_buffer(count * 16)
        self._payloads = ctypes.create_string_buffer(max(1, count * size))
        self._name = ctypes.create_string_buffer(sockaddr, len(sockaddr))
        raw_headers = memoryview(self._headers).cast("B")
        raw_iovecs = memoryview(self._iovecs).cast("B")
        payloads = ctypes.addressof(self._payloads)
        iovecs = ctypes.addressof(self._iovecs)
        for i in range(count):
            _PTR_PAIR.pack_into(raw_iovecs, i * 16, payloads + i * size, size)
            base = i * _MMSGHDR_SIZE
            _U64.pack_into(raw_headers, base + _NAME, ctypes.addressof(self._name))
            _U32.pack_into(raw_headers, base + _NAMELEN, len(sockaddr))
            _U64.pack_into(raw_headers, base + _IOV, iovecs + i * 16)
            _U64.pack_into(raw_headers, base + _IOVLEN, 1)
        self._address = ctypes.addressof(self._headers)
        self.buffer = memoryview(self._payloads).cast("B")

    def send(self, fd: int, first: int, how_many: int) -> int:
        """Send datagrams ``first`` .. ``first + how_many - 1`` of the buffer; how
        many the kernel took (0 when its queue is full); OSError for an error."""
        got: int = _syscall(fd, self._address + first * _MMSGHDR_SIZE, how_many, MSG_DONTWAIT)
        if got < 0:
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.EWOULDBLOCK):
                return 0
            raise OSError(code, f"sendmmsg: {errno.errorcode.get(code, code)}")
        return got


class AddressedSender:
    """Sends up to ``count`` datagrams per call, each to its own address given as
    the raw bytes of a sockaddr (up to 28 bytes: a ``sockaddr_ll`` for a packet
    socket, a ``sockaddr_in6``), from bytearrays the caller keeps alive until the
    call returns."""

    NAME_SIZE = 28

    def __init__(self, count: int) -> None:
        self.count = count
        self._headers = ctypes.create_string_buffer(count * _MMSGHDR_SIZE)
        self._iovecs = ctypes.create_string_buffer(count * 16)
        self._names = ctypes.create_string_buffer(count * self.NAME_SIZE)
        self._raw_headers = memoryview(self._headers).cast("B")
        self._raw_iovecs = memoryview(self._iovecs).cast("B")
        self._raw_names = memoryview(self._names).cast("B")
        self._address = ctypes.addressof(self._headers)
        iovecs, names = ctypes.addressof(self._iovecs), ctypes.addressof(self._names)
        for i in range(count):
            _MMSGHDR.pack_into(self._raw_headers, i * _MMSGHDR_SIZE, names + i * self.NAME_SIZE,
                               0, iovecs + i * 16, 1, 0, 0, 0, 0)  # fmt: skip

    def send(self, fd: int, batch: list[tuple[bytearray, bytes]]) -> list[int]:
        """Send each (datagram, sockaddr); the errno of each that was not sent (0 for
        those that were), in order."""
        results: list[int] = []
        for start in range(0, len(batch), self.count):
            results += self._send(fd, batch[start : start + self.count])
        return results

    def _send(self, fd: int, batch: list[tuple[bytearray, bytes]]) -> list[int]:
        keep = []
        size = self.NAME_SIZE
        for i, (packet, name) in enumerate(batch):
            buffer = (ctypes.c_char * len(packet)).from_buffer(packet)
            keep.append(buffer)
            _IOVEC.pack_into(self._raw_iovecs, i * 16, ctypes.addressof(buffer), len(packet))
            self._raw_names[i * size : i * size + len(name)] = name
            _U32.pack_into(self._raw_headers, i * _MMSGHDR_SIZE + _NAMELEN, len(name))
        results = [0] * len(batch)
        start = 0
        while start < len(batch):
            at = self._address + start * _MMSGHDR_SIZE
            sent: int = _syscall(fd, at, len(batch) - start, MSG_DONTWAIT)
            if sent < 0:
                results[start] = ctypes.get_errno() or errno.EIO  # that one failed; on
                start += 1
                continue
            start += sent
        del keep
        return results
