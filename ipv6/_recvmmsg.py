"""Many datagrams per system call: Linux recvmmsg(2) through ctypes.

Python's socket.recvmsg costs one system call and a handful of new Python
objects (a list and a tuple and a bytes object per control message) for
every datagram; at the rate one sender reaches that is most of a receiver's
CPU time. recvmmsg fills a preallocated array of message headers in one call;
each datagram then costs three bytes slices (payload, address, control
data), and the control data is decoded only if someone asks.

The message header layout below is the LP64 one (x86_64, aarch64):
``struct msghdr`` is 56 bytes and ``struct mmsghdr`` 64. :func:`available`
says whether this process can use it; the receiver falls back to recvmsg
otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import socket
import struct
import sys
from typing import Any

MSG_DONTWAIT = 0x40
_MMSGHDR_SIZE = 64
# Offsets inside struct mmsghdr (struct msghdr first, then unsigned msg_len).
_NAME, _NAMELEN, _IOV, _IOVLEN, _CONTROL, _CONTROLLEN, _FLAGS, _LEN = 0, 8, 16, 24, 32, 40, 48, 56
# struct mmsghdr as the kernel leaves it: name, namelen, iov, iovlen, control,
# controllen, flags, msg_len (padding skipped).
_MMSGHDR = struct.Struct("=QI4xQQQQi4xI4x")
SOCKADDR_SIZE = 28  # sockaddr_in6, the larger of the two
_PTR_PAIR = struct.Struct("=QQ")
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")


def available() -> bool:
    """Whether recvmmsg(2) can be called here (64-bit Linux with the system call)."""
    return sys.platform == "linux" and ctypes.sizeof(ctypes.c_void_p) == 8 and _syscall is not None


def _load() -> Any:
    try:
        function = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (OSError, AttributeError):  # not on this libc
        return None
    function.argtypes = (
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    )
    function.restype = ctypes.c_int
    return function


_syscall = _load()


class BatchReader:
    """Reads up to ``count`` datagrams per call into buffers it owns.

    The buffers are reused by every call, so callers copy out what they keep
    before the next call (the slices returned are copies already). One reader
    can serve every socket of a receiver: Trio runs their reads one at a time.
    """

    def __init__(self, count: int, max_datagram: int, control_space: int) -> None:
        self.count = count
        self.size = max_datagram
        self.control_space = control_space
        self._headers = ctypes.create_string_buffer(count * _MMSGHDR_SIZE)
        self._iovecs = ctypes.create_string_buffer(count * 16)
        # Anonymous memory, zeroed by the kernel as it is first touched: a slot
        # costs only the pages its datagrams fill, not max_datagram bytes.
        self._payload_map = mmap.mmap(-1, count * max_datagram)
        self._payloads = (ctypes.c_char * (count * max_datagram)).from_buffer(self._payload_map)
        self._names = ctypes.create_string_buffer(count * SOCKADDR_SIZE)
        self._controls = ctypes.create_string_buffer(count * control_space)
        headers = ctypes.addressof(self._headers)
        iovecs = ctypes.addressof(self._iovecs)
        payloads = ctypes.addressof(self._payloads)
        names = ctypes.addressof(self._names)
        controls = ctypes.addressof(self._controls)
        raw_headers = memoryview(self._headers).cast("B")
        raw_iovecs = memoryview(self._iovecs).cast("B")
        for i in range(count):
            _PTR_PAIR.pack_into(raw_iovecs, i * 16, payloads + i * max_datagram, max_datagram)
            base = i * _MMSGHDR_SIZE
            _U64.pack_into(raw_headers, base + _NAME, names + i * SOCKADDR_SIZE)
            _U32.pack_into(raw_headers, base + _NAMELEN, SOCKADDR_SIZE)
            _U64.pack_into(raw_headers, base + _CONTROLLEN, control_space)
            _U64.pack_into(raw_headers, base + _IOV, iovecs + i * 16)
            _U64.pack_into(raw_headers, base + _IOVLEN, 1)
            _U64.pack_into(raw_headers, base + _CONTROL, controls + i * control_space)
        self._raw_headers = raw_headers
        self._pristine = bytes(raw_headers)  # lengths as the kernel must find them
        self._address = headers
        self._payload_view = memoryview(self._payloads).cast("B")
        self._name_view = memoryview(self._names).cast("B")
        self._control_view = memoryview(self._controls).cast("B")
        self._used = 0
        self._header_view: Any = None

    @property
    def buffers(self) -> tuple[Any, Any, Any]:
        """The payload, sender address and control data buffers: ``count`` slots of
        ``size``, :data:`SOCKADDR_SIZE` and ``control_space`` bytes."""
        return self._payload_view, self._name_view, self._control_view

    def lengths(self, got: int) -> tuple[Any, Any]:
        """The datagram and control data lengths of the last read's ``got``
        datagrams, as numpy arrays (for statistics over a whole batch)."""
        if self._header_view is None:
            import numpy as np  # only a measuring receiver needs it

            layout = np.dtype(
                {
                    "names": ["length", "control_length"],
                    "formats": ["=u4", "=u8"],
                    "offsets": [_LEN, _CONTROLLEN],
                    "itemsize": _MMSGHDR_SIZE,
                }
            )
            self._header_view = np.frombuffer(self._raw_headers, layout, self.count)
        view = self._header_view[:got]
        return view["length"].astype("int64"), view["control_length"].astype("int64")

    def read(self, fd: int) -> list[tuple[bytes, bytes, bytes, int]]:
        """(payload, raw sockaddr, raw control data, flags) per datagram queued now.

        Returns an empty list when nothing is queued; raises OSError otherwise.
        """
        if self._used:
            # The kernel rewrote the lengths of the headers it filled: restore them.
            ctypes.memmove(self._address, self._pristine, self._used * _MMSGHDR_SIZE)
        got: int = _syscall(fd, self._address, self.count, MSG_DONTWAIT, None)
        if got < 0:
            code = ctypes.get_errno()
            self._used = 0
            if code in (errno.EAGAIN, errno.EWOULDBLOCK):
                return []
            raise OSError(code, f"recvmmsg: {errno.errorcode.get(code, code)}")
        self._used = got
        payloads, names, controls = self._payload_view, self._name_view, self._control_view
        size, space = self.size, self.control_space
        out: list[tuple[bytes, bytes, bytes, int]] = []
        append = out.append
        start = name_start = control_start = 0
        for fields in _MMSGHDR.iter_unpack(self._raw_headers[: got * _MMSGHDR_SIZE]):
            length = fields[7]
            append(
                (
                    payloads[start : start + (length if length < size else size)].tobytes(),
                    names[name_start : name_start + fields[1]].tobytes(),
                    controls[control_start : control_start + fields[5]].tobytes(),
                    fields[6],
                )
            )
            start += size
            name_start += SOCKADDR_SIZE
            control_start += space
        return out


def sockaddr_address(raw: bytes) -> tuple[str, int]:
    """(address, port) from a raw Linux sockaddr_in or sockaddr_in6."""
    family = int.from_bytes(raw[:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port
