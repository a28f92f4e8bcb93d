"""Dual-stack rules (pure) and the IPv4-disabled detection."""

from __future__ import annotations

import errno
import socket
from ipaddress import IPv4Address as V4
from ipaddress import IPv6Address as V6

import pytest

from ipv6 import BadInput
from ipv6.dualstack._dualsockets import enable_ipv4_pktinfo
from ipv6.dualstack._dualstack import (
    Kind,
    MappedOnV6Only,
    display,
    for_socket,
    interleave,
    to_mapped,
    unmap,
)


def test_mapped_addresses_are_shown_and_used_as_their_ipv4() -> None:
    assert to_mapped(V4("192.0.2.1")) == V6("::ffff:192.0.2.1")
    assert unmap(V6("::ffff:192.0.2.1")) == V4("192.0.2.1") and unmap(V6("::1")) == V6("::1")
    assert display("::ffff:10.0.0.1") == "10.0.0.1" and display("fe80::1%eth0") == "fe80::1%eth0"
    assert for_socket(V6("::ffff:10.0.0.1"), Kind.V4ONLY) == V4("10.0.0.1")
    assert for_socket(V4("10.0.0.1"), Kind.DUAL) == V6("::ffff:10.0.0.1")
    assert for_socket(V6("2001:db8::1"), Kind.V6ONLY) == V6("2001:db8::1")


def test_a_mapped_address_on_a_v6_only_socket_is_refused_with_the_seeds_reason() -> None:
    with pytest.raises(MappedOnV6Only) as caught:
        for_socket(V6("::ffff:10.0.0.1"), Kind.V6ONLY)
    message = str(caught.value)
    assert (
        "usable only on a dual-stack socket" in message
        and "use 10.0.0.1 on an IPv4 socket" in message
    )
    with pytest.raises(BadInput, match="IPv6-only socket cannot reach"):
        for_socket(V4("10.0.0.1"), Kind.V6ONLY)
    with pytest.raises(BadInput, match="IPv4-only socket cannot reach"):
        for_socket(V6("2001:db8::1"), Kind.V4ONLY)


def test_happy_eyeballs_order_alternates_families_ipv6_first() -> None:
    given: list[V4 | V6] = [
        V4("10.0.0.1"),
        V4("10.0.0.2"),
        V6("2001:db8::1"),
        V6("2001:db8::2"),
        V6("2001:db8::3"),
    ]
    assert interleave(given) == [
        V6("2001:db8::1"),
        V4("10.0.0.1"),
        V6("2001:db8::2"),
        V4("10.0.0.2"),
        V6("2001:db8::3"),
    ]
    assert interleave([V4("10.0.0.1")]) == [V4("10.0.0.1")]


class _Refusing:
    def setsockopt(self, *args: object) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")


def test_ipv4_disabled_is_detected_and_ipv6_carries_on() -> None:
    notes: list[str] = []

    def no_ipv4() -> None:
        raise OSError(errno.EAFNOSUPPORT, "Address family not supported")

    assert enable_ipv4_pktinfo(_Refusing(), notes, probe=no_ipv4) is False  # type: ignore[arg-type]
    assert notes == ["IPv4 is disabled on this host: carrying on with IPv6 only"]
    # EINVAL with IPv4 present is another error: it is not hidden.
    with pytest.raises(OSError):
        enable_ipv4_pktinfo(_Refusing(), [], probe=lambda: None)  # type: ignore[arg-type]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as real:
        assert enable_ipv4_pktinfo(real, []) is True
