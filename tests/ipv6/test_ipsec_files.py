"""The seeds' ipsec6 files: the templates ipsec6 c writes, the seeds'
Configuration 3 entries read back, and every mistake one line naming the file,
the line and the field."""

from __future__ import annotations

import ipaddress

import pytest

from ipv6.ipsec._files import (
    SAD_TEMPLATE,
    SPD_TEMPLATE,
    IpsecFileError,
    Selectors,
    read_key,
    read_sad,
    read_spd,
)

HOST1 = "FE80::2AA:FF:FE53:A92C"
HOST2 = "FE80::2AA:FF:FE92:D0F1"
# Host 1's files after the seeds' steps 2 and 3: policy 2 before the template's 1.
SPD = SPD_TEMPLATE.replace(
    "1 * * * * * NONE",
    f"2 {HOST2} * * * * AH TRANSPORT * NONE BIDIRECT APPLY 0 ;\n1 * * * * * NONE",
)
SAD = (
    SAD_TEMPLATE
    + f"2 3001 {HOST2} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key OUTBOUND 2 ;\n"
    + f"1 3000 {HOST1} POLICY POLICY POLICY POLICY POLICY HMAC-MD5 Test.key INBOUND 2 ;\n"
)
KEYS = {"Test.key": '"This is a test"\n'}


def test_the_templates_have_the_seeds_columns_and_a_bypass_for_everything() -> None:
    (bypass,) = read_spd(SPD_TEMPLATE, "Test.spd")
    assert (bypass.index, bypass.action, bypass.direction) == (1, "BYPASS", "BIDIRECT")
    assert read_sad(SAD_TEMPLATE, "Test.sad", [bypass], KEYS) == []
    assert "Policy RemoteIPAddr LocalIPAddr RemotePort Protocol LocalPort" in SPD_TEMPLATE
    assert "SAEntry SPI SADestIPAddr DestIPAddr SrcIPAddr Protocol DestPort SrcPort" in (
        SAD_TEMPLATE
    )


def test_configuration_3_as_the_seeds_write_it() -> None:
    policies = read_spd(SPD, "Test.spd")
    assert [p.index for p in policies] == [2, 1]
    secure = policies[0]
    assert secure.remote == ipaddress.IPv6Address(HOST2.lower())
    assert (secure.ipsec, secure.mode, secure.action, secure.direction) == (
        "AH", "TRANSPORT", "APPLY", "BIDIRECT")  # fmt: skip
    me, peer = (ipaddress.IPv6Address(a.lower()) for a in (HOST1, HOST2))
    assert secure.matches(Selectors(peer, me, 58))
    out, into = read_sad(SAD, "Test.sad", policies, KEYS)
    assert (out.spi, out.direction, out.algorithm, out.policy) == (3001, "OUTBOUND", "HMAC-MD5", 2)
    assert (into.spi, into.direction) == (3000, "INBOUND")
    assert out.key == into.key == b"This is a test"


@pytest.mark.parametrize(
    ("spd", "sad", "keys", "words"),
    [
        (SPD.replace(" APPLY 0 ;", " APPLY 0"), SAD, KEYS, "Test.spd line 5: an entry ends"),
        (SPD.replace(" BIDIRECT APPLY", " APPLY"), SAD, KEYS, "12 fields where 13"),
        (SPD.replace(f"2 {HOST2}", "2 FE80::ZZ"), SAD, KEYS, "line 5, RemoteIPAddr"),
        (SPD.replace("2 FE80", "1 FE80"), SAD, KEYS, "decreasing numerical order"),
        (SPD.replace(" AH TRANSPORT", " ESP TRANSPORT"), SAD, KEYS, "ESP is not supported"),
        (SPD.replace(" AH TRANSPORT", " AH TUNNEL"), SAD, KEYS, "tunnel mode"),
        (SPD.replace("BIDIRECT APPLY", "SIDEWAYS APPLY"), SAD, KEYS, "line 5, Direction"),
        (SPD, SAD.replace("OUTBOUND 2 ;", "OUTBOUND 7 ;"), KEYS, "no policy 7"),
        (SPD, SAD.replace("OUTBOUND 2 ;", "OUTBOUND 1 ;"), KEYS, "does not APPLY"),
        (SPD, SAD.replace("HMAC-MD5 Test.key OUT", "DES Test.key OUT"), KEYS, "'DES'"),
        (SPD, SAD.replace("3001", "12"), KEYS, "an SPI is 256"),
        (SPD, SAD, {}, "no key file 'Test.key'"),
        (SPD, SAD, {"Test.key": "This is a test"}, "double-quoted"),
        (SPD, SAD, {"Test.key": '""'}, 'the key "" is empty'),
        (SPD, SAD, {"Test.key": " \n"}, "Test.key is empty"),
        (SPD, SAD.replace("2 3001", "1 3001").replace("1 3000", "2 3000"), KEYS,
         "decreasing numerical order"),
        (SPD, SAD.replace("POLICY HMAC", "*     HMAC", 1), KEYS, "write POLICY"),
        ("no header\n1 * ;\n", SAD, KEYS, "no column line"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_line_naming_where(spd: str, sad: str, keys, words: str) -> None:
    with pytest.raises(IpsecFileError) as caught:
        read_sad(sad, "Test.sad", read_spd(spd, "Test.spd"), keys)
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_a_key_is_the_quoted_string() -> None:
    assert read_key('  "two words"  \n', "k") == b"two words"


def test_a_packet_finds_its_policy_and_association() -> None:
    from ipv6.ipsec._files import association_for, policy_for

    policies = read_spd(SPD, "Test.spd")
    out, into = read_sad(SAD, "Test.sad", policies, KEYS)
    me, peer = (ipaddress.IPv6Address(a.lower()) for a in (HOST1, HOST2))
    other = ipaddress.IPv6Address("fe80::99")
    secure = policy_for(policies, True, Selectors(peer, me, 58))
    assert secure is not None and secure.index == 2
    assert association_for([out, into], secure, True, peer) == out
    assert association_for([out, into], secure, False, me) == into
    # Another neighbour falls under the template's bypass; a missing SA is None.
    bypass = policy_for(policies, False, Selectors(other, me, 6, 80, 5000))
    assert bypass is not None and bypass.action == "BYPASS"
    assert association_for([into], secure, True, peer) is None
