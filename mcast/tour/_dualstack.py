"""Tour scene: what connects to what on a dual-stack host (the probe's table)."""

from __future__ import annotations

from ipv6._dsock import ProbeRow, run_probe

from ._stage import Stage


async def probe_table(stage: Stage) -> bool:
    stage.say(
        "Every listener kind against every client family, over TCP, on loopback "
        "(ipv6 dualstack probe shows UDP too, and as root both bindv6only values):"
    )
    if stage.lab is not None:
        rows: list[ProbeRow] = await stage.lab.host("a").run_trio(run_probe)
    else:
        rows = await run_probe()
    tcp = [r for r in rows if r.protocol == "TCP"]
    width = max(len(r.listener) for r in tcp)
    lines = [f"{'LISTENER':<{width}}  {'IPv4':<23}{'IPv6':<23}v4-mapped"]
    for listener in dict.fromkeys(r.listener for r in tcp):
        cells = []
        for client in ("IPv4", "IPv6", "v4-mapped"):
            row = next(r for r in tcp if r.listener == listener and r.client == client)
            cells.append(f"sees {row.server_saw}" if row.reached else "refused")
        lines.append(f"{listener:<{width}}  {cells[0]:<23}{cells[1]:<23}{cells[2]}")
    stage.show(lines)
    stage.say(
        "A dual-stack listener (IPV6_V6ONLY off) takes both families and sees IPv4 clients as "
        "::ffff:a.b.c.d; a v6-only one refuses IPv4, a v4-only one IPv6. A v4-mapped client is "
        "IPv4 on the wire."
    )
    dual = [r for r in tcp if r.listener == "dual-stack"]
    return all(r.reached for r in dual) and any(
        not r.reached for r in tcp if r.listener == "v6-only"
    )
