"""The lab file format: what is accepted, and one clear error for what is not."""

from __future__ import annotations

import ipaddress
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipv6 import LabConfigError
from ipv6.lab import builtin_labs, load_config, parse_config
from ipv6.lab._configread import _Reader

LABS = Path(__file__).resolve().parents[2] / "configs" / "lab"

TWO = """
name = "t"
[hosts.a]
[hosts.b]
[[links]]
name = "net0"
endpoints = [
  { host = "a", addresses = ["10.0.0.1/24", "2001:db8::1/64"] },
  { host = "b", addresses = ["10.0.0.2/24", "2001:db8::2/64"] },
]
"""


def error_of(text: str) -> LabConfigError:
    with pytest.raises(LabConfigError) as caught:
        parse_config(text, source="lab.toml")
    return caught.value


def test_shipped_labs_are_all_there_and_valid() -> None:
    names = set(builtin_labs())
    assert {"two-hosts", "lan", "link-local", "6to4-two-sites"} <= names
    for path in LABS.glob("*.toml"):
        config = load_config(path)
        assert config.name == path.stem


def test_lan_is_three_hosts_on_one_bridge() -> None:
    config = load_config(LABS / "lan.toml")
    assert [h.name for h in config.hosts] == ["a", "b", "c"]
    (link,) = config.links
    assert link.kind == "bridge" and not link.snooping
    assert {str(a) for ep in link.endpoints for a in ep.addresses} >= {
        "10.0.1.1/24",
        "2001:db8:0:2::3/64",
    }


def test_link_local_lab_is_the_seeds_configuration_1() -> None:
    config = load_config(LABS / "link-local.toml")
    assert all(not ep.addresses for link in config.links for ep in link.endpoints)
    assert [ep.ifname for _, ep in config.endpoints_of("a")] == ["eth0", "eth1"]
    macs = {ep.mac for link in config.links for ep in link.endpoints}
    assert "00:60:08:52:f9:d8" in macs  # the seeds' EUI-64 example


def test_6to4_lab_is_the_seeds_configuration_2() -> None:
    config = load_config(LABS / "6to4-two-sites.toml")
    assert {h.name for h in config.hosts} == {
        "gw1",
        "gw2",
        "r",
        "h1",
        "h2",
        "relay",
        "v6",
        "spoofer",
    }
    wan = {
        ep.host: ep.addresses[0]
        for link in config.links
        if link.name.startswith("wan")
        for ep in link.endpoints
        if ep.host.startswith("gw")
    }
    # The gateways are on different IPv4 subnets, joined by r.
    assert wan["gw1"].network != wan["gw2"].network
    assert str(wan["gw1"].ip) == "172.31.42.239"
    # The spoofer shares gw1's link (a bridge), so broadcast and multicast reach gw1.
    (wan1,) = [link for link in config.links if link.name == "wan1"]
    assert {ep.host for ep in wan1.endpoints} == {"gw1", "r", "spoofer"} and wan1.kind == "bridge"


def test_defaults_name_interfaces_and_turn_dad_on() -> None:
    config = parse_config(TWO)
    a, b = config.links[0].endpoints
    assert (a.ifname, b.ifname) == ("eth0", "eth0")
    assert a.dad and b.dad


def test_the_lab_name_comes_from_the_file_name_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "mylab.toml"
    path.write_text(TWO.replace('name = "t"\n', "", 1))
    assert load_config(path).name == "mylab"
    assert load_config(path, name="other").name == "other"


