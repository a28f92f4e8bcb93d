"""A TUN device: the IPv6 stack's side of the userspace plane.

Opened with the TUNSETIFF ioctl on /dev/net/tun (rtnetlink cannot make one
that a process holds). The device lives as long as the descriptor: when the
tunnel service exits, its devices, their addresses and routes go with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct

from .._errors import Ipv6Error
from .._procsys import write_sysctl

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFMTU = 0x8913, 0x8914, 0x8922
IFF_UP, IFF_MULTICAST = 0x1, 0x1000
ADDR_GEN_MODE_NONE = 1
_IFREQ_FLAGS = struct.Struct("16sH22x")
_IFREQ_INT = struct.Struct("16si20x")


class TunError(Ipv6Error, OSError):
    """The TUN device could not be made or set up."""


def open_tun(name: str, mtu: int, *, vnet_hdr: bool = False) -> int:
    """A non-blocking descriptor of a new TUN device ``name``, up, ``mtu``, no multicast;
    with ``vnet_hdr``, every packet read or written has a virtio-net header before it
    (``_offload``), which :func:`set_offload` lets the kernel use.

    Multicast is off as on BSD's stf: 6to4 has no mapping for IPv6
    multicast, so the stack should not try (no MLD reports into the tunnel),
    and the device gets no link-local address for the same reason.
    """
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise TunError(exc.errno, f"cannot open /dev/net/tun: {exc.strerror}") from None
    try:
        kind = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        fcntl.ioctl(fd, TUNSETIFF, _IFREQ_FLAGS.pack(name.encode(), kind))
        conf = f"net/ipv6/conf/{name}/"
        _write_sysctl(conf + "addr_gen_mode", str(ADDR_GEN_MODE_NONE))
        _write_sysctl(conf + "router_solicitations", "0")  # no router answers across 6to4
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s, SIOCSIFMTU, _IFREQ_INT.pack(name.encode(), mtu))
            flags = _IFREQ_FLAGS.unpack(
                fcntl.ioctl(s, SIOCGIFFLAGS, _IFREQ_FLAGS.pack(name.encode(), 0))
            )[1]
            flags = (flags | IFF_UP) & ~IFF_MULTICAST
            fcntl.ioctl(s, SIOCSIFFLAGS, _IFREQ_FLAGS.pack(name.encode(), flags))
    except OSError as exc:
        os.close(fd)
        raise TunError(exc.errno, f"cannot set up TUN device {name}: {exc.strerror}") from None
    return fd


def _write_sysctl(path: str, value: str) -> None:
    # Kernels before 4.11 have no addr_gen_mode: a link-local address appears then.
    with contextlib.suppress(FileNotFoundError):
        write_sysctl(path, value)


def set_offload(fd: int) -> bool:
    """Let the kernel hand this IPv6 device TCP super-packets and packets whose
    checksum is left to finish (TSO6 and checksum offload); whether it agreed."""
    try:
        fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO6)
    except OSError:
        return False
    return True
