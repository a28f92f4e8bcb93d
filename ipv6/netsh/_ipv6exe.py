"""The seeds' Ipv6.exe commands as data: their words in, netsh commands out.

Rules of this module:
- Pure: the words of one Ipv6.exe subcommand (``if``, ``ifc``, ``adu``,
  ``rtu``...) and what the host has (its interfaces, addresses and routes)
  go in; a :class:`Display` (a netsh ``show`` and its filter), a
  :class:`Change` (netsh command lines, run as one transaction) or a
  :class:`NotHere` (what Linux has instead) comes out. Nothing runs here.
- The seeds' forms and abbreviations: ``forwards``/``forw``,
  ``advertises``/``adv`` (the seed's heading spells it ``advertisers``),
  ``lifetime``/``life VL[/PL]``, ``preference``/``pref``,
  ``publish``/``pub``, ``age``, ``spl``. An interface is its index, as in
  the seeds, or its name.
- An update verb adds what is missing and updates what is there (``adu``
  and ``rtu`` are "update"); a lifetime of 0 removes.
- Every error is :class:`~._grammar.NetshSyntaxError`: one line, exit 2.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._kernelops import INFINITE, Interface
from ._grammar import NetshSyntaxError, parse_lifetime
from ._ops import resolve

VERBS = ("if", "ifc", "ifd", "nc", "ncf", "rc", "rcf", "bc", "adu", "spt", "spu", "rt", "rtu")
CTX = "interface ipv6"


@dataclass(frozen=True)
class Display:
    """A netsh ``show`` of ``noun``, kept to one interface and one address."""

    noun: str
    ifindex: int | None = None
    address: str | None = None


@dataclass(frozen=True)
class Change:
    """netsh command lines that make the change, as one transaction."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class NotHere:
    """Something Linux does not have: what to say instead (exit 0)."""

    message: str


Outcome = Display | Change | NotHere


@dataclass(frozen=True)
class Host:
    """What the translation needs to know of the host."""

    interfaces: Mapping[str, Interface]  # name -> index
    addresses: Mapping[tuple[int, str], int] = field(default_factory=dict)  # -> prefix length
    routes: frozenset[tuple[str, int, str | None]] = frozenset()  # (prefix, ifindex, nexthop)
    forwarding: bool = False  # the namespace's: net.ipv6.conf.all.forwarding


Handler = Callable[[list[str], "Host"], Outcome]


def translate(verb: str, words: list[str], host: Host) -> Outcome:
    """One Ipv6.exe subcommand, as netsh would carry it out here."""
    handler = _VERBS.get(verb)
    if handler is None:
        raise NetshSyntaxError(f"{verb!r} is not an ipv6 subcommand (one of: {', '.join(VERBS)})")
    return handler(words, host)


# -- displays ----------------------------------------------------------------------


def _interface(word: str, host: Host) -> tuple[str, int]:
    name, index = resolve(word, host.interfaces)
    if not isinstance(index, int):
        raise NetshSyntaxError(f"interface {word!r} does not exist yet")
    return name, index


def _at_most(words: list[str], count: int, form: str) -> None:
    if len(words) > count:
        raise NetshSyntaxError(f"too many words ({' '.join(words)}): the form is {form}")


def _address(word: str) -> str:
    try:
        return str(ipaddress.IPv6Address(word))
    except ValueError:
        raise NetshSyntaxError(f"{word!r} is not an IPv6 address") from None


def _display(noun: str, form: str, most: int) -> Handler:
    def handler(words: list[str], host: Host) -> Outcome:
        _at_most(words, most, form)
        index = _interface(words[0], host)[1] if words else None
        address = _address(words[1]) if len(words) > 1 else None
        return Display(noun, index, address)

    return handler


def _rc(words: list[str], host: Host) -> Outcome:
    if len(words) == 1:
        raise NetshSyntaxError("rc takes an interface and an address, or nothing: rc [IF ADDR]")
    return _display("destinationcache", "rc [IF ADDR]", 2)(words, host)


def _bc(words: list[str], host: Host) -> Outcome:
    _at_most(words, 0, "bc")
    return NotHere(
        "no binding cache: Linux has no mobile IPv6 home-address bindings (the seeds' bc lists "
        "those of Windows' Mobile IPv6)"
    )


def _spu(words: list[str], host: Host) -> Outcome:
    raise NetshSyntaxError(
        "Linux keeps no site prefix table (site-local addresses are deprecated, RFC 3879): to "
        "advertise a site prefix length, publish the on-link route with spl N (ipv6 rtu PREFIX "
        "IF pub spl N); ipv6 spt lists those"
    )


