"""What ``ipsec6 sp`` and ``ipsec6 sa`` show, as typed values: the active
policies and SAs with what their plane counted (the kernel's XFRM counters,
or the userspace service's status, fresh at our asking)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._result import Result
from ._control import status


@dataclass
class ServiceState(Result):
    """The userspace plane's service: running, or why it stopped."""

    pid: int
    running: bool
    why: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"pid": self.pid, "running": self.running}
        return out if self.why is None else {**out, "why": self.why}


@dataclass
class PlaneCounts(Result):
    """What the userspace plane counted: packets passed and dropped, by reason."""

    handled: dict[str, int] | None = None
    drops: dict[str, int] | None = None
    faults: dict[str, int] | None = None  # lost before a verdict
    kernel: dict[str, int] | None = None  # the queue's own drops
    error: str | None = None
    routes: Any = None  # the rules the service installed, as it says them
    # None: the service's status did not say (each is there when it did)


@dataclass
class PolicyRow(Result):
    """A policy as the seeds' Ipsec6.exe prints it (``*`` for any)."""

    policy: int
    remote: str
    local: str
    remote_port: int | str
    protocol: int | str
    local_port: int | str
    ipsec: str
    mode: str
    direction: str
    action: str
    interface: int


@dataclass
class PolicyTable(Result):
    plane: str | None
    policies: list[PolicyRow]
    service: ServiceState | None
    counts: PlaneCounts | None = None  # the userspace plane's, while it runs

    def to_json(self) -> dict[str, Any]:
        counted = {} if self.counts is None else {
            k: v for k, v in self.counts.to_json().items() if v is not None}  # fmt: skip
        return {
            "plane": self.plane,
            "policies": [p.to_json() for p in self.policies],
            "service": None if self.service is None else self.service.to_json(),
            **counted,
        }


@dataclass
class SaRow(Result):
    sa: int
    spi: int
    destination: str
    algorithm: str
    direction: str
    policy: int
    packets: int | None
    octets: int | None
    sequence: int | None
    drops: dict[str, int] | None


@dataclass
class SaTable(Result):
    plane: str | None
    associations: list[SaRow]
    service: ServiceState | None
    counts: PlaneCounts | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "plane": self.plane,
            "associations": [a.to_json() for a in self.associations],
            "service": None if self.service is None else self.service.to_json(),
        }


def _service(found: dict[str, Any]) -> ServiceState | None:
    service = found.get("service")
    return None if service is None else ServiceState(**service)


def _counts(found: dict[str, Any]) -> PlaneCounts | None:
    counted = found.get("counted")
    if not counted or found.get("plane") == "kernel":
        return None
    return PlaneCounts(**{k: counted[k] for k in PlaneCounts.__dataclass_fields__ if k in counted})


def show_policies(interface: int | None = None) -> PolicyTable:
    """The active policies (those of ``interface``, and those of every interface)."""
    from ._files import PROTOCOLS

    found = status()
    names = {v: k for k, v in PROTOCOLS.items() if k != "ICMP"}
    rows = [
        PolicyRow(
            p.index, str(p.remote or "*"), str(p.local or "*"),
            "*" if p.remote_port is None else p.remote_port,
            "*" if p.protocol is None else names.get(p.protocol, p.protocol),
            "*" if p.local_port is None else p.local_port,
            p.ipsec, p.mode, p.direction, p.action, p.interface,
        )
        for p in found["active"].policies
        if interface is None or p.interface in (0, interface)
    ]  # fmt: skip
    return PolicyTable(found["plane"], rows, _service(found), _counts(found))


def show_associations() -> SaTable:
    """The active SAs, each with its plane's counters."""
    found = status()
    counted = (found.get("counted") or {}).get("sas", {})
    rows = []
    for a in found["active"].associations:
        key = str(a.index) if found["plane"] != "kernel" else f"{a.destination} {a.spi}"
        c = counted.get(key, {})
        rows.append(SaRow(a.index, a.spi, str(a.destination), a.algorithm, a.direction, a.policy,
                          c.get("packets"), c.get("octets"), c.get("sequence"),
                          c.get("drops")))  # fmt: skip
    return SaTable(found["plane"], rows, _service(found), _counts(found))
