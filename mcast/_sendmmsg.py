"""Many datagrams per system call: Linux sendmmsg(2) through ctypes.

A test stream sends datagrams of one size to one destination; the sender
fills a preallocated array of buffers (each datagram's header written in
place, the padding left as it is) and hands them to the kernel in one call.
The header layout is the LP64 one of :mod:`._recvmmsg` (``struct mmsghdr``
64 bytes); :func:`available` says whether this process can use it, and the
stream sender falls back to one ``sendto`` per datagram otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import sys
from typing import Any

from ._recvmmsg import _IOV, _IOVLEN, _MMSGHDR_SIZE, _NAME, _NAMELEN, _PTR_PAIR, _U32, _U64

MSG_DONTWAIT = 0x40


def available() -> bool:
    return sys.platform == "linux" and ctypes.sizeof(ctypes.c_void_p) == 8 and _syscall is not None


def _load() -> Any:
    try:
        function = ctypes.CDLL(None, use_errno=True).sendmmsg
    except (OSError, AttributeError):  # not on this libc
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


_syscall = _load()


class BatchSender:
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