# -- changes -----------------------------------------------------------------------


def _flush(noun: str, form: str) -> Handler:
    def handler(words: list[str], host: Host) -> Outcome:
        _at_most(words, 2, form)
        parts = []
        if words:
            parts.append(f"interface={_interface(words[0], host)[0]}")
        if len(words) > 1:
            parts.append(f"address={_address(words[1])}")
        return Change((" ".join([CTX, "delete", noun, *parts]),))

    return handler


IFC_WORDS = {
    "forwards": ("forwarding", "enabled"),
    "forw": ("forwarding", "enabled"),
    "-forwards": ("forwarding", "disabled"),
    "-forw": ("forwarding", "disabled"),
    "advertises": ("advertise", "enabled"),
    "advertisers": ("advertise", "enabled"),
    "adv": ("advertise", "enabled"),
    "-advertises": ("advertise", "disabled"),
    "-advertisers": ("advertise", "disabled"),
    "-adv": ("advertise", "disabled"),
}


def _ifc(words: list[str], host: Host) -> Outcome:
    if not words:
        raise NetshSyntaxError("ifc needs an interface: ifc IF [forwards] [advertises] [mtu N]")
    name = _interface(words[0], host)[0]
    settings: dict[str, str] = {}
    rest = list(words[1:])
    while rest:
        word = rest.pop(0).lower()
        if word in IFC_WORDS:
            key, value = IFC_WORDS[word]
            settings[key] = value
        elif word == "mtu":
            if not rest or not rest[0].isdigit():
                raise NetshSyntaxError("mtu takes a number of bytes (at least 1280)")
            settings["mtu"] = rest.pop(0)
        elif word == "site":
            raise NetshSyntaxError(
                "Linux has no site identifiers (site-local addresses are deprecated, RFC 3879; "
                "a link-local address's zone is its interface index): nothing was changed"
            )
        else:
            raise NetshSyntaxError(
                f"{word!r}: ifc takes forwards (forw), advertises (adv), -forwards, "
                "-advertises, mtu N"
            )
    if not settings:
        raise NetshSyntaxError("ifc: say what to change (forwards, advertises, mtu N...)")
    change = " ".join(f"{k}={v}" for k, v in settings.items())
    lines = [f"{CTX} set interface interface={name} {change}"]
    if settings.get("forwarding") == "enabled" and not host.forwarding:
        # Linux forwards per namespace, not per interface: an interface that forwards
        # needs the namespace's forwarding on (which Linux copies to every interface,
        # so it goes first).
        lines.insert(0, f"{CTX} set global forwarding=enabled")
    return Change(tuple(lines))


def _ifd(words: list[str], host: Host) -> Outcome:
    if len(words) != 1:
        raise NetshSyntaxError("ifd takes one interface: ifd IF")
    return Change((f"{CTX} delete interface interface={_interface(words[0], host)[0]}",))


def _lifetimes(text: str) -> tuple[int, int]:
    valid_text, _, preferred_text = text.partition("/")
    valid = parse_lifetime(_inf(valid_text), "lifetime")
    preferred = parse_lifetime(_inf(preferred_text), "lifetime") if preferred_text else valid
    if preferred > valid:
        raise NetshSyntaxError(
            f"lifetime {text}: the preferred lifetime is longer than the valid lifetime"
        )
    return valid, preferred


def _inf(text: str) -> str:
    return "infinite" if text.lower() in ("inf", "infinite") else text


def _life_words(valid: int, preferred: int) -> list[str]:
    if valid == INFINITE:
        return []
    return [f"validlifetime={valid}", f"preferredlifetime={preferred}"]


def _options(words: list[str], known: dict[str, str], valued: set[str]) -> dict[str, str]:
    """Ipv6.exe's trailing options: each abbreviation to its name, with its value."""
    out: dict[str, str] = {}
    rest = list(words)
    while rest:
        word = rest.pop(0)
        key, equals, value = word.partition("=")
        if equals and known.get(key.lower()) in valued:
            word = key  # netsh's habit, NAME=VALUE: ipv6.exe's is NAME VALUE
            rest.insert(0, value)
        name = known.get(word.lower())
        if name is None:
            raise NetshSyntaxError(f"{word!r}: not an option here (options: {', '.join(known)})")
        if name in valued:
            if not rest:
                raise NetshSyntaxError(f"{word} needs a value")
            out[name] = rest.pop(0)
        else:
            out[name] = ""
    return out


