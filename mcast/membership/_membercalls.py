"""Membership changes as the kernel takes them: one setsockopt per call, in
the protocol-independent MCAST_* form where the platform has it, else the
IP_* / IPV6_* form; a group's whole filter (MCAST_MSFILTER) set and read.

The call-to-option names are :data:`mcast.membership._membership.OPTION_NAMES`; the
layouts are :mod:`mcast._sockopts`'s.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import socket

from ipv6 import addresses_of
from ipv6 import sockopts as _sockopts
from ipv6.sockopts import HOST as PLATFORM
from ipv6.sockopts import NATIVE as BYTEORDER
from ipv6.sockopts import SOL_IP, SOL_IPV6

from .._datagram import IPAddress
from .._errors import KernelRefused, McastBadInput
from .._lookup import find_interface
from ._membership import OPTION_NAMES, Call, Filter, GroupKey, Mode


def option_name(call: Call) -> str:
    """The MCAST_* option that makes ``call``."""
    return OPTION_NAMES[call][0]


def change(
    sock: socket.socket,
    call: Call,
    key: GroupKey,
    src: IPAddress | None,
    *,
    protocol_independent: bool = True,
) -> None:
    """Make one membership change on ``sock``."""
    level = SOL_IP if key.group.version == 4 else SOL_IPV6
    number = PLATFORM.option(option_name(call))
    if protocol_independent and number is not None:
        if src is None:
            value = _sockopts.encode(
                PLATFORM,
                "group_req",
                {"gr_interface": key.ifindex, "gr_group": key.group},
                BYTEORDER,
            )
        else:
            value = _sockopts.encode(
                PLATFORM,
                "group_source_req",
                {"gsr_interface": key.ifindex, "gsr_group": key.group, "gsr_source": src},
                BYTEORDER,
            )
        sock.setsockopt(level, number, value)
        return
    sock.setsockopt(level, *_fallback(call, key, src))


def _fallback(call: Call, key: GroupKey, src: IPAddress | None) -> tuple[int, bytes]:
    """The IP_* / IPV6_* form of a call, for platforms without MCAST_*."""
    if key.group.version == 6:
        if src is not None:
            raise KernelRefused(
                f"source filters for IPv6 need MCAST_* options, which {PLATFORM.name} lacks"
            )
        name = "IPV6_JOIN_GROUP" if call is Call.JOIN else "IPV6_LEAVE_GROUP"
        value = _sockopts.encode(
            PLATFORM,
            "ipv6_mreq",
            {"ipv6mr_multiaddr": key.group, "ipv6mr_interface": key.ifindex},
            BYTEORDER,
        )
        return _require(PLATFORM.option(name), name), value
    name = OPTION_NAMES[call][1]
    if src is None and PLATFORM.layout("ip_mreqn") is not None:
        value = _sockopts.encode(
            PLATFORM,
            "ip_mreqn",
            {"imr_multiaddr": key.group, "imr_ifindex": key.ifindex},
            BYTEORDER,
        )
        return _require(PLATFORM.option(name), name), value
    local = _ipv4_of(key.ifindex)
    if src is None:
        value = _sockopts.encode(
            PLATFORM, "ip_mreq", {"imr_multiaddr": key.group, "imr_interface": local}, BYTEORDER
        )
    else:
        value = _sockopts.encode(
            PLATFORM,
            "ip_mreq_source",
            {"imr_multiaddr": key.group, "imr_interface": local, "imr_sourceaddr": src},
            BYTEORDER,
        )
    return _require(PLATFORM.option(name), name), value


def _ipv4_of(ifindex: int) -> ipaddress.IPv4Address:
    if ifindex == 0:
        return ipaddress.IPv4Address(0)
    ref = find_interface(ifindex)
    found = [a for a in addresses_of(ref, 4) if isinstance(a, ipaddress.IPv4Address)]
    if not found:
        raise McastBadInput(
            f"{ref} has no IPv4 address, which IP_* membership options need to name it"
        )
    return found[0]


def set_msfilter(
    sock: socket.socket, key: GroupKey, mode: Mode, sources: frozenset[IPAddress]
) -> None:
    ordered = sorted(sources, key=int)
    level = SOL_IP if key.group.version == 4 else SOL_IPV6
    value = _sockopts.encode(
        PLATFORM,
        "group_filter",
        {
            "gf_interface": key.ifindex,
            "gf_group": key.group,
            "gf_fmode": _sockopts.filter_mode_value(PLATFORM, mode.value),
            "gf_numsrc": len(ordered),
            "gf_slist": ordered,
        },
        BYTEORDER,
    )
    sock.setsockopt(level, _require(PLATFORM.option("MCAST_MSFILTER"), "MCAST_MSFILTER"), value)


def read_filter(sock: socket.socket, key: GroupKey, capacity: int) -> Filter | None:
    """The group's filter as the kernel holds it on ``sock`` (MCAST_MSFILTER)."""
    level = SOL_IP if key.group.version == 4 else SOL_IPV6
    option = _require(PLATFORM.option("MCAST_MSFILTER"), "MCAST_MSFILTER")
    while True:
        request = _sockopts.encode(
            PLATFORM,
            "group_filter",
            {"gf_interface": key.ifindex, "gf_group": key.group, "gf_numsrc": capacity,
             "gf_slist": [key.group] * capacity},
            BYTEORDER,
        )  # fmt: skip
        try:
            answer = getsockopt_inout(sock, level, option, request)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return None
            raise KernelRefused(f"reading the filter of {key.group} failed: {exc}") from exc
        fields = _sockopts.decode(PLATFORM, "group_filter", answer, BYTEORDER)
        count = fields["gf_numsrc"]
        assert isinstance(count, int)
        if count <= capacity:
            break
        capacity = count
    mode_value = fields["gf_fmode"]
    assert isinstance(mode_value, int)
    listed = fields["gf_slist"]
    assert isinstance(listed, list)
    return Filter(Mode(_sockopts.filter_mode_name(PLATFORM, mode_value)), frozenset(listed))


_libc = ctypes.CDLL(None, use_errno=True)


def getsockopt_inout(sock: socket.socket, level: int, option: int, request: bytes) -> bytes:
    """getsockopt with a request in the buffer (Python's getsockopt cannot send one)."""
    buf = ctypes.create_string_buffer(request, len(request))
    size = ctypes.c_uint32(len(request))
    if _libc.getsockopt(sock.fileno(), level, option, buf, ctypes.byref(size)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"getsockopt: {errno.errorcode.get(code, code)}")
    return buf.raw[: size.value]


def _require(number: int | None, name: str) -> int:
    if number is None:
        raise KernelRefused(f"{PLATFORM.name} has no {name}")
    return number