def test_a_second_endpoint_of_a_host_gets_the_next_ethernet_name() -> None:
    config = parse_config(
        """
        [hosts.a]
        [hosts.b]
        [hosts.c]
        [[links]]
        name = "l1"
        endpoints = [{ host = "a" }, { host = "b" }]
        [[links]]
        name = "l2"
        endpoints = [{ host = "a" }, { host = "c" }]
        """
    )
    assert [ep.ifname for _, ep in config.endpoints_of("a")] == ["eth0", "eth1"]


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('name = "t"\ncolour = "red"\n[hosts.a]', "colour", "unknown key 'colour'"),
        ("[hosts.a]\nfoo = 1", "hosts.a.foo", "unknown key 'foo'"),
        ("[hosts.a]\n[hosts.a]", "hosts.a", "defined twice"),
        (
            TWO.replace('{ host = "b", addresses', '{ host = "z", addresses'),
            "links.net0.endpoints[1].host",
            "host 'z' is not defined",
        ),
        (
            TWO.replace("10.0.0.2/24", "10.0.0.2/33"),
            "links.net0.endpoints[1].addresses[0]",
            "invalid address or prefix",
        ),
        (
            TWO.replace("10.0.0.2/24", "10.0.0.1/24"),
            "links.net0",
            "address 10.0.0.1 is on both a:eth0 and b:eth0",
        ),
        (TWO.replace("10.0.0.2/24", "10.0.0.2"), "addresses[0]", "needs a prefix length"),
        (
            TWO.replace('{ host = "a", ', '{ host = "a", ifname = "averyverylongname", '),
            "links.net0.endpoints[0].ifname",
            "at most 15",
        ),
        (
            TWO.replace('{ host = "a", ', '{ host = "a", ifname = "all", '),
            "ifname",
            "reserved",
        ),
        (
            TWO.replace('{ host = "a", ', '{ host = "a", ifname = "a/b", '),
            "ifname",
            "may not contain",
        ),
        (TWO.replace('name = "net0"', 'name = "a"'), "hosts.a", "has the name of a link"),
        ("[hosts.a]", "", None),  # a lab with no links is fine
        (
            TWO.replace('name = "net0"', 'name = "net0"\nmtu = 1000'),
            "links.net0.mtu",
            "below 1280",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nsysctls = { "kernel.panic" = 1 }'),
            "hosts.a.sysctls.kernel.panic",
            "not a network-namespace sysctl",
        ),
        (
            TWO.replace("[hosts.a]", "[hosts.a]\nsysctls = { acept_ra = 1 }"),
            "hosts.a.sysctls.acept_ra",
            "unknown setting",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nsysctls = { "net.ipv6.conf.eth9.mtu" = 1400 }'),
            "hosts.a.sysctls",
            "interface 'eth9'",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nroutes = [{ to = "default", dev = "eth0" }]'),
            "hosts.a.routes[0].to",
            "does not say its family",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nroutes = [{ to = "10.1.0.0/16", via = "::1" }]'),
            "hosts.a.routes[0].via",
            "not of the family",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nroutes = [{ to = "10.1.0.1/16", dev = "eth0" }]'),
            "hosts.a.routes[0].to",
            "host bits set",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nroutes = [{ to = "::/0", via = "fe80::1" }]'),
            "hosts.a.routes[0].dev",
            "link-local next hop",
        ),
        (
            TWO.replace("[hosts.a]", '[hosts.a]\nroutes = [{ to = "::/0", dev = "eth7" }]'),
            "hosts.a.routes[0].dev",
            "no interface 'eth7'",
        ),
        (
            TWO.replace('{ host = "b", addresses', '{ host = "a", addresses'),
            "links.net0.endpoints[1]",
            "is on link 'net0' twice",
        ),
        (
            TWO
            + '[hosts.c]\n[[links]]\nname = "n1"\n'
            + 'endpoints = [{ host = "a", ifname = "eth0" }, { host = "c" }]',
            "links.n1.endpoints[0].ifname",
            "already has an interface 'eth0'",
        ),
        (
            TWO.replace('{ host = "a", ', '{ host = "a", mac = "01:00:5e:00:00:01", '),
            "mac",
            "multicast MAC",
        ),
        (
            TWO.replace('{ host = "a", ', '{ host = "a", dad = "no", '),
            "dad",
            "must be true or false",
        ),
        (
            TWO.replace('{ host = "a", ', '{ host = "a", sysctls = { bindv6only = 1 }, '),
            "sysctls.bindv6only",
            "not a per-interface setting",
        ),
        (
            'name = "t"\n[hosts.a]\n[[links]]\nname = "x"\nendpoints = [{ host = "a" }]',
            "",
            "at least two",
        ),
        ("name = [", "", "not valid TOML"),
        ('name = "has space"\n[hosts.a]', "name", "must start with a letter"),
        ('name = "t"', "hosts", "at least one host"),
    ],
)
def test_bad_input_is_one_error_naming_file_key_and_problem(
    text: str, key: str, words: str | None
) -> None:
    if words is None:
        parse_config(text, source="lab.toml")
        return
    error = error_of(text)
    message = str(error)
    assert message.startswith("lab.toml: ")
    assert key in message, message
    assert words in message, message
    assert "\n" not in message


