"""Many datagrams per system call: Linux sendmmsg(2) through ctypes.

The userspace tunnel plane cuts one TCP super-packet into dozens of
segments; sendmmsg hands them all to the kernel at once, each with its own
destination and the same control message (the source address to send from),
instead of one ``sendmsg`` per segment. The layout is LP64's (x86_64,
aarch64): ``struct mmsghdr`` is 64 bytes. :func:`available` says whether
this process can use it; callers fall back to ``sendmsg`` otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import sys
from typing import Any

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
    return sys.platform == "linux" and ctypes.sizeof(ctypes.c_void_p) == 8 and _syscall is not None


class BatchSender:
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
