"""The ``netsh`` command: Windows netsh words over Linux interfaces.

netsh interface ipv6 add address eth0 2001:db8::1/64
netsh int ipv6 sh addr eth0 --json
netsh -f script.txt          (or: netsh exec script.txt)
netsh                        (an interactive shell with contexts)
"""

from __future__ import annotations

import sys

from .._errors import BadInput
from . import kit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

HELP = """\
netsh: configure Linux interfaces with the words of Windows netsh.

Usage:
  netsh interface ipv6|ipv4 COMMAND [PARAMETERS] [--json]
  netsh -f FILE | netsh exec FILE      run a script as one transaction
  netsh                                an interactive shell (help, .., exit)

Commands (keywords may be abbreviated, values given positionally):
  add|set|delete address [interface=]IF [address=]ADDR[/LEN] [type=unicast|anycast]
                 [validlifetime=T] [preferredlifetime=T] [store=active|persistent]
  add|set|delete route [prefix=]P [interface=]IF [[nexthop=]NH] [metric=N]
                 [publish=no|age|yes] [validlifetime=T] [preferredlifetime=T]
                 [siteprefixlength=N] [store=...]
  add|delete neighbors IF ADDR LLADDR     delete destinationcache
  set interface [interface=]IF [forwarding=enabled|disabled] [advertise=enabled|disabled] [mtu=N]
                 [siteprefixlength=N] [dnsservers=ADDR,...|none [dnslifetime=S]]
                 [nat64prefix=P|none [nat64lifetime=S]]   (advertised: RFC 8106, RFC 8781)
  set global [defaultcurhoplimit=N] [neighborcachelimit=N] [routecachelimit=N]
  add v6v4tunnel [interface=]NAME [localaddress=]IPV4 [[remoteaddress=]IPV4]
                 [mode=6in4|6to4] [relay=IPV4] [mtu=N] [plane=auto|kernel|userspace] [lab=yes]
  delete interface [interface=]TUNNEL
  set global [forwarding=enabled|disabled] (Linux forwards per namespace)
  show interfaces|addresses|route|neighbors|joins|destinationcache|global|siteprefixes [IF]
  dump        print the commands that recreate this configuration
  reset       return what netsh manages to the defaults
  restore     apply again what was given with store=persistent
  install     turn IPv6 on in this network namespace; uninstall turns it off
              (Linux's disable_ipv6: off takes every IPv6 address with it)
The 6to4 context (netsh interface 6to4 ...):
  set state [state=]enabled|disabled|default [undoonstop=...] [address=IPV4] [lab=yes]
  set relay [name=]RELAY [state=enabled|disabled|default|automatic] [interval=MINUTES]
  set routing [routing=]enabled|disabled|default [sitelocals=enabled|disabled|default]
  show state|relay|routing|interface [--json]
Lifetimes: infinite, seconds, or 1d2h3m4s. IPv6 MTUs are at least 1280.
advertise=enabled (with forwarding=enabled) sends router advertisements built from
the routes published on the interface (publish=yes|age), until advertise=disabled.
Exit codes: 0 ok, 1 the kernel refused (all undone), 2 bad input, 4 not root.
"""


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words
    words = [w for w in words if w != "--json"]
    return kit.guard(["netsh"], lambda: _dispatch(words, as_json))


def _dispatch(words: list[str], as_json: bool) -> int:
    if not words:
        import io

        # Bytes that are not UTF-8 reach the shell as they are, to be refused line by line.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
        return shell(stdin, sys.stdout, interactive=sys.stdin.isatty())
    if words[0] in ("-h", "--help", "help", "?", "/?"):
        print(HELP, end="")
        return 0
    if words[0] in ("-f", "exec"):
        if len(words) != 2:
            raise BadInput(f"{words[0]} takes one file")
        return run_file(words[1])
    return run_words(words, as_json, sys.stdout)


def run_file(path: str) -> int:
    from ..netsh._commands import run_script

    try:
        with kit.open_file(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    for message in run_script(data, path).messages:
        print(message)
    return 0


def run_words(words: list[str], as_json: bool, out: TextIO, context: tuple[str, ...] = ()) -> int:
    from ..netsh._commands import execute
    from ..netsh._grammar import parse_command

    command = parse_command(words, context)
    outcome = execute(command)
    if outcome.rows is not None:
        print_rows([row.to_json() for row in outcome.rows], as_json, out)
    elif outcome.script is not None:
        print(f"# netsh dump of interface {command.family}", file=out)
        for line in outcome.script:
            print(line, file=out)
    else:
        for message in outcome.messages:
            print(message, file=out)
    return 0


def print_rows(rows: list[dict[str, Any]], as_json: bool, out: TextIO) -> None:
    if as_json:
        kit.print_json(rows, out)
        return
    if not rows:
        print("(none)", file=out)
        return
    header = [k for k in rows[0] if k != "ifindex"] if "interface" in rows[0] else list(rows[0])
    table = [[_cell(r.get(k)) for k in header] for r in rows]
    print(kit.table(table, [h.upper() for h in header]), file=out)


def _cell(value: Any) -> object:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return value


def shell(stdin: TextIO, out: TextIO, *, interactive: bool) -> int:
    """The interactive shell: contexts, help at every level, one command a line."""
    from ..netsh._grammar import NetshSyntaxError, decode_script
    from ..netsh._words import CONTEXTS

    context: list[str] = []
    status = 0
    number = 0
    while True:
        if interactive:
            print(
                f"netsh{' ' + ' '.join(context) if context else ''}> ", end="", file=out, flush=True
            )
        line = stdin.readline()
        if not line:
            break
        number += 1
        try:
            decode_script(line.rstrip("\n").encode("utf-8", "surrogateescape"), "input")
        except NetshSyntaxError as exc:
            print(f"netsh: {str(exc).replace('line 1', f'line {number}', 1)}", file=sys.stderr)
            status = exc.exit_code
            continue
        words = line.split()
        if not words:
            continue
        head = words[0].lower()
        if head in ("exit", "quit", "bye"):
            break
        if head == "..":
            context = context[:-1]
            continue
        if head in ("help", "?", "/?"):
            print(_help_for(context, CONTEXTS), file=out)
            continue
        if (not context and head.startswith("int") and len(words) <= 2) or (
            context == ["interface"] and len(words) == 1 and head in ("ipv6", "ipv4", "ip", "6to4")
        ):
            context = (context + words)[:2] if context else words[:2]
            context[0] = "interface"
            continue
        status = _run_in_shell(words, out, tuple(context))
    return status


def _run_in_shell(words: list[str], out: TextIO, context: tuple[str, ...]) -> int:
    """One command typed in the shell; an error is a line, and the shell goes on."""
    return kit.guard(["netsh"], lambda: run_words(words, "--json" in words, out, context))


def _help_for(context: list[str], contexts: dict[str, Any]) -> str:
    if not context:
        return "contexts: interface (then ipv6, ipv4 or 6to4); commands: help, .., exit"
    if len(context) == 1:
        return "contexts: ipv6, ipv4, 6to4; commands: help, .., exit"
    word = context[1].lower()
    family = "ipv4" if word in ("ip", "ipv4") else "6to4" if word == "6to4" else "ipv6"
    commands, shows = contexts[family]
    verbs = sorted({f"{v} {n}" for v, n in commands})
    tail = "; help, .., exit" if family == "6to4" else "; dump, reset, restore; help, .., exit"
    return "commands: " + ", ".join(verbs) + "; show " + "|".join(shows) + tail


if __name__ == "__main__":
    sys.exit(main())
