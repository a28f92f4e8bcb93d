"""6to4 on this host: gathering facts for the planner, applying its script
through netsh (one transaction), remembering what was done so that -u can
undo exactly that, and the netsh 6to4 context's settings.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from .. import _statefile
from .._checksum import checksum
from .._errors import BadInput
from .._result import Result
from ..tunnel import _registry
from ..tunnel._sixto4plan import TUNNEL, HostFacts, Options, Plan, plan, script_text
from ._executor import NetshFailed

SETTINGS_DEFAULT: dict[str, Any] = {
    "state": "default",
    "undoonstop": "default",
    "address": None,
    "lab": False,
    "relay": {"name": None, "state": "default", "interval": 1440},
    "routing": "default",
    "sitelocals": "default",
}


def record_path() -> Path:
    return _statefile.namespace_file("6to4", ".json")


def load_record() -> dict[str, Any]:
    data = _statefile.read_json(record_path(), "the 6to4 state")
    data.setdefault("applied", None)
    data.setdefault("settings", json.loads(json.dumps(SETTINGS_DEFAULT)))
    return data


def save_record(data: dict[str, Any]) -> None:
    _registry.write_json(record_path(), data)


# --- facts ---------------------------------------------------------------------------------


def _sysctl_on(path: str) -> bool:
    from .._procsys import read_sysctl

    return read_sysctl(path) not in ("", "0")


def outbound_ipv4(towards: IPv4Address | None) -> IPv4Address | None:
    """The source the kernel would use towards ``towards`` (or the Internet): a UDP
    connect picks it without sending anything."""
    target = str(towards) if towards is not None else "192.0.2.1"  # TEST-NET-1: never sent to
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((target, 9))
        except OSError:
            return None
        return IPv4Address(s.getsockname()[0])


def gather_facts(towards: IPv4Address | None) -> HostFacts:
    import psutil

    from ._store import load_state

    stats = psutil.net_if_stats()
    addrs = psutil.net_if_addrs()
    ipv4 = tuple(
        (name, IPv4Address(a.address))
        for name, items in sorted(addrs.items())
        for a in items
        if a.family == socket.AF_INET
    )
    tunnels = set(_registry.load()["tunnels"])
    interfaces = tuple(
        name
        for name, st in sorted(stats.items(), key=lambda kv: socket.if_nametoindex(kv[0]))
        if st.isup
        and name != "lo"
        and name not in tunnels
        and any(a.family == psutil.AF_LINK and a.address for a in addrs.get(name, ()))
    )
    advertisers = load_state().get("advertisers", {})
    return HostFacts(
        ipv4=ipv4,
        outbound=outbound_ipv4(towards),
        interfaces=interfaces,
        forwarding=_sysctl_on("net/ipv6/conf/all/forwarding"),
        interface_forwarding={i: _sysctl_on(f"net/ipv6/conf/{i}/forwarding") for i in interfaces},
        advertising=frozenset(advertisers),
    )


# --- relays --------------------------------------------------------------------------------


def resolve_relay(name: str, *, best: bool) -> IPv4Address:
    """-R NAME: its first IPv4 address, or with -b the one that answers an echo first."""
    try:
        found = [IPv4Address(name)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_RAW)
        except OSError as exc:
            raise BadInput(f"-R {name}: cannot resolve it ({exc.strerror})") from None
        found = list(dict.fromkeys(IPv4Address(i[4][0]) for i in infos))
    if best and len(found) > 1:
        return fastest(found) or found[0]
    return found[0]


def fastest(candidates: list[IPv4Address], wait: float = 1.0) -> IPv4Address | None:
    """The candidate whose ICMP echo reply comes back first (None if none does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        ident = os.getpid() & 0xFFFF
        for seq, address in enumerate(candidates):
            body = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            csum = checksum(body)
            s.sendto(body[:2] + csum.to_bytes(2, "big") + body[4:], (str(address), 0))
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([s], [], [], left)
            if not ready:
                break
            data, (sender, _) = s.recvfrom(2048)
            icmp = data[(data[0] & 0x0F) * 4 :]
            if icmp[:1] == b"\0" and int.from_bytes(icmp[4:6], "big") == ident:
                address = IPv4Address(sender)
                if address in candidates:
                    return address
    return None


# --- applying and undoing ------------------------------------------------------------------


def make_plan(options: Options) -> Plan:
    return plan(options, gather_facts(options.relay))


def title(options: Options, made: Plan) -> str:
    flags = " ".join(f for f, on in (("-r", options.router), ("-s", options.sitelocal)) if on)
    relay = f", relay {options.relay}" if options.relay else ", no relay"
    return f"6to4cfg {flags} for {made.address}: site {made.site}{relay}".replace("  ", " ")


def run_script(lines: tuple[str, ...]) -> None:
    from . import parse_script, run_lines

    run_lines(parse_script([f"interface ipv6 {line}" for line in lines]))


def apply(options: Options) -> Plan:
    record = load_record()
    if record["applied"] is not None:
        raise BadInput(
            f"6to4 is already configured here ({record['applied']['title']}); "
            "undo it first with `ipv6 6to4cfg -u`"
        )
    made = make_plan(options)
    run_script(made.script)
    record["applied"] = {
        "title": title(options, made),
        "address": str(made.address),
        "site": str(made.site),
        "router": options.router,
        "relay": str(options.relay) if options.relay else None,
        "inner": [[name, str(net)] for name, net in made.inner],
        "script": list(made.script),
        "undo": list(made.undo),
    }
    save_record(record)
    return made


def undo() -> list[str]:
    """Undo what 6to4cfg (or the 6to4 context) applied; the undo script it ran."""
    record = load_record()
    applied = record["applied"]
    if applied is None:
        raise BadInput("6to4 is not configured here by this toolkit: nothing to undo")
    lines = tuple(applied["undo"])
    if TUNNEL not in _registry.load()["tunnels"]:
        lines = tuple(line for line in lines if TUNNEL not in line)  # gone already
    try:
        run_script(lines)
    except NetshFailed:
        # Something was changed by hand since (netsh reset, say): undo what is still
        # there, line by line, and say what was not.
        for line in lines:
            try:
                run_script((line,))
            except NetshFailed as exc:
                print(f"note: not undone, {exc}", file=sys.stderr)
    record["applied"] = None
    save_record(record)
    return list(lines)


def undo_text() -> str:
    applied = load_record()["applied"]
    if applied is None:
        raise BadInput("6to4 is not configured here by this toolkit: nothing to undo")
    return script_text(tuple(applied["undo"]), f"undo {applied['title']}")


def write_script(text: str, filename: str) -> None:
    if filename.lower() in ("con", "-"):
        sys.stdout.write(text)
        return
    try:
        Path(filename).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {filename}: {exc.strerror}") from None


# --- the netsh 6to4 context ----------------------------------------------------------------


def options_from(settings: dict[str, Any]) -> Options:
    """The 6to4cfg options the 6to4 context's settings stand for."""
    relay = settings["relay"]
    named = relay["name"] if relay["state"] != "disabled" else None
    address = settings.get("address")
    return Options(
        router=settings["routing"] == "enabled",
        sitelocal=settings["sitelocals"] == "enabled",
        relay=resolve_relay(named, best=False) if named else None,
        address=IPv4Address(address) if address else None,
        lab=bool(settings.get("lab")),
    )


def wanted(settings: dict[str, Any]) -> bool:
    """Whether 6to4 should be on: enabled, or default with a global IPv4 address."""
    if settings["state"] != "default":
        return bool(settings["state"] == "enabled")
    facts = gather_facts(None)
    return any(a.is_global for _, a in facts.ipv4)


def netsh_set(noun: str, values: dict[str, Any]) -> list[str]:
    """``interface 6to4 set state|relay|routing``: keep the setting, then make the host
    match it (undo what was applied, apply again with the new settings)."""
    record = load_record()
    settings = record["settings"]
    if noun == "state":
        settings["state"] = values["state"]
        settings["undoonstop"] = values.get("undoonstop", settings["undoonstop"])
        if "address" in values:
            settings["address"] = str(values["address"])
        if "lab" in values:
            settings["lab"] = values["lab"] == "yes"
    elif noun == "relay":
        relay = settings["relay"]
        if "name" in values:
            relay["name"] = None if values["name"].lower() == "default" else values["name"]
        relay["state"] = values.get("state", relay["state"])
        relay["interval"] = values.get("interval", relay["interval"])
        if relay["state"] == "enabled" and not relay["name"]:
            raise BadInput("set relay state=enabled needs name=RELAY: there is no default relay")
    else:
        settings["routing"] = values.get("routing", settings["routing"])
        settings["sitelocals"] = values.get("sitelocals", settings["sitelocals"])
    options = options_from(settings) if wanted(settings) else None
    if options is not None:
        make_plan(options)  # settings that cannot be applied change nothing, not even themselves
    save_record(record)
    messages = []
    if record["applied"] is not None:
        undo()
        messages.append("6to4 configuration removed")
    if options is not None:
        made = apply(options)
        messages.append(f"6to4 configured: site {made.site} from {made.address}")
    return messages or ["Ok."]


@dataclass
class SixToFourState(Result):
    state: str
    undoonstop: str
    configured: bool
    address: str | None
    site: str | None


@dataclass
class SixToFourRelay(Result):
    name: str | None  # None: "default", which names no relay (there is no default relay)
    state: str
    interval: int
    in_use: str | None


@dataclass
class SixToFourRouting(Result):
    routing: str
    sitelocals: str
    gateway: bool


@dataclass
class SixToFourInterface(Result):
    interface: str
    role: str  # "6to4 tunnel" or "advertised"
    prefix: str


SixToFourRow = SixToFourState | SixToFourRelay | SixToFourRouting | SixToFourInterface


def netsh_show(noun: str) -> list[SixToFourRow]:
    """``netsh interface 6to4 show NOUN``: the settings kept, and what was applied."""
    record = load_record()
    settings, applied = record["settings"], record["applied"]
    if noun == "state":
        return [
            SixToFourState(
                settings["state"],
                settings["undoonstop"],
                configured=applied is not None,
                address=applied["address"] if applied else None,
                site=applied["site"] if applied else None,
            )
        ]
    if noun == "relay":
        relay = settings["relay"]
        return [
            SixToFourRelay(
                relay["name"],
                relay["state"],
                relay["interval"],
                in_use=applied["relay"] if applied else None,
            )
        ]
    if noun == "routing":
        return [
            SixToFourRouting(
                settings["routing"], settings["sitelocals"], bool(applied and applied["router"])
            )
        ]
    if applied is None:
        return []
    rows: list[SixToFourRow] = [SixToFourInterface(TUNNEL, "6to4 tunnel", applied["site"])]
    rows += [SixToFourInterface(n, "advertised", p) for n, p in applied["inner"]]
    return rows
