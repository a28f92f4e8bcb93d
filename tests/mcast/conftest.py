"""Fixtures of the multicast tests."""

from __future__ import annotations

import pytest

from ipv6.capabilities import PRETEND_ENV


@pytest.fixture(
    params=[
        pytest.param("kernel", marks=pytest.mark.needs_feature("ip_mroute", "ip6_mroute")),
        pytest.param("ebpf", marks=pytest.mark.needs_feature("ebpf_tc")),
        "userspace",
    ]
)
def plane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each multicast forwarding plane a routing test runs on: the kernel's where
    the kernel has multicast routing, the eBPF one where it runs tc programs,
    and always the userspace one. Every command the test starts takes it by
    itself: ``auto`` finds no kernel routing (and, for the userspace plane, no
    eBPF), as on a kernel built without them."""
    if request.param == "ebpf":
        monkeypatch.setenv(PRETEND_ENV, "ip_mroute,ip6_mroute")
    if request.param == "userspace":
        monkeypatch.setenv(PRETEND_ENV, "ip_mroute,ip6_mroute,ebpf_tc")
    return str(request.param)
