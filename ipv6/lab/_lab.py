"""Bringing labs up and down, reading their state, running commands in hosts.

These are blocking calls (netlink through pyroute2 is synchronous); the
command line calls them directly and :mod:`ipv6.lab._running` calls them
from a worker thread for Trio code.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._errors import CommandFailedToStart, LabError, LabInterrupted, LabStepFailed
from .._privilege import require_capabilities
from .._result import Result
from . import _netns, _state
from ._config import LabConfig
from ._plan import CreateNamespace, Plan, StartInHost, plan_up
from ._shipped import load_config
from ._state import LabRecord, LinkRecord

Progress = Callable[[int, int, str], None]


def new_tag(name: str) -> str:
    """The lab's tag: its name and four random hex digits."""
    return f"{name}-{secrets.token_hex(2)}"


def _require_features(config: LabConfig) -> None:
    """What the lab's links need of the kernel, asked before anything is made."""
    from .._probe import require

    what = f"lab {config.name!r}"
    kinds = {link.kind for link in config.links}
    if "veth" in kinds or "bridge" in kinds:
        require("veth", what, "its hosts are joined by veth pairs")
    if "bridge" in kinds:
        require("bridge", what, "a link with more than two ends is a bridge")
    snooping = [link.name for link in config.links if link.kind == "bridge" and link.snooping]
    if snooping:
        hint = f"link {snooping[0]} asks for snooping = true; drop it to build the lab"
        require("bridge_snooping", what, hint)


def up(
    config: LabConfig,
    *,
    progress: Progress | None = None,
    tag: str | None = None,
    stop: Callable[[], str | None] | None = None,
) -> LabRecord:
    """Build ``config``; on any failure remove what was made and raise LabStepFailed.

    ``stop`` is asked before each step; when it names a reason (a signal, say),
    what was made is removed and :class:`LabInterrupted` raised.
    """
    from ._kernel import Kernel, StepFailed, remove_namespaces

    require_capabilities(f"bringing lab {config.name!r} up")
    _require_features(config)
    plan = plan_up(config, tag or new_tag(config.name))
    record = LabRecord(
        name=config.name,
        tag=plan.tag,
        source=os.path.abspath(config.source) if os.path.exists(config.source) else config.source,
        created=_state.now(),
        hosts=dict(plan.hosts),
        bridges=dict(plan.bridges),
        links=[
            LinkRecord(link.name, link.kind, [(ep.host, ep.ifname) for ep in link.endpoints])
            for link in config.links
        ],
    )
    _state.reserve(record)
    total = len(plan.steps)
    try:
        with Kernel() as kernel:
            for index, step in enumerate(plan.steps, 1):
                _check_stop(config.name, stop)
                if progress is not None:
                    progress(index, total, step.describe())
                if isinstance(step, CreateNamespace):
                    record.namespaces.append(step.namespace)
                    _state.save(record)
                if isinstance(step, StartInHost):
                    record.logs.append(step.log)
                    _state.save(record)
                try:
                    kernel.apply(step)
                except StepFailed as exc:
                    raise LabStepFailed(
                        config.name, index, total, step.describe(), exc.reason
                    ) from exc
    except BaseException:
        remove_namespaces(record.namespaces)
        _state.forget(record.name, record.logs)
        raise
    record.status = "up"
    _state.save(record)
    return record


def _check_stop(name: str, stop: Callable[[], str | None] | None) -> None:
    reason = stop() if stop is not None else None
    if reason:
        raise LabInterrupted(f"interrupted by {reason}: what was made of lab {name!r} is removed")


def planned(config: LabConfig) -> Plan:
    """The plan ``up`` would carry out, with a placeholder tag (for --dry-run)."""
    return plan_up(config, f"{config.name}-XXXX")


@dataclass
class DownReport:
    name: str
    removed: list[str]
    missing: list[str]
    stopped: list[int]


def down(target: str) -> DownReport:
    """Remove every namespace the lab made, and its record."""
    from ._kernel import remove_namespaces

    record = find(target)
    require_capabilities(f"taking lab {record.name!r} down")
    stopped = [pid for ns in record.namespaces for pid in _netns.processes_in(ns)]
    removed = remove_namespaces(record.namespaces)
    missing = [ns for ns in record.namespaces if ns not in removed]
    _state.forget(record.name, record.logs)
    return DownReport(record.name, removed, missing, stopped)


def find(target: str) -> LabRecord:
    """The lab a user means by ``target``: a lab name, or the file it came from."""
    record = _state.load(target) if "/" not in target and not target.endswith(".toml") else None
    if record is not None:
        return record
    path = Path(target)
    try:
        is_file = path.is_file()
    except OSError:  # a name too long for a path, say: no lab's file either
        is_file = False
    if is_file:
        source = os.path.abspath(path)
        for candidate in _state.all_records():
            if candidate.source == source:
                return candidate
        config_name = load_config(path).name
        record = _state.load(config_name)
        if record is not None:
            return record
    up_now = [r.name for r in _state.all_records()]
    listing = f"labs up: {', '.join(up_now)}" if up_now else "no lab is up"
    raise LabError(f"no lab {target!r} is up ({listing})")


