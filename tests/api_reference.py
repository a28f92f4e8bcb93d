"""docs/api.md, the Python API's reference, made from the public faces
themselves: every name in each public module's ``__all__``, its signature and
the first paragraph of its docstring (a class: its public methods and
properties too). A name without a docstring says so in the page, so the gap is
seen, not hidden.

    python -m tests.api_reference            # print the page
    python -m tests.api_reference --write    # write docs/api.md

tests/test_api_reference.py fails when docs/api.md is not what this makes.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"

# The public modules, in the order a reader meets them, with what each is for.
FACES = [
    ("ipv6", "addresses, zones, interfaces, dual-stack sockets, ping, results"),
    ("ipv6.lab", "network-namespace labs"),
    ("ipv6.translate", "SIIT, NAT64, CLAT, DNS64"),
    ("ipv6.tunnel", "6to4, 6in4, 6rd"),
    ("ipv6.ipsec", "ipsec6's files, AH, status"),
    ("ipv6.netsh", "netsh and ipv6.exe lines"),
    ("ipv6.daemons", "the background services' plumbing"),
    ("ipv6.sockopts", "socket options by platform"),
    ("ipv6.batch", "many datagrams a system call"),
    ("ipv6.capabilities", "what this kernel can do"),
    ("mcast", "membership, source filters, receiving, sending, ping, routing"),
    ("mcast.membership", "membership and source filters"),
    ("mcast.streams", "measured streams"),
    ("mcast.ping", "multicast ping"),
    ("mcast.routing", "multicast routes, the proxy, bridges"),
    ("mcast.querier", "the IGMP/MLD querier"),
    ("mcast.wire", "IGMP and MLD on the wire"),
    ("mcast.pgm", "PGM reliable multicast"),
    ("mcast.labtest", "testing programs in labs (the pytest plugin's objects)"),
]


def first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj)
    if not doc:
        return "(no docstring)"
    paragraph = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def signature(obj: Any) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    return re.sub(r" at 0x[0-9a-f]+", "", text)  # an object's default shown without its address


def describe_name(module: str, name: str, obj: Any) -> list[str]:
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        if issubclass(obj, enum.Enum):
            members = ", ".join(m.name for m in obj)
            return [f"### `{module}.{name}` (enum)", "", first_paragraph(obj), "",
                    f"Members: {members}.", ""]  # fmt: skip
        head = f"### `{module}.{name}{signature(obj)}` ({kind})"
        lines = [head, "", first_paragraph(obj), ""]
        if kind == "class":
            for attr, value in sorted(vars(obj).items()):
                if attr.startswith("_"):
                    continue
                if isinstance(value, property):
                    lines.append(f"- `.{attr}` (property): {first_paragraph(value)}")
                elif isinstance(value, (classmethod, staticmethod)):
                    fn = value.__func__
                    lines.append(f"- `.{attr}{signature(fn)}`: {first_paragraph(fn)}")
                elif inspect.isfunction(value):
                    lines.append(f"- `.{attr}{signature(value)}`: {first_paragraph(value)}")
            if lines[-1] != "":
                lines.append("")
        return lines
    if callable(obj):
        kind = "async function" if inspect.iscoroutinefunction(obj) else "function"
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None and inspect.isasyncgenfunction(wrapped):
            kind = "async context manager"
        elif wrapped is not None and inspect.isgeneratorfunction(wrapped):
            kind = "context manager"
        return [f"### `{module}.{name}{signature(obj)}` ({kind})", "", first_paragraph(obj), ""]
    if inspect.ismodule(obj):
        return [f"### `{module}.{name}` (module)", "", first_paragraph(obj), ""]
    import struct

    shown = f"struct.Struct({obj.format!r})" if isinstance(obj, struct.Struct) else repr(obj)
    if len(shown) > 80 or " at 0x" in shown:
        shown = type(obj).__name__
    return [f"### `{module}.{name}` = `{shown}`", ""]


def page() -> str:
    lines = [
        "# The Python API",
        "",
        "Made by `python -m tests.api_reference --write` from the public modules' "
        "`__all__`, signatures and docstrings; do not edit (a test fails when it is "
        "stale). A name not listed here is private: its module may change without notice.",
        "",
        "Results are dataclasses with `to_json()` (what a command's `--json` prints) "
        "and `from_json()` (the same value back from that output). Errors belong to "
        "`ipv6.Ipv6Error` or `mcast.McastError`, each with an `exit_code`.",
        "",
        "What moves packets or waits for the network is async (Trio): PGM, streams, "
        "ping, the DNS64 server, the proxy, Happy Eyeballs; run it under `trio.run` or "
        "in a pytest-trio test. What configures the machine (translators, a CLAT, "
        "tunnels, ipsec6's files, multicast routes, labs) is a plain call that returns "
        "when the change is made or refused (netlink through pyroute2, which has no "
        "Trio support, and the planes' services, started and asked); from Trio, call it "
        "with `await trio.to_thread.run_sync(add_translator, spec)`.",
        "",
        "## Contents",
        "",
    ]
    lines += [f"- [`{m}`](#{m.replace('.', '')}): {what}" for m, what in FACES]
    lines.append("")
    for module_name, what in FACES:
        module = importlib.import_module(module_name)
        lines += [f"## {module_name}", "", f"{what.capitalize()}. {first_paragraph(module)}", ""]
        for name in sorted(module.__all__, key=str.lower):
            lines += describe_name(module_name, name, getattr(module, name))
    return "\n".join(lines).rstrip() + "\n"


def undocumented() -> list[str]:
    """Public names (not their methods) without a docstring."""
    found = []
    for block in page().split("\n### ")[1:]:
        head, _, rest = block.partition("\n")
        if rest.strip().startswith("(no docstring)"):
            found.append(head)
    return found


if __name__ == "__main__":
    if "--write" in sys.argv:
        DOC.write_text(page(), encoding="utf-8")
    else:
        sys.stdout.write(page())