def test_a_link_local_address_may_repeat_on_different_links() -> None:
    text = """
    [hosts.a]
    [hosts.b]
    [hosts.c]
    [[links]]
    name = "l1"
    endpoints = [{ host = "a", addresses = ["fe80::1/64"] }, { host = "b" }]
    [[links]]
    name = "l2"
    endpoints = [{ host = "a", addresses = ["fe80::1/64"] }, { host = "c" }]
    """
    parse_config(text)
    with pytest.raises(LabConfigError, match="fe80::1 is on both"):
        parse_config(text.replace('{ host = "b" }', '{ host = "b", addresses = ["fe80::1/64"] }'))


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_routes_are_read_with_their_family_and_table() -> None:
    config = parse_config(
        TWO.replace(
            "[hosts.a]",
            """[hosts.a]
routes = [
  { to = "default", via = "10.0.0.2", metric = 5 },
  { to = "ff3e::/16", dev = "eth0", table = "local", type = "multicast" },
  { to = "192.0.2.0/24", type = "blackhole" },
]""",
        )
    )
    default, mcast, hole = config.host("a").routes
    assert default.to == ipaddress.ip_network("0.0.0.0/0") and default.metric == 5
    assert mcast.table == 255 and mcast.type == "multicast" and mcast.family == 6
    assert hole.type == "blackhole" and hole.describe() == "blackhole 192.0.2.0/24"


# --- properties: nothing but LabConfigError ever escapes ---------------------

names = st.text(alphabet=string.ascii_letters + string.digits + "-_./: é", max_size=20)
scalars = st.one_of(st.booleans(), st.integers(-5, 70000), names, st.floats(allow_nan=False))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=12,
)
endpoint = st.fixed_dictionaries(
    {"host": st.sampled_from(["a", "b", "zz"])},
    optional={
        "ifname": names,
        "addresses": st.lists(
            st.sampled_from(["10.0.0.1/24", "10.0.0.1/33", "fe80::1/64", "::/0", "x"]) | names,
            max_size=3,
        ),
        "dad": values,
        "mac": names,
        "sysctls": st.dictionaries(st.sampled_from(["accept_ra", "ipv6.mtu", "x.y"]), values),
    },
)
document = st.fixed_dictionaries(
    {
        "hosts": st.dictionaries(
            st.sampled_from(["a", "b", "c"]),
            st.fixed_dictionaries(
                {},
                optional={
                    "routes": st.lists(
                        st.dictionaries(st.sampled_from(["to", "via", "dev", "metric"]), values),
                        max_size=2,
                    ),
                    "sysctls": st.dictionaries(
                        st.sampled_from(["forwarding", "net.ipv6.conf.eth0.mtu", "kernel.x"]),
                        values,
                    ),
                },
            ),
        ),
        "links": st.lists(
            st.fixed_dictionaries(
                {"name": names, "endpoints": st.lists(endpoint, max_size=3)},
                optional={"mtu": values, "snooping": values},
            ),
            max_size=3,
        ),
    },
    optional={"name": values, "junk": values},
)


@given(document)
def test_any_document_gives_a_lab_or_one_config_error(doc: dict[str, object]) -> None:
    try:
        _Reader("fuzz.toml").lab(doc, default_name="fuzz", name=None)
    except LabConfigError as error:
        assert str(error).startswith("fuzz.toml")


def kernel_would(name: str) -> bool:
    """The kernel's dev_valid_name (net/core/dev.c), said again here: 1 to 15
    bytes, not "." or "..", no '/', ':' or whitespace (ASCII isspace); and a
    C string, so no NUL."""
    raw = name.encode()
    return (
        0 < len(raw) <= 15
        and name not in (".", "..")
        and not any(b in b"/:\0 \t\n\v\f\r" for b in raw)
    )


@given(st.one_of(st.text(max_size=20), st.text("ab/:. \t\0\u00a0é", max_size=17)))
def test_an_interface_name_is_accepted_exactly_when_the_kernel_would(name: str) -> None:
    """Both ways: what the kernel takes is accepted, unless the toolkit reserves it
    (lo, all, default: sysctl directories) or it holds a Unicode space the
    kernel would take but no one could type back; what it refuses is refused."""
    text = TWO.replace('{ host = "a", ', '{ host = "a", ifname = ' + _toml_string(name) + ", ")
    expected = (
        kernel_would(name)
        and name not in ("lo", "all", "default")
        and not any(c.isspace() for c in name)
    )
    try:
        config = parse_config(text)
    except LabConfigError:
        assert not expected, f"{name!r} is refused, but the kernel takes it"
        return
    assert expected, f"{name!r} is accepted, but the kernel refuses it"
    assert config.links[0].endpoints[0].ifname == name


