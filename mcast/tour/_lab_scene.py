"""Tour scene: the lab (or loopback) the tour works in."""

from __future__ import annotations

import socket

from ._stage import Stage


async def show_lab(stage: Stage) -> bool:
    if stage.lab is None:
        stage.say("On loopback there is one host, this one. Its loopback addresses:")
        stage.show(["127.0.0.1 (IPv4)", "::1 (IPv6)" if socket.has_ipv6 else "no IPv6"])
        stage.say("As root, 'ipv6 lab up configs/lab/lan.toml' builds the lab this tour uses.")
        return True
    detail = await stage.lab.describe()
    stage.say(
        f"Lab {detail.name!r}: each host is a network namespace; the LAN is a bridge in a "
        "namespace of its own, so nothing touches this machine's own interfaces."
    )
    lines = []
    for host, info in detail.hosts.items():
        for iface in info.interfaces:
            if iface.name == "lo":
                continue
            addrs = ", ".join(a.address for a in iface.addresses)
            lines.append(f"{host}:{iface.name}  {iface.state:<4}  {addrs}")
    stage.show(lines)
    stage.say(f"(Same view from the shell: ipv6 lab status {detail.name})")
    return all(info.present for info in detail.hosts.values())
