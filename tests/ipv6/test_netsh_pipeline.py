"""The pipelined netlink encoder, checked byte for byte against pyroute2's."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from ipv6._kernelops import AddAddress, AddRoute, DeleteAddress, DeleteRoute
from ipv6.netsh._pipeline import Change, encode, inverse, pipelined

CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
u32 = st.integers(0, 2**32 - 1)
v6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
v4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))


def interfaces(draw_ip, top: int):
    return st.builds(
        lambda ip, n: ipaddress.ip_interface(f"{ip}/{n}"), draw_ip, st.integers(0, top)
    )


def networks(draw_ip, top: int):
    return st.builds(
        lambda ip, n: ipaddress.ip_network(f"{ip}/{n}", strict=False), draw_ip, st.integers(0, top)
    )


addresses = st.one_of(interfaces(v6, 128), interfaces(v4, 32))
adds = st.builds(AddAddress, st.integers(1, 2**31 - 1), addresses, u32, u32)
deletes = st.builds(DeleteAddress, st.integers(1, 2**31 - 1), addresses)


@st.composite
def routes(draw, kind):
    version = draw(st.sampled_from([4, 6]))
    prefix = draw(networks(v4, 32) if version == 4 else networks(v6, 128))
    gateway = draw(st.none() | (v4 if version == 4 else v6))
    metric = draw(st.none() | u32)
    if kind is AddRoute:
        return AddRoute(prefix, draw(st.integers(1, 999)), gateway, metric, draw(st.none() | u32))
    return DeleteRoute(prefix, draw(st.integers(1, 999)), gateway, metric)


def pyroute2_bytes(op: Change, sequence: int) -> bytes:
    """The same request as pyroute2 encodes it."""
    msg: ifaddrmsg | rtmsg
    if isinstance(op, (AddAddress, DeleteAddress)):
        msg = ifaddrmsg()
        msg["family"] = socket.AF_INET if op.address.version == 4 else socket.AF_INET6
        msg["prefixlen"], msg["index"] = op.address.network.prefixlen, op.interface
        ip = str(op.address.ip)
        attrs: list[tuple[str, object]] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
        if isinstance(op, AddAddress):
            info = {"ifa_preferred": op.preferred, "ifa_valid": op.valid, "cstamp": 0, "tstamp": 0}
            attrs.append(("IFA_CACHEINFO", info))
        kind, flags = (
            (RTM_NEWADDR, CREATE)
            if isinstance(op, AddAddress)
            else (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
        )
    else:
        msg = rtmsg()
        msg["family"] = socket.AF_INET if op.prefix.version == 4 else socket.AF_INET6
        msg["dst_len"], msg["table"], msg["proto"], msg["type"] = op.prefix.prefixlen, 254, 4, 1
        attrs = [("RTA_DST", str(op.prefix.network_address))] if op.prefix.prefixlen else []
        attrs.append(("RTA_OIF", op.interface))
        if op.gateway is not None:
            attrs.append(("RTA_GATEWAY", str(op.gateway)))
        if op.metric is not None:
            attrs.append(("RTA_PRIORITY", op.metric))
        if isinstance(op, AddRoute) and op.expires is not None:
            # pyroute2 keeps RTA_EXPIRES raw; the kernel reads a u32.
            attrs.append(("RTA_EXPIRES", struct.pack("=I", op.expires)))
        kind, flags = (
            (RTM_NEWROUTE, CREATE)
            if isinstance(op, AddRoute)
            else (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK)
        )
    msg["attrs"] = attrs
    msg["header"]["type"], msg["header"]["flags"] = kind, flags
    msg["header"]["sequence_number"] = sequence
    msg.encode()
    return bytes(msg.data)


@given(op=adds | deletes | routes(AddRoute) | routes(DeleteRoute), sequence=u32)
def test_encoding_matches_pyroute2(op: Change, sequence: int) -> None:
    assert encode(op, sequence) == pyroute2_bytes(op, sequence)


def test_only_what_the_encoder_writes_whole_is_pipelined() -> None:
    address = ipaddress.ip_interface("2001:db8::1/64")
    prefix = ipaddress.ip_network("2001:db8:1::/48")
    assert pipelined(AddAddress(2, address))
    assert not pipelined(AddAddress(2, address, anycast=True))
    assert not pipelined(AddAddress(2, address, replace=True))
    assert pipelined(AddRoute(prefix, 2, metric=5))
    assert not pipelined(AddRoute(prefix, 2, replace=True))
    # An interface the script makes is named, not numbered: it goes one at a time.
    assert not pipelined(AddAddress("tun6", address))
    assert not pipelined(AddRoute(prefix, "tun6"))
    # What the encoder does not write (a table, a kind, a source, no DAD) goes the slow way.
    assert not pipelined(AddRoute(prefix, 2, table=100))
    assert not pipelined(AddRoute(prefix, None, kind="blackhole"))
    assert not pipelined(AddAddress(2, address, dad=False))
    # Deletions (the inverses, when undoing) on a known index are batched.
    assert pipelined(DeleteAddress(2, address)) and not pipelined(DeleteAddress("tun6", address))
    assert inverse(AddAddress(2, address, 60, 30)) == DeleteAddress(2, address)
    gateway = ipaddress.ip_address("fe80::1")
    assert inverse(AddRoute(prefix, 2, gateway, 5, 60)) == DeleteRoute(prefix, 2, gateway, 5)
