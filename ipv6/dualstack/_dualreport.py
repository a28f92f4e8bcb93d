"""The dual-stack reports ``ipv6 dualstack`` prints: the probe matrix under
both values of net.ipv6.bindv6only, and a service checked over IPv4, over
IPv6 and in a Happy Eyeballs race (RFC 8305)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .._privilege import missing_privileges
from .._result import Result
from ..translate._paths import HostPaths, host_paths, path_of
from ._dualsockets import (
    Attempt,
    ProbeRow,
    RaceResult,
    happy_eyeballs,
    resolve,
    run_probe,
)
from ._dualstack import CONNECTION_ATTEMPT_DELAY

# Two hosts that differ only in net.ipv6.bindv6only: the probe runs in each,
# so this host's own setting is never changed.
PROBE_LAB = """
[hosts.v6only0]
sysctls = { bindv6only = 0 }
[hosts.v6only1]
sysctls = { bindv6only = 1 }
"""


@dataclass
class Probe(Result):
    rows: list[ProbeRow]
    both_settings: bool  # False: not root, only this host's bindv6only was tried
    paths: HostPaths | None = None  # how this host reaches each family (NAT64, CLAT)


async def probe_everywhere() -> Probe:
    """The probe matrix; as root under both bindv6only values, each in a lab host;
    and this host's own paths (native, NAT64, CLAT)."""
    probe = await _probe_matrix()
    probe.paths = await host_paths()
    return probe


async def _probe_matrix() -> Probe:
    if missing_privileges():
        return Probe(await run_probe(), both_settings=False)
    from ..lab import open_lab, parse_config

    config = parse_config(PROBE_LAB, source="<probe>", name=f"probe{os.getpid() % 10000}")
    rows: list[ProbeRow] = []
    async with open_lab(config) as lab:
        for host in ("v6only0", "v6only1"):
            rows += await lab.host(host).run_trio(run_probe)
    return Probe(rows, both_settings=True)


@dataclass
class FamilyCheck(Result):
    """Each address of one family, tried alone."""

    addresses: list[str]
    attempts: list[Attempt]


@dataclass
class ServiceCheck:
    """A service tried over IPv4, over IPv6, and in a Happy Eyeballs race."""

    host: str
    port: int
    ipv4: FamilyCheck
    ipv6: FamilyCheck
    race: RaceResult
    paths: HostPaths
    via: dict[str, str]  # each address: native, NAT64 or CLAT

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "IPv4": self.ipv4.to_json(),
            "IPv6": self.ipv6.to_json(),
            "race": self.race.to_json(),
            "paths": self.paths.to_json(),
            "via": self.via,
        }


async def check_service(
    host: str, port: int, *, delay: float = CONNECTION_ATTEMPT_DELAY, timeout: float = 5.0
) -> ServiceCheck:
    """``ipv6 dualstack check``: every address of ``host`` tried alone, each family
    apart, then the Happy Eyeballs race (RFC 8305); which path each address takes."""
    addresses = await resolve(host, port)
    families = []
    for version in (4, 6):
        mine = [a for a in addresses if a.version == version]
        attempts: list[Attempt] = []
        for address in mine:
            result = await happy_eyeballs([address], port, timeout=timeout)
            if result.stream is not None:
                await result.stream.aclose()
            attempts += result.attempts
        families.append(FamilyCheck([str(a) for a in mine], attempts))
    race = await happy_eyeballs(addresses, port, delay=delay, timeout=timeout)
    if race.stream is not None:
        await race.stream.aclose()
    paths = await host_paths()
    via = {str(a): path_of(a, paths) for a in addresses}
    return ServiceCheck(host, port, families[0], families[1], race, paths, via)
