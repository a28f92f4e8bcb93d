"""Socket-option numbers and structures of Linux, Windows, macOS and FreeBSD, as data.

Rules of this module:
- Pure data: one :class:`~ipv6._layouts.Platform` per system, built from
  the platform's own headers (Linux include/uapi/linux/in.h and in6.h,
  Windows ws2ipdef.h/ws2tcpip.h, macOS (xnu) bsd/netinet/in.h and
  netinet6/in6.h, FreeBSD sys/netinet/in.h and netinet6/in6.h). ``None``
  means the platform has no such option or structure.
- The four tables stay parallel on purpose: each row is one header's
  number, and a reader compares platforms line by line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._layouts import Layout, Platform

# --- the structures ----------------------------------------------------------

IP_MREQ = Layout("ip_mreq", (("imr_multiaddr", "in_addr"), ("imr_interface", "in_addr")))
IP_MREQN = Layout(
    "ip_mreqn",
    (("imr_multiaddr", "in_addr"), ("imr_address", "in_addr"), ("imr_ifindex", "i32")),
)
# Linux puts the interface before the source; Windows and the BSDs after it.
IP_MREQ_SOURCE_LINUX = Layout(
    "ip_mreq_source",
    (("imr_multiaddr", "in_addr"), ("imr_interface", "in_addr"), ("imr_sourceaddr", "in_addr")),
)
IP_MREQ_SOURCE_RFC = Layout(
    "ip_mreq_source",
    (("imr_multiaddr", "in_addr"), ("imr_sourceaddr", "in_addr"), ("imr_interface", "in_addr")),
)
IPV6_MREQ = Layout("ipv6_mreq", (("ipv6mr_multiaddr", "in6_addr"), ("ipv6mr_interface", "u32")))


def _group_req(pack: int | None) -> Layout:
    return Layout("group_req", (("gr_interface", "u32"), ("gr_group", "sockaddr_storage")), pack)


def _group_source_req(pack: int | None) -> Layout:
    return Layout(
        "group_source_req",
        (
            ("gsr_interface", "u32"),
            ("gsr_group", "sockaddr_storage"),
            ("gsr_source", "sockaddr_storage"),
        ),
        pack,
    )


# group_filter and ip_msfilter stay parallel: the same filter, protocol-independent
# and IPv4-only, as each header declares it.
GROUP_FILTER = Layout(
    "group_filter",
    (
        ("gf_interface", "u32"),
        ("gf_group", "sockaddr_storage"),
        ("gf_fmode", "u32"),
        ("gf_numsrc", "u32"),
        ("gf_slist", "sockaddr_storage"),
    ),
    array="gf_slist",
)
IP_MSFILTER = Layout(
    "ip_msfilter",
    (
        ("imsf_multiaddr", "in_addr"),
        ("imsf_interface", "in_addr"),
        ("imsf_fmode", "u32"),
        ("imsf_numsrc", "u32"),
        ("imsf_slist", "in_addr"),
    ),
    array="imsf_slist",
)
IN_PKTINFO_UNIX = Layout(
    "in_pktinfo",
    (("ipi_ifindex", "i32"), ("ipi_spec_dst", "in_addr"), ("ipi_addr", "in_addr")),
)
IN_PKTINFO_WINDOWS = Layout("in_pktinfo", (("ipi_addr", "in_addr"), ("ipi_ifindex", "u32")))
IN6_PKTINFO = Layout("in6_pktinfo", (("ipi6_addr", "in6_addr"), ("ipi6_ifindex", "u32")))

# Linux's multicast routing API (<linux/mroute.h>, <linux/mroute6.h>): the
# structs a routing daemon hands the kernel, and the socket options that take
# them (IPPROTO_IP level for IPv4 on a raw IGMP socket, IPPROTO_IPV6 for IPv6
# on a raw ICMPv6 socket; the numbers are the same for both).
VIFCTL = Layout(
    "vifctl",
    (
        ("vifc_vifi", "u16"),
        ("vifc_flags", "u8"),
        ("vifc_threshold", "u8"),
        ("vifc_rate_limit", "u32"),
        ("vifc_lcl_ifindex", "i32"),  # a union with vifc_lcl_addr; VIFF_USE_IFINDEX says which
        ("vifc_rmt_addr", "in_addr"),
    ),
)
MFCCTL = Layout(
    "mfcctl",
    (
        ("mfcc_origin", "in_addr"),
        ("mfcc_mcastgrp", "in_addr"),
        ("mfcc_parent", "u16"),
        ("mfcc_ttls", "ttls"),
        ("mfcc_pkt_cnt", "u32"),
        ("mfcc_byte_cnt", "u32"),
        ("mfcc_wrong_if", "u32"),
        ("mfcc_expire", "i32"),
    ),
)
MIF6CTL = Layout(
    "mif6ctl",
    (
        ("mif6c_mifi", "u16"),
        ("mif6c_flags", "u8"),
        ("vifc_threshold", "u8"),
        ("mif6c_pifi", "u16"),
        ("vifc_rate_limit", "u32"),
    ),
)
MF6CCTL = Layout(
    "mf6cctl",
    (
        ("mf6cc_origin", "sockaddr_in6"),
        ("mf6cc_mcastgrp", "sockaddr_in6"),
        ("mf6cc_parent", "u16"),
        ("mf6cc_ifset", "if_set"),
    ),
)
MROUTE_STRUCT_NAMES = ("vifctl", "mfcctl", "mif6ctl", "mf6cctl")
MRT = {
    "MRT_INIT": 200,
    "MRT_DONE": 201,
    "MRT_ADD_VIF": 202,  # MRT6_ADD_MIF for IPv6
    "MRT_DEL_VIF": 203,
    "MRT_ADD_MFC": 204,
    "MRT_DEL_MFC": 205,
    "MRT_VERSION": 206,
}
VIFF_USE_IFINDEX = 0x8

STRUCT_NAMES = (
    "ip_mreq",
    "ip_mreqn",
    "ip_mreq_source",
    "ipv6_mreq",
    "group_req",
    "group_source_req",
    "group_filter",
    "ip_msfilter",
    "in_pktinfo",
    "in6_pktinfo",
)

# --- the option numbers ------------------------------------------------------

IP_OPTION_NAMES = (
    "IP_TOS",
    "IP_TTL",
    "IP_PKTINFO",
    "IP_RECVTTL",
    "IP_RECVTOS",
    "IP_MULTICAST_IF",
    "IP_MULTICAST_TTL",
    "IP_MULTICAST_LOOP",
    "IP_ADD_MEMBERSHIP",
    "IP_DROP_MEMBERSHIP",
    "IP_UNBLOCK_SOURCE",
    "IP_BLOCK_SOURCE",
    "IP_ADD_SOURCE_MEMBERSHIP",
    "IP_DROP_SOURCE_MEMBERSHIP",
    "IP_MSFILTER",
    "IP_MULTICAST_ALL",
)
IPV6_OPTION_NAMES = (
    "IPV6_MULTICAST_IF",
    "IPV6_MULTICAST_HOPS",
    "IPV6_MULTICAST_LOOP",
    "IPV6_JOIN_GROUP",
    "IPV6_LEAVE_GROUP",
    "IPV6_V6ONLY",
    "IPV6_RECVPKTINFO",
    "IPV6_PKTINFO",
    "IPV6_RECVHOPLIMIT",
    "IPV6_HOPLIMIT",
    "IPV6_RECVTCLASS",
    "IPV6_TCLASS",
    "IPV6_MULTICAST_ALL",
)
# The protocol-independent options take the same number at both levels.
MCAST_OPTION_NAMES = (
    "MCAST_JOIN_GROUP",
    "MCAST_LEAVE_GROUP",
    "MCAST_JOIN_SOURCE_GROUP",
    "MCAST_LEAVE_SOURCE_GROUP",
    "MCAST_BLOCK_SOURCE",
    "MCAST_UNBLOCK_SOURCE",
    "MCAST_MSFILTER",
)


def _names(names: Sequence[str], numbers: Sequence[int | None]) -> dict[str, int | None]:
    assert len(names) == len(numbers)
    return dict(zip(names, numbers, strict=True))


LINUX = Platform(
    name="linux",
    af_inet=2,
    af_inet6=10,
    sockaddr_style="linux",
    mcast_include=1,
    mcast_exclude=0,
    ip=_names(IP_OPTION_NAMES, (1, 2, 8, 12, 13, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 49)),
    ipv6=_names(IPV6_OPTION_NAMES, (17, 18, 19, 20, 21, 26, 49, 50, 51, 52, 66, 67, 29)),
    mcast=_names(MCAST_OPTION_NAMES, (42, 45, 46, 47, 43, 44, 48)),
    sol_socket={
        "SO_RXQ_OVFL": 40,
        "SO_REUSEADDR": 2,
        "SO_REUSEPORT": 15,
        "SO_TIMESTAMPNS": 35,  # SO_TIMESTAMPNS_OLD: struct timespec of the arrival
        "SO_RCVBUFFORCE": 33,  # SO_RCVBUF past net.core.rmem_max, with CAP_NET_ADMIN
    },
    structs={
        "ip_mreq": IP_MREQ,
        "ip_mreqn": IP_MREQN,
        "ip_mreq_source": IP_MREQ_SOURCE_LINUX,
        "ipv6_mreq": IPV6_MREQ,
        "group_req": _group_req(None),
        "group_source_req": _group_source_req(None),
        "group_filter": GROUP_FILTER,
        "ip_msfilter": IP_MSFILTER,
        "in_pktinfo": IN_PKTINFO_UNIX,
        "in6_pktinfo": IN6_PKTINFO,
        "vifctl": VIFCTL,
        "mfcctl": MFCCTL,
        "mif6ctl": MIF6CTL,
        "mf6cctl": MF6CCTL,
    },
    final_state="setsockopt/getsockopt MCAST_MSFILTER with group_filter (IP_MSFILTER for IPv4)",
    notes="IP_MULTICAST_ALL and IPV6_MULTICAST_ALL default to 1: a wildcard-bound socket "
    "receives every group any socket joined, until they are set to 0.",
)

WINDOWS = Platform(
    name="windows",
    af_inet=2,
    af_inet6=23,
    sockaddr_style="windows",
    mcast_include=0,
    mcast_exclude=1,
    ip=_names(IP_OPTION_NAMES, (3, 4, 19, 21, 40, 9, 10, 11, 12, 13, 18, 17, 15, 16, None, None)),
    # Windows has one option to enable and to carry packet info and hop limit.
    ipv6=_names(IPV6_OPTION_NAMES, (9, 10, 11, 12, 13, 27, 19, 19, 21, 21, 40, 39, None)),
    mcast=_names(MCAST_OPTION_NAMES, (41, 42, 45, 46, 43, 44, None)),
    sol_socket={
        "SO_RXQ_OVFL": None,
        "SO_REUSEADDR": 4,
        "SO_REUSEPORT": None,
        "SO_TIMESTAMPNS": None,
        "SO_RCVBUFFORCE": None,
    },
    sol_socket_level=0xFFFF,
    structs={
        "ip_mreq": IP_MREQ,
        "ip_mreqn": None,
        "ip_mreq_source": IP_MREQ_SOURCE_RFC,
        "ipv6_mreq": IPV6_MREQ,
        "group_req": _group_req(None),
        "group_source_req": _group_source_req(None),
        "group_filter": GROUP_FILTER,
        "ip_msfilter": IP_MSFILTER,
        "in_pktinfo": IN_PKTINFO_WINDOWS,
        "in6_pktinfo": IN6_PKTINFO,
    },
    final_state="WSAIoctl SIOCSMSFILTER/SIOCGMSFILTER with GROUP_FILTER, "
    "SIO_SET_MULTICAST_FILTER/SIO_GET_MULTICAST_FILTER with ip_msfilter",
    notes="MCAST_INCLUDE is 0 and MCAST_EXCLUDE 1 (the reverse of Linux).",
)

_BSD_IP = (3, 4, None, None, None, 9, 10, 11, 12, 13, 73, 72, 70, 71, 74, None)
_BSD_MCAST = _names(MCAST_OPTION_NAMES, (80, 81, 82, 83, 84, 85, None))
_BSD_STRUCTS_COMMON = {
    "ip_mreq": IP_MREQ,
    "ip_mreqn": IP_MREQN,
    "ip_mreq_source": IP_MREQ_SOURCE_RFC,
    "ipv6_mreq": IPV6_MREQ,
    "group_filter": None,  # setsourcefilter() passes a private __msfilterreq with a pointer
    "ip_msfilter": None,
    "in6_pktinfo": IN6_PKTINFO,
}

MACOS = Platform(
    name="macos",
    af_inet=2,
    af_inet6=30,
    sockaddr_style="bsd",
    mcast_include=1,
    mcast_exclude=2,
    ip={
        **_names(IP_OPTION_NAMES, _BSD_IP),
        "IP_PKTINFO": 26,
        "IP_RECVTTL": 24,
        "IP_RECVTOS": 27,
    },
    ipv6=_names(IPV6_OPTION_NAMES, (9, 10, 11, 12, 13, 27, 61, 46, 37, 47, 35, 36, None)),
    mcast=_BSD_MCAST,
    sol_socket={
        "SO_RXQ_OVFL": None,
        "SO_REUSEADDR": 4,
        "SO_REUSEPORT": 0x200,
        "SO_TIMESTAMPNS": None,  # SO_TIMESTAMP gives a timeval instead
        "SO_RCVBUFFORCE": None,
    },
    sol_socket_level=0xFFFF,
    structs={
        **_BSD_STRUCTS_COMMON,
        "group_req": _group_req(4),  # #pragma pack(4)
        "group_source_req": _group_source_req(4),
        "in_pktinfo": IN_PKTINFO_UNIX,
    },
    final_state="setsourcefilter()/getsourcefilter() in libc (private IP_MSFILTER 74 "
    "with struct __msfilterreq)",
    notes="group_req and group_source_req are packed to 4 bytes; IPV6_RECVPKTINFO (61) and "
    "IPV6_RECVTCLASS/TCLASS (35/36) differ from FreeBSD on purpose.",
)

FREEBSD = Platform(
    name="freebsd",
    af_inet=2,
    af_inet6=28,
    sockaddr_style="bsd",
    mcast_include=1,
    mcast_exclude=2,
    ip={**_names(IP_OPTION_NAMES, _BSD_IP), "IP_RECVTTL": 65, "IP_RECVTOS": 68},
    ipv6=_names(IPV6_OPTION_NAMES, (9, 10, 11, 12, 13, 27, 36, 46, 37, 47, 57, 61, None)),
    mcast=_BSD_MCAST,
    sol_socket={
        "SO_RXQ_OVFL": None,
        "SO_REUSEADDR": 4,
        "SO_REUSEPORT": 0x200,
        "SO_TIMESTAMPNS": None,  # SO_TIMESTAMP gives a timeval instead
        "SO_RCVBUFFORCE": None,
    },
    sol_socket_level=0xFFFF,
    structs={
        **_BSD_STRUCTS_COMMON,
        "group_req": _group_req(None),
        "group_source_req": _group_source_req(None),
        "in_pktinfo": None,  # FreeBSD has IP_RECVDSTADDR (7) and IP_RECVIF (20) instead
    },
    final_state="setsourcefilter()/getsourcefilter() in libc (private IP_MSFILTER 74 "
    "with struct __msfilterreq)",
    notes="No IP_PKTINFO: the destination comes with IP_RECVDSTADDR, the interface with IP_RECVIF.",
)

PLATFORMS: dict[str, Platform] = {p.name: p for p in (LINUX, WINDOWS, MACOS, FREEBSD)}
# The platform this interpreter runs on, and its byte order for the layouts.
HOST = PLATFORMS.get(
    {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, "freebsd"), LINUX
)
NATIVE = "<" if sys.byteorder == "little" else ">"