def _toml_string(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
    return f'"{escaped}"'


ROUTER = """
name = "t"
[hosts.s]
[hosts.r]
{r}
[hosts.m1]
[hosts.m2]
[[links]]
name = "up"
endpoints = [{{ host = "s" }}, {{ host = "r" }}]
[[links]]
name = "down"
{down}
endpoints = [{{ host = "r", ifname = "eth1" }}, {{ host = "m1" }}, {{ host = "m2" }}]
"""


def router(r: str = "", down: str = "") -> str:
    return ROUTER.format(r=r, down=down)


def test_the_routed_multicast_lab_declares_its_snooping_switch() -> None:
    config = load_config(LABS / "routed-multicast.toml")
    (lan2,) = [link for link in config.links if link.name == "lan2"]
    assert lan2.kind == "bridge" and lan2.snooping and lan2.router_ports == ("r",)
    assert [len(link.endpoints) for link in config.links] == [2, 4]


def test_multicast_routes_a_proxy_and_a_bridge_querier_are_read() -> None:
    config = parse_config(
        router(
            'multicast_routes = [{ group = "239.1.1.1", in = "eth0", out = ["eth1:8"] },\n'
            '  { group = "ff1e::1", source = "2001:db8::1", in = "eth0", out = ["eth1"] }]',
            'snooping = true\nquerier = true\nrouter_ports = ["r"]',
        )
    )
    r = config.host("r")
    assert [route.line() for route in r.multicast_routes] == [
        "239.1.1.1 --in eth0 --out eth1:8",
        "ff1e::1 --source 2001:db8::1 --in eth0 --out eth1:1",
    ]
    (down,) = [link for link in config.links if link.name == "down"]
    assert down.querier and down.router_ports == ("r",)
    proxied = parse_config(
        router('proxy = { upstream = "eth0", downstream = ["eth1"], mld_version = 0 }')
    )
    proxy = proxied.host("r").proxy
    assert proxy is not None and proxy.arguments() == (
        "--upstream", "eth0", "--downstream", "eth1", "--igmp-version", "3", "--mld-version", "0",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("r", "down", "key", "words"),
    [
        ('multicast_routes = [{ group = "10.0.0.1", in = "eth0", out = ["eth1"] }]', "",
         "multicast_routes[0].group", "not a multicast address"),
        ('multicast_routes = [{ group = "239.1.1.1", in = "eth5", out = ["eth1"] }]', "",
         "multicast_routes[0].in", "no interface 'eth5'"),
        ('multicast_routes = [{ group = "239.1.1.1", in = "eth0", out = ["eth1:0"] }]', "",
         "multicast_routes[0].out[0]", "not 1 to 255"),
        ('multicast_routes = [{ group = "239.1.1.1", in = "eth0", out = ["eth0"] }]', "",
         "multicast_routes[0]", "both the inbound and an outbound"),
        ('multicast_routes = [{ group = "239.1.1.1", source = "::1", in = "eth0", '
         'out = ["eth1"] }]', "", "multicast_routes[0].source", "not of one IP version"),
        ('proxy = { upstream = "eth0", downstream = ["eth0"] }', "", "hosts.r.proxy",
         "both the upstream and a downstream"),
        ('proxy = { upstream = "eth0" }', "", "hosts.r.proxy", "needs an upstream and a"),
        ('proxy = { upstream = "eth0", downstream = ["eth1"], igmp_version = 1 }', "",
         "proxy.igmp_version", "2 or 3"),
        ('proxy = { upstream = "eth0", downstream = ["eth1"] }\n'
         'multicast_routes = [{ group = "239.1.1.1", in = "eth0", out = ["eth1"] }]', "",
         "hosts.r.proxy", "not both"),
        ("", "querier = true", "links.down.querier", "only a snooping bridge"),
        ("", 'router_ports = ["r"]', "links.down.router_ports", "only a snooping bridge"),
        ("", 'snooping = true\nrouter_ports = ["s"]', "links.down.router_ports",
         "host 's' is not on this link"),
    ],
)  # fmt: skip
def test_bad_multicast_declarations_are_one_error(r: str, down: str, key: str, words: str) -> None:
    message = str(error_of(router(r, down)))
    assert key in message and words in message and "\n" not in message, message
