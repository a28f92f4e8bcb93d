"""The parser of the netsh language (pure); the language itself, as data, is
:mod:`._words`.

Rules of this module:
- A command is a context (``interface ipv6``, ``interface ipv4``,
  ``interface 6to4``), a verb
  (add, set, delete, show, dump, reset, restore) and an object (address,
  route, neighbors, interface, global, ...), then parameters.
- Words and keywords may be abbreviated to any unique prefix, in any case,
  as netsh allows (``int ipv6 sh addr`` is ``interface ipv6 show address``).
- A parameter is ``keyword=value`` or, where netsh allows it, a positional
  value taking the next positional slot not yet given by keyword.
- Values are checked here, before anything touches the system: addresses
  and prefix lengths, lifetimes (``infinite`` or ``1d2h3m4s`` or seconds,
  preferred not longer than valid), MTUs (IPv6 needs 1280), enumerations.
  Interfaces are resolved later, against the host.
- Every error is :class:`NetshSyntaxError`: one line naming the keyword.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from .._errors import BadInput
from .._kernelops import INFINITE
from ._words import CONTEXTS, NOUNS, VERBS, Param


class NetshSyntaxError(BadInput):
    """A netsh command that cannot be run as written."""


@dataclass(frozen=True)
class Command:
    """One parsed command: what to do, with checked values."""

    family: str  # "ipv6" or "ipv4"
    verb: str
    noun: str  # the object; "" for dump, reset, restore, install, uninstall
    values: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # as written, for messages

    @property
    def persistent(self) -> bool:
        return self.values.get("store") == "persistent"


def pick(word: str, choices: tuple[str, ...] | list[str], what: str) -> str:
    """The choice ``word`` names, exactly or as a unique prefix, in any case."""
    lowered = word.lower()
    if lowered in choices:
        return lowered
    found = [c for c in choices if c.startswith(lowered)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NetshSyntaxError(f"{word!r} is not a {what} (one of: {', '.join(choices)})")
    raise NetshSyntaxError(f"{word!r} is ambiguous as a {what}: {', '.join(found)}")


def decode_script(data: bytes, name: str) -> list[str]:
    """A script's lines from its bytes: UTF-8 text (a BOM is allowed), nothing else.

    A byte that is not UTF-8, or a NUL or other control character, is refused
    with the line and column it is on, so the user can find it.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NetshSyntaxError(
                f"{name} line {number}: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} "
                "is not UTF-8 text"
            ) from None
        text = text.removesuffix("\r")
        bad = next((i for i, c in enumerate(text) if ord(c) < 32 and c != "\t"), None)
        if bad is not None:
            raise NetshSyntaxError(
                f"{name} line {number}: control character 0x{ord(text[bad]):02x} at column "
                f"{bad + 1} (a script is plain text)"
            )
        lines.append(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def split(line: str) -> list[str]:
    """Words of a line; quotes and # comments as a shell reads them."""
    if not any(c in line for c in "\"'#\\"):
        return line.split()  # the common case, ten times faster than shlex
    try:
        return shlex.split(line, comments=True, posix=True)
    except ValueError as exc:
        raise NetshSyntaxError(f"cannot read {line!r}: {exc}") from None


def parse_command(words: list[str], context: tuple[str, ...] = ()) -> Command:
    """Parse a command given as words, inside ``context`` (e.g. ("interface", "ipv6"))."""
    words = list(context) + list(words)
    text = " ".join(words)
    if not words:
        raise NetshSyntaxError("empty command")
    if not "interface".startswith(words[0].lower()) or len(words) < 3:
        raise NetshSyntaxError(
            f"{text!r}: commands start with 'interface ipv6', 'interface ipv4' or 'interface 6to4'"
        )
    family_word = words[1].lower()
    family = (
        "ipv4"
        if family_word in ("ip", "ipv4")
        else pick(family_word, ("ipv6", "ipv4", "6to4"), "context")
    )
    if family == "6to4" and pick(words[2], VERBS, "command") not in ("set", "show"):
        raise NetshSyntaxError("the 6to4 context has set and show (state, relay, routing)")
    commands, shows = CONTEXTS[family]
    verb = pick(words[2], VERBS, "command")
    rest = words[3:]
    if verb in ("install", "uninstall") and family != "ipv6":
        raise NetshSyntaxError(f"{verb} is a command of the ipv6 context")
    if verb in ("dump", "reset", "restore", "install", "uninstall"):
        if rest:
            raise NetshSyntaxError(f"{verb} takes no parameters (got {' '.join(rest)})")
        return Command(family, verb, "", {}, text)
    if verb == "show":
        if not rest:
            raise NetshSyntaxError(f"show what? one of: {', '.join(shows)}")
        noun = pick(rest[0], shows, "thing to show")
        values: dict[str, Any] = {}
        if len(rest) > 1:
            key, _, value = rest[1].partition("=")
            values["interface"] = value if value else key
        if len(rest) > 2:
            raise NetshSyntaxError(
                f"show {noun} takes at most an interface (got {' '.join(rest[1:])})"
            )
        return Command(family, verb, noun, values, text)
    nouns = NOUNS[family][verb]
    if not rest:
        raise NetshSyntaxError(f"{verb} what? one of: {', '.join(nouns)}")
    noun = pick(rest[0], nouns, f"thing to {verb}")
    params = commands[(verb, noun)]
    values = _parameters(rest[1:], params, family, f"{verb} {noun}")
    _check_together(values, family, f"{verb} {noun}")
    return Command(family, verb, noun, values, text)


def _parameters(
    words: list[str], params: tuple[Param, ...], family: str, where: str
) -> dict[str, Any]:
    by_name = {p.keyword: p for p in params}
    values: dict[str, Any] = {}
    positional = [p for p in params if p.positional]
    for word in words:
        if "=" in word:
            key, _, raw = word.partition("=")
            keyword = pick(key, tuple(by_name), f"keyword of {where}")
        else:
            slot = next((p for p in positional if p.keyword not in values), None)
            if slot is None:
                raise NetshSyntaxError(
                    f"{where}: {word!r} is not a keyword=value, and no value is missing"
                )
            keyword, raw = slot.keyword, word
        if keyword in values:
            raise NetshSyntaxError(f"{where}: {keyword} is given twice")
        values[keyword] = convert(by_name[keyword], raw, family)
    for p in params:
        if p.required and p.keyword not in values:
            raise NetshSyntaxError(f"{where}: {p.keyword} is required")
    return values


def convert(param: Param, raw: str, family: str) -> Any:
    """One value, checked; the error names the keyword."""
    kw = param.keyword
    if not raw:
        raise NetshSyntaxError(f"{kw}: a value is required")
    if param.kind in {"interface", "text"}:
        return raw
    if param.kind == "choice":
        return pick(raw, param.choices, f"value of {kw}")
    if param.kind == "lifetime":
        return parse_lifetime(raw, kw)
    if param.kind in ("int", "mtu"):
        try:
            number = int(raw)
        except ValueError:
            raise NetshSyntaxError(f"{kw}: {raw!r} is not a whole number") from None
        if number < 0:
            raise NetshSyntaxError(f"{kw}: {number} is negative")
        if param.kind == "mtu" and family == "ipv6" and number < 1280:
            raise NetshSyntaxError(f"{kw}: {number} is below 1280, the least MTU IPv6 runs on")
        if param.kind == "mtu" and number < 68:
            raise NetshSyntaxError(f"{kw}: {number} is below 68, the least MTU IPv4 runs on")
        return number
    if param.kind == "lladdr":
        digits = re.sub(r"[-:.]", "", raw)
        if not re.fullmatch(r"[0-9a-fA-F]{12}", digits):
            raise NetshSyntaxError(
                f"{kw}: {raw!r} is not a link-layer address like 00-60-08-52-f9-d8"
            )
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).lower()
    version = 6 if family == "ipv6" else 4
    if param.kind == "ipv4":
        return _address(raw, kw, 4)
    if param.kind == "host":
        address = _address(raw, kw, version)
        return address
    if param.kind in ("address", "prefix"):
        text = raw.split("%", 1)[0]
        body, slash, length = text.partition("/")
        address = _address(body, kw, version)
        if slash:
            if not length.isdigit():
                raise NetshSyntaxError(f"{kw}: {length!r} is not a prefix length")
            most = 128 if version == 6 else 32
            if int(length) > most:
                raise NetshSyntaxError(f"{kw}: prefix length {length} is longer than {most}")
        # No length: the address alone, as netsh adds it (a /128 or /32); the
        # prefix is a route of its own (add route).
        bits = int(length) if slash else (128 if version == 6 else 32)
        if param.kind == "prefix":
            return _NETWORK[version]((int(address), bits), strict=False)
        return _INTERFACE[version]((int(address), bits))
    raise AssertionError(param.kind)