def records() -> list[LabRecord]:
    """Every lab this machine has up, as recorded when it was built."""
    return _state.all_records()


@dataclass
class AddressView(Result):
    address: str  # with its prefix length
    family: str
    scope: str
    tentative: bool
    dad_failed: bool


@dataclass
class InterfaceView(Result):
    name: str
    index: int
    state: str
    mac: str | None
    mtu: int | None
    link: str | None  # the lab link this interface is an end of
    addresses: list[AddressView]


@dataclass
class HostView(Result):
    namespace: str
    present: bool
    interfaces: list[InterfaceView]


@dataclass
class LinkView(Result):
    name: str
    kind: str
    endpoints: list[list[str]]  # [host, interface] pairs


@dataclass
class LabView(Result):
    """The lab as it is now (``ipv6 lab show NAME``)."""

    name: str
    tag: str
    source: str
    status: str
    created: float
    namespaces: list[str]
    links: list[LinkView]
    hosts: dict[str, HostView]


@dataclass
class LabSummary(Result):
    """The lab in one line's worth of fields (``ipv6 lab list``)."""

    name: str
    tag: str
    status: str  # as recorded, or "broken"/"gone" when its namespaces are
    hosts: list[str]
    links: int
    source: str
    created: float


def describe(record: LabRecord) -> LabView:
    """The lab as it is now: each host's interfaces and addresses, read live."""
    from pyroute2 import IPRoute

    hosts: dict[str, HostView] = {}
    peers = {(host, ifname): link.name for link in record.links for host, ifname in link.endpoints}
    for host, namespace in record.hosts.items():
        if not _netns.exists(namespace):
            hosts[host] = HostView(namespace, False, [])
            continue
        with _netns.inside_namespace(namespace):
            ipr = IPRoute()
        try:
            interfaces = []
            addresses: dict[int, list[AddressView]] = {}
            for msg in ipr.get_addr():
                flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
                addresses.setdefault(msg["index"], []).append(
                    AddressView(
                        address=f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}",
                        family="ipv4" if msg["family"] == socket.AF_INET else "ipv6",
                        scope=_SCOPES.get(msg["scope"], str(msg["scope"])),
                        tentative=bool(flags & 0x40),
                        dad_failed=bool(flags & 0x08),
                    )
                )
            for msg in ipr.get_links():
                ifname = msg.get_attr("IFLA_IFNAME")
                interfaces.append(
                    InterfaceView(
                        name=ifname,
                        index=msg["index"],
                        state=(msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN").lower(),
                        mac=msg.get_attr("IFLA_ADDRESS"),
                        mtu=msg.get_attr("IFLA_MTU"),
                        link=peers.get((host, ifname)),
                        addresses=addresses.get(msg["index"], []),
                    )
                )
        finally:
            ipr.close()
        hosts[host] = HostView(namespace, True, interfaces)
    return LabView(
        name=record.name,
        tag=record.tag,
        source=record.source,
        status=record.status,
        created=record.created,
        namespaces=record.namespaces,
        links=[
            LinkView(link.name, link.kind, [list(e) for e in link.endpoints])
            for link in record.links
        ],
        hosts=hosts,
    )


def summary(record: LabRecord) -> LabSummary:
    """The lab in one line's worth of fields, without entering it."""
    present = [ns for ns in record.namespaces if _netns.exists(ns)]
    health = record.status
    if len(present) != len(record.namespaces):
        health = "broken" if present else "gone"
    return LabSummary(
        name=record.name,
        tag=record.tag,
        status=health,
        hosts=sorted(record.hosts),
        links=len(record.links),
        source=record.source,
        created=record.created,
    )


_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def exec_argv(record: LabRecord, host: str, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` inside ``host`` from any process."""
    namespace = record.namespace_of(host)
    return [sys.executable, "-m", "ipv6.lab._nsexec", namespace, *argv]


def exec_in_host(target: str, host: str, argv: list[str]) -> None:
    """Replace this process with ``argv`` running inside the lab host."""
    record = find(target)
    namespace = record.namespace_of(host)
    require_capabilities(f"running a command in {record.name}:{host}")
    if not _netns.exists(namespace):
        raise LabError(f"host {host!r} of lab {record.name!r} is gone (namespace {namespace})")
    try:
        _netns.exec_in(namespace, argv)
    except FileNotFoundError:
        raise CommandFailedToStart(
            f"cannot run {argv[0]!r} in {record.name}:{host}: command not found", not_found=True
        ) from None
    except OSError as exc:
        raise CommandFailedToStart(
            f"cannot run {argv[0]!r} in {record.name}:{host}: {exc.strerror}", not_found=False
        ) from None
