"""The netsh language as data: each context's commands, the parameters each
takes (keyword, kind, choices, whether positional or required), and what
``show`` can show. :mod:`._grammar` parses words against these tables.
Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    keyword: str
    kind: str  # interface, address, prefix, host, lifetime, int, mtu, choice, lladdr, text
    choices: tuple[str, ...] = ()
    positional: bool = False
    required: bool = False


def _p(keyword: str, kind: str, *choices: str, pos: bool = False, req: bool = False) -> Param:
    return Param(keyword, kind, choices, pos, req)


STORE = _p("store", "choice", "active", "persistent")
LIFETIMES = (_p("validlifetime", "lifetime"), _p("preferredlifetime", "lifetime"))
ON_OFF = ("enabled", "disabled")

# Parameter groups several commands share, in netsh's positional order.
WHICH_ADDRESS = (
    _p("interface", "interface", pos=True, req=True),
    _p("address", "address", pos=True, req=True),
)
WHICH_ROUTE = (
    _p("prefix", "prefix", pos=True, req=True),
    _p("interface", "interface", pos=True, req=True),
    _p("nexthop", "host", pos=True),
)
ROUTE_OPTIONS = (
    _p("siteprefixlength", "int"),
    _p("metric", "int"),
    _p("publish", "choice", "no", "age", "yes"),
    *LIFETIMES,
    STORE,
)
NEW_NEIGHBOR = (
    _p("interface", "interface", pos=True, req=True),
    _p("address", "host", pos=True, req=True),
    _p("neighbor", "lladdr", pos=True, req=True),
    STORE,
)
INTERFACE_AND_HOST = (_p("interface", "interface", pos=True), _p("address", "host", pos=True))

IPV6_COMMANDS: dict[tuple[str, str], tuple[Param, ...]] = {
    ("add", "address"): (
        *WHICH_ADDRESS,
        _p("type", "choice", "unicast", "anycast"),
        *LIFETIMES,
        STORE,
    ),
    ("set", "address"): (
        *WHICH_ADDRESS,
        _p("type", "choice", "unicast", "anycast"),
        *LIFETIMES,
        STORE,
    ),
    ("delete", "address"): (*WHICH_ADDRESS, STORE),
    ("add", "route"): (*WHICH_ROUTE, *ROUTE_OPTIONS),
    ("set", "route"): (*WHICH_ROUTE, *ROUTE_OPTIONS),
    # metric= picks one of two routes that differ only in it (the toolkit's; reset uses it)
    ("delete", "route"): (*WHICH_ROUTE, _p("metric", "int"), STORE),
    ("add", "neighbors"): NEW_NEIGHBOR,
    ("delete", "neighbors"): INTERFACE_AND_HOST,
    ("delete", "destinationcache"): INTERFACE_AND_HOST,
    ("set", "interface"): (
        _p("interface", "interface", pos=True, req=True),
        _p("forwarding", "choice", *ON_OFF),
        _p("advertise", "choice", *ON_OFF),
        _p("mtu", "mtu"),
        _p("metric", "int"),
        _p("siteprefixlength", "int"),
        # The toolkit's: what the interface's advertisements carry besides routes,
        # recursive DNS servers (RFC 8106) and the NAT64 prefix (RFC 8781).
        _p("dnsservers", "text"),
        _p("dnslifetime", "int"),
        _p("nat64prefix", "text"),
        _p("nat64lifetime", "int"),
        STORE,
    ),
    # Windows' configured tunnel, with the toolkit's 6to4 mode, relay, MTU, plane and lab
    # switches (docs/tunnels.md); "delete interface" removes a tunnel, as on Windows.
    ("add", "v6v4tunnel"): (
        _p("interface", "text", pos=True, req=True),
        _p("localaddress", "ipv4", pos=True, req=True),
        _p("remoteaddress", "ipv4", pos=True),
        _p("mode", "choice", "6in4", "6to4", "6rd"),
        _p("relay", "ipv4"),
        _p("mtu", "mtu"),
        _p("plane", "choice", "auto", "kernel", "ebpf", "userspace"),
        _p("router", "host"),
        _p("lab", "choice", "yes", "no"),
        # 6rd (RFC 5969): the domain's prefix, the common IPv4 bits, the relay's role
        _p("sixrdprefix", "text"),
        _p("ipv4masklength", "int"),
        _p("borderrelay", "choice", "yes", "no"),
    ),
    # The toolkit's translators (docs/translation.md): a NAT64 (RFC 6146) or, with
    # mode=stateless, SIIT (RFC 7915); "delete interface" removes one too.
    ("add", "nat64"): (
        _p("interface", "text", pos=True, req=True),
        _p("prefix", "text", pos=True, req=True),
        _p("pool", "text", pos=True),
        _p("mode", "choice", "stateful", "stateless"),
        _p("map", "text"),  # stateless: IPV4=IPV6 pairs, comma-separated (RFC 7757)
        _p("ipv4address", "ipv4"),
        _p("ipv6address", "host"),
        _p("mtu", "mtu"),
        _p("filtering", "choice", "endpoint-independent", "address-dependent"),
        _p("maxsessions", "int"),
        _p("udptimeout", "int"),
        _p("tcptimeout", "int"),
        _p("icmptimeout", "int"),
        _p("icmperrors", "int"),  # its own ICMP errors a second (0: none)
        _p("icmppool", "text"),  # RFC 6791's sources
        _p("strictprotocols", "choice", "yes", "no"),
        _p("plane", "choice", "auto", "ebpf", "userspace"),  # as ipv6 nat64 add --plane
    ),
    ("delete", "interface"): (_p("interface", "interface", pos=True, req=True),),
    ("set", "global"): (
        _p("forwarding", "choice", *ON_OFF),  # Linux: conf/all/forwarding (see docs/netsh.md)
        _p("defaultcurhoplimit", "int"),
        _p("neighborcachelimit", "int"),
        _p("routecachelimit", "int"),
        _p("reassemblylimit", "int"),
        STORE,
    ),
}
IPV6_SHOWS = (
    "interfaces",
    "addresses",
    "route",
    "neighbors",
    "joins",
    "destinationcache",
    "global",
    "siteprefixes",
)
IPV4_COMMANDS: dict[tuple[str, str], tuple[Param, ...]] = {
    ("add", "address"): (*WHICH_ADDRESS, _p("mask", "text", pos=True), STORE),
    ("delete", "address"): (*WHICH_ADDRESS, STORE),
    ("add", "route"): (*WHICH_ROUTE, _p("metric", "int"), STORE),
    ("delete", "route"): (*WHICH_ROUTE, STORE),
    ("add", "neighbors"): NEW_NEIGHBOR,
    ("delete", "neighbors"): INTERFACE_AND_HOST,
    ("set", "interface"): (
        _p("interface", "interface", pos=True, req=True),
        _p("forwarding", "choice", *ON_OFF),
        _p("mtu", "mtu"),
        _p("metric", "int"),
        STORE,
    ),
}
IPV4_SHOWS = ("interfaces", "addresses", "route", "neighbors", "joins")
DEFAULTABLE = ("enabled", "disabled", "default")
# The netsh 6to4 context (Windows' "netsh interface 6to4"); address= and lab= on
# set state are the toolkit's: the IPv4 address to use, and that a lab may use a
# private one.
SIXTO4_COMMANDS: dict[tuple[str, str], tuple[Param, ...]] = {
    ("set", "state"): (
        _p("state", "choice", *DEFAULTABLE, pos=True, req=True),
        _p("undoonstop", "choice", *DEFAULTABLE),
        _p("address", "ipv4"),
        _p("lab", "choice", "yes", "no"),
    ),
    ("set", "relay"): (
        _p("name", "text", pos=True),
        _p("state", "choice", "enabled", "disabled", "default", "automatic"),
        _p("interval", "int"),
    ),
    ("set", "routing"): (
        _p("routing", "choice", *DEFAULTABLE, "automatic", pos=True),
        _p("sitelocals", "choice", *DEFAULTABLE),
    ),
}
SIXTO4_SHOWS = ("state", "relay", "routing", "interface")
CONTEXTS = {
    "ipv6": (IPV6_COMMANDS, IPV6_SHOWS),
    "ipv4": (IPV4_COMMANDS, IPV4_SHOWS),
    "6to4": (SIXTO4_COMMANDS, SIXTO4_SHOWS),
}
# install and uninstall (the seeds' "installs/uninstalls the IPv6 protocol") turn
# IPv6 on and off in this network namespace: Linux's disable_ipv6.
VERBS = ("add", "set", "delete", "show", "dump", "reset", "restore", "install", "uninstall")
NOUNS = {
    family: {verb: tuple(dict.fromkeys(n for v, n in commands if v == verb)) for verb in VERBS}
    for family, (commands, _) in CONTEXTS.items()
}
