"""IGMP and MLD messages as people and scripts read them (text line, JSON)."""

from __future__ import annotations

import time
from typing import Any

from ._frames import WireMessage
from ._igmp import IgmpQuery, IgmpV1Report, IgmpV2Leave, IgmpV2Report, IgmpV3Report
from ._mld import MldQuery, MldV1Done, MldV1Report, MldV2Report


def message_type(wire: WireMessage) -> str:
    m = wire.message
    if isinstance(m, IgmpQuery | MldQuery):
        return "query"
    if isinstance(m, IgmpV2Leave):
        return "leave"
    if isinstance(m, MldV1Done):
        return "done"
    return "report"


def describe(wire: WireMessage) -> dict[str, Any]:
    """The message's fields, as ``mcast watch --json`` prints them."""
    m = wire.message
    out: dict[str, Any] = {
        "protocol": wire.protocol.upper(),
        "version": wire.version,
        "type": message_type(wire),
        "source": str(wire.source),
        "destination": str(wire.destination),
        "ttl": wire.ttl,
        "router_alert": wire.router_alert,
    }
    if isinstance(m, IgmpQuery | MldQuery):
        out["group"] = str(m.group)
        if isinstance(m, IgmpQuery):
            out["max_resp_ms"] = m.max_resp_tenths * 100
        else:
            out["max_resp_ms"] = m.max_resp_ms
        if m.version == 3 or (isinstance(m, MldQuery) and m.version == 2):
            out.update(
                suppress=m.suppress, qrv=m.qrv, qqic=m.qqic, sources=[str(s) for s in m.sources]
            )
    elif isinstance(m, IgmpV3Report | MldV2Report):
        out["records"] = [
            {"type": r.type.short, "group": str(r.group), "sources": [str(s) for s in r.sources]}
            for r in m.records
        ]
    elif isinstance(m, IgmpV1Report | IgmpV2Report | IgmpV2Leave | MldV1Report | MldV1Done):
        out["group"] = str(m.group)
    return out


def line(when: float, interface: str, outgoing: bool, wire: WireMessage) -> str:
    """One line for ``mcast watch``."""
    info = describe(wire)
    stamp = time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"
    head = (
        f"{stamp} {interface} {'out' if outgoing else 'in '} "
        f"{info['protocol']}v{info['version']} {info['type']} from {info['source']}"
    )
    if "records" in info:
        records = " ".join(
            f"{r['type']}({r['group']} {{{', '.join(r['sources'])}}})" for r in info["records"]
        )
        return f"{head}: {records or '(no records)'}"
    if info["type"] == "query":
        what = "general" if info["group"] in ("0.0.0.0", "::") else info["group"]
        sources = f" sources {{{', '.join(info['sources'])}}}" if info.get("sources") else ""
        return f"{head}: {what}{sources}, max resp {info['max_resp_ms']} ms"
    return f"{head}: {info['group']}"