ADU_OPTIONS = {"lifetime": "lifetime", "life": "lifetime", "anycast": "anycast",
               "unicast": "unicast"}  # fmt: skip


def _adu(words: list[str], host: Host) -> Outcome:
    if not words or "/" not in words[0]:
        raise NetshSyntaxError("adu takes IF/ADDRESS: adu IF/ADDR [lifetime VL[/PL]] [anycast]")
    where, _, text = words[0].partition("/")
    name, index = _interface(where, host)
    address = _address(text)
    options = _options(words[1:], ADU_OPTIONS, {"lifetime"})
    valid, preferred = _lifetimes(options.get("lifetime", "infinite"))
    anycast = "anycast" in options
    if anycast and "unicast" in options:
        raise NetshSyntaxError("an address is anycast or unicast, not both")
    if anycast and valid not in (0, INFINITE):
        raise NetshSyntaxError("an anycast address's lifetime is 0 (remove it) or infinite")
    target = f"interface={name} address={address}"
    if valid == 0:
        return Change((f"{CTX} delete address {target}",))
    held = host.addresses.get((index, address))
    if held is not None:  # an update: its lifetimes, the prefix length it has kept
        target = f"interface={name} address={address}/{held}"
    verb = "add" if held is None else "set"
    kind = " type=anycast" if anycast else ""
    lives = " ".join(_life_words(valid, preferred))
    return Change((f"{CTX} {verb} address {target}{kind}{' ' + lives if lives else ''}",))


RTU_OPTIONS = {"lifetime": "lifetime", "life": "lifetime", "preference": "preference",
               "pref": "preference", "publish": "publish", "pub": "publish", "age": "age",
               "spl": "spl"}  # fmt: skip


def _route_target(word: str, host: Host) -> tuple[str, int, str | None]:
    """IF[/NEXTHOP]; also the seeds' ``2::131.107.152.32`` (interface 2, next hop
    ::131.107.152.32, a relay's IPv4-compatible address) when 2 is an interface."""
    where, slash, hop = word.partition("/")
    if not slash and "::" in word:
        head, _, tail = word.partition("::")
        if head.isdigit() and any(i == int(head) for i in host.interfaces.values()):
            where, hop = head, f"::{tail}"
    name, index = _interface(where, host)
    return name, index, _address(hop) if hop else None


def _rtu(words: list[str], host: Host) -> Outcome:
    if len(words) < 2:
        raise NetshSyntaxError("rtu takes a prefix and an interface: rtu PREFIX IF[/NEXTHOP] ...")
    try:
        prefix = ipaddress.IPv6Network(words[0])
    except ValueError as exc:
        raise NetshSyntaxError(f"{words[0]!r} is not an IPv6 prefix ({exc})") from None
    name, index, hop = _route_target(words[1], host)
    options = _options(words[2:], RTU_OPTIONS, {"lifetime", "preference", "spl"})
    valid = parse_lifetime(_inf(options.get("lifetime", "infinite")), "lifetime")
    target = f"prefix={prefix} interface={name}" + (f" nexthop={hop}" if hop else "")
    if valid == 0:
        return Change((f"{CTX} delete route {target}",))
    extra = []
    if "preference" in options:
        if not options["preference"].isdigit():
            raise NetshSyntaxError(f"preference {options['preference']!r} is not a number")
        extra.append(f"metric={options['preference']}")
    if "publish" in options:
        extra.append("publish=age" if "age" in options else "publish=yes")
    if "spl" in options:
        spl = options["spl"]
        if not spl.isdigit() or int(spl) > 128:
            raise NetshSyntaxError(f"spl {spl!r}: a site prefix length is 0 to 128")
        extra.append(f"siteprefixlength={spl}")
    if valid != INFINITE:
        extra.append(f"validlifetime={valid}")
    verb = "set" if (str(prefix), index, hop) in host.routes else "add"
    return Change((" ".join([f"{CTX} {verb} route {target}", *extra]),))


_VERBS: dict[str, Handler] = {
    "if": _display("interfaces", "if [IF]", 1),
    "nc": _display("neighbors", "nc [IF [ADDR]]", 2),
    "rc": _rc,
    "rt": _display("route", "rt", 0),
    "spt": _display("siteprefixes", "spt", 0),
    "bc": _bc,
    "spu": _spu,
    "ifc": _ifc,
    "ifd": _ifd,
    "ncf": _flush("neighbors", "ncf [IF [ADDR]]"),
    "rcf": _flush("destinationcache", "rcf [IF [ADDR]]"),
    "adu": _adu,
    "rtu": _rtu,
}