# The family is known from the context: parsing as that family alone, rather than
# trying IPv4 first as ip_address does, makes a long script parse twice as fast.
_ADDRESS = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}
_INTERFACE = {4: ipaddress.IPv4Interface, 6: ipaddress.IPv6Interface}
_NETWORK = {4: ipaddress.IPv4Network, 6: ipaddress.IPv6Network}


def _address(text: str, keyword: str, version: int) -> Any:
    try:
        return _ADDRESS[version](text.split("%", 1)[0])
    except ValueError:
        raise NetshSyntaxError(f"{keyword}: {text!r} is not an IPv{version} address") from None


_LIFETIME = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_lifetime(raw: str, keyword: str) -> int:
    """``infinite``, plain seconds, or netsh's ``1d2h3m4s`` -> seconds (INFINITE for ever)."""
    if raw.lower() in ("infinite", "inf", "forever"):
        return INFINITE
    match = _LIFETIME.match(raw.lower())
    if not match or not any(match.groups()):
        raise NetshSyntaxError(f"{keyword}: {raw!r} is not a lifetime (infinite, 600, 30m, 1d2h)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total >= INFINITE:
        raise NetshSyntaxError(
            f"{keyword}: {raw} is longer than the kernel can count; say infinite"
        )
    return total


def _check_together(values: dict[str, Any], family: str, where: str) -> None:
    valid = values.get("validlifetime")
    preferred = values.get("preferredlifetime")
    if valid is not None and preferred is not None and preferred > valid:
        raise NetshSyntaxError(
            f"{where}: preferredlifetime ({_lifetime_text(preferred)}) is longer than "
            f"validlifetime ({_lifetime_text(valid)})"
        )
    if "mask" in values:
        try:
            ipaddress.ip_network(f"0.0.0.0/{values['mask']}")
        except ValueError:
            raise NetshSyntaxError(f"{where}: mask {values['mask']!r} is not a netmask") from None


def _lifetime_text(seconds: int) -> str:
    return "infinite" if seconds == INFINITE else f"{seconds}s"


def lifetime_text(seconds: int) -> str:
    """Seconds in netsh's words: ``infinite`` or ``1d2h3m4s``."""
    if seconds == INFINITE:
        return "infinite"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"
