"""Sysctl names: short names, dotted names, values."""

from __future__ import annotations

import pytest

from ipv6._errors import BadInput
from ipv6.lab._sysctl import FRIENDLY, UnknownSysctl, render_value, resolve


def test_a_short_name_means_its_per_interface_settings() -> None:
    (target,) = resolve("force_mld_version")
    assert target.per_interface
    assert target.path() == "net/ipv6/conf/all/force_mld_version"
    assert target.path("eth0.100") == "net/ipv6/conf/eth0.100/force_mld_version"


def test_forwarding_means_both_families() -> None:
    assert {t.template for t in resolve("forwarding")} == {
        "net.ipv4.conf.{if}.forwarding",
        "net.ipv6.conf.{if}.forwarding",
    }


def test_a_dotted_name_is_taken_as_it_is() -> None:
    (target,) = resolve("net.ipv4.igmp_max_memberships")
    assert not target.per_interface and target.interface is None
    assert target.path() == "net/ipv4/igmp_max_memberships"
    (conf,) = resolve("net.ipv6.conf.eth0.accept_ra")
    assert conf.interface == "eth0"


@pytest.mark.parametrize("name", ["kernel.panic", "vm.swappiness", "net", "fs.file-max"])
def test_names_outside_the_namespace_are_refused(name: str) -> None:
    with pytest.raises(UnknownSysctl):
        resolve(name)


def test_every_short_name_is_under_net() -> None:
    for targets in FRIENDLY.values():
        assert all(t.template.startswith("net.") for t in targets)


@pytest.mark.parametrize(
    ("value", "text"), [(True, "1"), (False, "0"), (2, "2"), ("0 2147483647", "0 2147483647")]
)
def test_values(value: object, text: str) -> None:
    assert render_value(value) == text


@pytest.mark.parametrize("value", [1.5, [], {}, "", "a\nb"])
def test_bad_values(value: object) -> None:
    with pytest.raises(BadInput, match="is not a sysctl value"):
        render_value(value)
