"""Fixtures of the multicast tests."""

from __future__ import annotations

import pytest

from ipv6.capabilities import PRETEND_ENV


@pytest.fixture(
    params=[
        pytest.param("kernel", marks=pytest.mark.needs_feature("ip_mroute", "ip6_mroute")),
        "userspace",
    ]
)
def plane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each multicast forwarding plane a routing test runs on: the kernel's where
    the kernel has multicast routing, and always the userspace one, which every
    command the test starts then takes by itself (``auto`` finds no kernel
    routing, as on a kernel built without it)."""
    if request.param == "userspace":
        monkeypatch.setenv(PRETEND_ENV, "ip_mroute,ip6_mroute")
    return str(request.param)
