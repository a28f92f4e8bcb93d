"""The tour: a short guided run of the toolkit's main jobs.

As root it brings up an embedded lab (three hosts on a bridged LAN, the same
as configs/lab/lan.toml) and takes it down at the end, whatever happens; not
as root, or with ``--loopback``, it works on this host's loopback and says so.
Each capability of the toolkit adds a scene to :data:`SCENES`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from ipv6 import missing_privileges

from ._stage import Stage

# Every program a scene runs in a lab (itself, or through the toolkit's commands it
# runs), and the Debian package that brings it: scripts/tour installs them all.
PROGRAMS = {
    "ip": "iproute2",
    "ss": "iproute2",
    "ping": "iputils-ping",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "dig": "bind9-dnsutils",
}


@dataclass(frozen=True)
class Scene:
    title: str
    run: Callable[[Stage], Awaitable[bool]]  # True when what it saw was as expected
    programs: tuple[str, ...] = ()  # what it runs in a lab (PROGRAMS names them all)
    # Kernel features it needs in a lab: each tuple is satisfied by any one of its
    # names (the toolkit's fallback plane for the others).
    features: tuple[tuple[str, ...], ...] = ()

    def lacks(self) -> str | None:
        """Why this scene cannot run in a lab on this host, in one line; None if it can."""
        import shutil

        from ipv6.capabilities import FEATURES, has

        for program in self.programs:
            if shutil.which(program) is None:
                return (
                    f"it runs {program}, which is not installed here (Debian package "
                    f"{PROGRAMS[program]}; scripts/tour installs it)"
                )
        titles = {f.name: f for f in FEATURES}
        for either in self.features:
            if not any(has(name) for name in either):
                wanted = " or ".join(f"{titles[n].title} ({titles[n].config})" for n in either)
                return f"it needs {wanted}, and this kernel has none"
        return None


def _scenes() -> list[Scene]:
    from . import (
        _dualstack,
        _ipsec,
        _lab_scene,
        _linklocal,
        _multicast,
        _nat64,
        _netsh,
        _pgm,
        _ping,
        _reach,
        _routes,
        _sixto4,
        _streams,
        _wire,
    )

    return [
        Scene("A lab to work in", _lab_scene.show_lab),
        Scene("Every host reaches every host, over IPv4 and IPv6", _reach.reach_everyone),
        Scene("Source filters that filter: SSM and EXCLUDE", _multicast.filters_at_work),
        Scene("A join watched on the wire", _wire.join_on_the_wire, features=(("packet",),)),
        Scene("A stream measured: loss, order, jitter, delay", _streams.measured_stream),
        Scene("Does multicast reach everywhere? A ping matrix", _ping.ping_matrix),
        Scene(
            "Multicast across a router: a static route",
            _routes.across_a_router,
            features=(("ip_mroute", "packet"),),
        ),
        Scene("A link-local ping needs a zone", _linklocal.link_local_ping),
        Scene("Dual-stack sockets: what connects to what", _dualstack.probe_table),
        Scene("A service that hostile clients do not end", _dualstack.hostile_clients),
        Scene("netsh words over Linux interfaces", _netsh.netsh_script),
        Scene(
            "Two 6to4 sites over IPv4 (the seeds' Configuration 2)",
            _sixto4.two_sites,
            programs=("ip", "ping"),
            features=(("sit", "tun"),),
        ),
        Scene(
            "IPsec between two hosts (the seeds' Configuration 3)",
            _ipsec.configuration_3,
            programs=("ping", "ip6tables"),
            features=(("xfrm_ah", "nfqueue"),),
        ),
        Scene("A file to a group, reliably: PGM", _pgm.reliable_file, programs=("iptables",)),
        Scene(
            "An IPv6-only network: NAT64, DNS64 and a CLAT",
            _nat64.ipv6_only,
            programs=("ss", "dig", "ping"),
            features=(("tun",),),
        ),
    ]


async def run_tour(
    mode: str | None = None, lab_file: str | None = None, out: TextIO | None = None
) -> int:
    """Run every scene; 0 when each saw what it expected, 1 otherwise."""
    from ipv6.lab import builtin_lab, load_config, open_lab

    out = out or sys.stdout
    missing = missing_privileges()
    if mode is None:
        mode = "loopback" if missing else "lab"
    stage = Stage(mode=mode, out=out)
    stage.say("Tour of the multicast and IPv6 toolkit.")
    if mode == "loopback":
        if missing:
            stage.say(
                f"Not running as root (missing {' and '.join(missing)}), so this tour works on "
                "loopback. Run it as root to see it on a lab of network namespaces."
            )
        else:
            stage.say("Working on loopback, as asked (--loopback).")
        return _finish(stage, await _play(stage))
    if missing:
        from ipv6 import NeedsPrivilege

        raise NeedsPrivilege("the tour's lab", missing)
    path = lab_file or builtin_lab("lan")
    assert path is not None, "the embedded lab ships with the package"
    config = load_config(path, name=f"tour{os.getpid() % 100000}")
    stage.say(
        f"Running as root: building lab {config.name!r} from {path} "
        f"({len(config.hosts)} hosts), removed again when the tour ends."
    )
    async with open_lab(config) as lab:
        stage.lab = lab
        result = await _play(stage)
    stage.say(f"Lab {config.name!r} is down again: its namespaces, links and bridge are gone.")
    return _finish(stage, result)


async def _play(stage: Stage) -> bool:
    ok = True
    for number, scene in enumerate(_scenes(), 1):
        stage.heading(number, scene.title)
        why = scene.lacks() if stage.lab is not None else None
        if why is not None:
            stage.say(f"Skipped on this host: {why}.")
            continue
        if not await scene.run(stage):
            ok = False
            stage.say("!! This scene did not see what it expected (see above).")
    stage.blank()
    return ok


def _finish(stage: Stage, ok: bool) -> int:
    stage.say("Tour done." if ok else "Tour done, with problems (see the scenes marked !!).")
    return 0 if ok else 1
