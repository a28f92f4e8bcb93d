"""The persistent commands netsh keeps for restore: kept once, dropped by a
persistent delete of the same object, old state files read as they are."""

from ipv6.netsh._grammar import parse_command, split
from ipv6.netsh._journal import keep, kept_commands


def command(text: str):
    return parse_command(split(text))


ADD = "interface ipv6 add address eth0 2001:db8::1/64 store=persistent"
ROUTE = "interface ipv6 add route 2001:db8:5::/48 eth0 store=persistent"


def test_a_persistent_add_is_kept_and_an_active_one_is_not() -> None:
    state: dict[str, object] = {}
    keep(state, command(ADD))
    keep(state, command("interface ipv6 add address eth0 2001:db8::2/64"))
    assert kept_commands(state) == [ADD]


def test_a_persistent_delete_drops_what_it_names_whatever_the_prefix_length() -> None:
    state: dict[str, object] = {}
    for text in (ADD, ROUTE, ADD.replace("eth0", "eth1")):
        keep(state, command(text))
    keep(state, command("interface ipv6 delete address eth0 2001:db8::1 store=persistent"))
    assert kept_commands(state) == [ROUTE, ADD.replace("eth0", "eth1")]


def test_a_state_file_of_bare_texts_is_read_and_kept_working() -> None:
    state = {"persistent": [ADD, ROUTE, "not netsh at all"]}
    keep(state, command("interface ipv6 delete route 2001:db8:5::/48 eth0 store=persistent"))
    assert kept_commands(state) == [ADD, "not netsh at all"]
