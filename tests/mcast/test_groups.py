"""Checking groups and sources before any call."""

from __future__ import annotations

import pytest

from mcast._errors import McastBadInput
from mcast.membership._groups import check_channel, is_ssm, needs_interface, parse_group


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("10.0.0.1", "not a multicast address"),
        ("2001:db8::1", "not a multicast address"),
        ("nonsense", "not an IP address"),
        ("::ffff:232.1.1.1", "IPv4-mapped IPv6 address: use 232.1.1.1"),
        ("ff02::1%eth0", "not as a zone"),
    ],
)
def test_bad_groups(text: str, words: str) -> None:
    with pytest.raises(McastBadInput, match=words.replace(".", r"\.")):
        parse_group(text)


def test_ssm_ranges() -> None:
    assert is_ssm(parse_group("232.0.0.1")) and not is_ssm(parse_group("239.0.0.1"))
    assert is_ssm(parse_group("ff3e::1234")) and is_ssm(parse_group("ff35::1"))
    assert not is_ssm(parse_group("ff0e::1")) and not is_ssm(parse_group("ff3e:40:2001:db8::1"))


def test_link_scoped_groups_need_an_interface() -> None:
    assert needs_interface(parse_group("ff02::1")) and needs_interface(parse_group("ff12::3"))
    assert not needs_interface(parse_group("ff0e::1")) and not needs_interface(
        parse_group("239.1.1.1")
    )
    with pytest.raises(McastBadInput, match="--interface"):
        check_channel("ff12::3", [], [], has_interface=False)
    check_channel("ff12::3", [], [], has_interface=True)


def test_channels_warn_where_the_ranges_are_crossed() -> None:
    ssm_outside = check_channel("239.1.1.1", ["10.0.0.1"], [], has_interface=True)
    assert "outside the source-specific range" in ssm_outside.warnings[0]
    asm_inside = check_channel("232.1.1.1", [], ["10.0.0.1"], has_interface=True)
    assert "name a --source" in asm_inside.warnings[0]
    assert check_channel("232.1.1.1", ["10.0.0.1"], [], has_interface=True).warnings == ()


@pytest.mark.parametrize(
    ("sources", "excluded", "words"),
    [
        (["10.0.0.1"], ["10.0.0.2"], "cannot be mixed"),
        (["2001:db8::1"], [], "not of the family"),
        (["239.1.1.1"], [], "cannot send multicast"),
        (["10.0.0.1", "10.0.0.1"], [], "given twice"),
    ],
)
def test_bad_sources(sources: list[str], excluded: list[str], words: str) -> None:
    with pytest.raises(McastBadInput, match=words):
        check_channel("232.1.1.1", sources, excluded, has_interface=True)
