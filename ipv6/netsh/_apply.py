"""Carrying netsh operations out on the kernel, as transactions.

Every operation is applied through netlink or a sysctl file and hands back
its inverse: plain additions go in pipelined batches (``_pipeline``), whose
inverse is known without reading; anything else goes through pyroute2 after
reading what it is about to change. A script runs as one transaction: if a
line fails, the inverses of everything applied run in reverse order and the
error names the line, the command and the kernel's reason. Nothing is left
half-applied.

Netsh's own memory (publish flags, site prefix lengths, persistent
commands) is a JSON file per network namespace (Linux keeps no such thing).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import signal
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import _daemon, _statefile
from .._errors import BadInput, Ipv6Error
from .._procsys import read_sysctl, write_sysctl
from ._grammar import INFINITE, Command, NetshSyntaxError, parse_command, split
from ._ops import (
    AddAddress,
    AddNeighbor,
    AddRoute,
    AddTunnel,
    DeleteAddress,
    DeleteNeighbor,
    DeleteRoute,
    DeleteTunnel,
    FlushDestinations,
    Op,
    Remember,
    SetLinkMtu,
    StartAdvertiser,
    StopAdvertiser,
    WriteSysctl,
    plan,
)
from ._pipeline import Pipeline, describe, inverse, pipelined

STATE_DIR_ENV = "NETSH_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/mcast-ipv6-toolkit/netsh"
IFA_F_PERMANENT = 0x80
NUD_PERMANENT = 0x80
RTN_ANYCAST = 4
RT_TABLE_LOCAL = 255
RTPROT_MANUAL = (3, 4)  # boot, static: routes added by hand


class NetshFailed(Ipv6Error):
    """A command the kernel refused; the script's other changes were undone."""


@dataclass
class Line:
    number: int
    text: str
    command: Command


# --- netsh's own memory ------------------------------------------------------------------


def state_path() -> Path:
    directory = Path(os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR))
    inode = os.stat("/proc/thread-self/ns/net").st_ino
    return directory / f"netns-{inode}.json"


def load_state() -> dict[str, Any]:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"memory": {}, "persistent": []}
    except (OSError, ValueError) as exc:
        raise Ipv6Error(f"netsh's state file {state_path()} is unreadable: {exc}") from None
    data.setdefault("memory", {})
    data.setdefault("persistent", [])
    return dict(data)


def save_state(state: dict[str, Any]) -> None:
    _statefile.write_json(state_path(), state, "netsh's state")


# --- the kernel ----------------------------------------------------------------------------


def _family(address: object) -> int:
    return socket.AF_INET if getattr(address, "version", 6) == 4 else socket.AF_INET6


def reason(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    return describe(code) if code else str(exc)


class Kernel:
    """Applies operations and returns their inverses; one netlink handle."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self._ipr: Any = None

    @property
    def ipr(self) -> Any:
        """The pyroute2 handle, opened on first use: importing it costs 150 ms, which a
        script of plain additions (all pipelined) need not pay."""
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()

    def interfaces(self) -> dict[str, int]:
        return {name: index for index, name in socket.if_nameindex()}

    def apply(self, op: Op) -> list[Op]:
        """Make the change; the operations that undo it."""
        from pyroute2.netlink.exceptions import NetlinkError

        handler = getattr(self, "_" + type(op).__name__)
        try:
            result: list[Op] = handler(op)
        except NetlinkError as exc:  # callers see the errno, as from any system call
            raise OSError(exc.code, os.strerror(exc.code)) from None
        return result

    # -- addresses --

    def _find_address(self, ifindex: int, address: Any) -> Any:
        for msg in self.ipr.get_addr(family=_family(address.ip), index=ifindex):
            if msg.get_attr("IFA_ADDRESS") == str(address.ip) or msg.get_attr("IFA_LOCAL") == str(
                address.ip
            ):
                return msg
        return None

    def _AddAddress(self, op: AddAddress) -> list[Op]:
        existing = self._find_address(op.ifindex, op.address)
        if op.anycast:
            return self._anycast(op)
        if op.replace and existing is None:
            raise NetshFailed(f"there is no address {op.address.ip} to set")
        if not op.replace and existing is not None:
            raise NetshFailed(f"the address {op.address.ip} is already there (use set address)")
        cache = {"ifa_valid": op.valid, "ifa_preferred": op.preferred}
        self.ipr.addr(
            "replace" if op.replace else "add",
            index=op.ifindex,
            address=str(op.address.ip),
            prefixlen=op.address.network.prefixlen,
            IFA_CACHEINFO=cache,
        )
        if existing is None:
            return [DeleteAddress(op.ifindex, op.address)]
        return [self._address_back(op.ifindex, existing, replace=True)]

    def _address_back(self, ifindex: int, msg: Any, *, replace: bool) -> AddAddress:
        info = msg.get_attr("IFA_CACHEINFO") or {}
        address = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        valid = info.get("ifa_valid", INFINITE)
        return AddAddress(
            ifindex, address, valid, min(info.get("ifa_preferred", valid), valid), replace=replace
        )

    def _anycast(self, op: AddAddress) -> list[Op]:
        # Linux answers for an anycast address it holds as a local-table anycast route.
        prefix = ipaddress.ip_network(f"{op.address.ip}/{op.address.max_prefixlen}")
        self.ipr.route(
            "add",
            family=_family(op.address.ip),
            dst=str(prefix.network_address),
            dst_len=prefix.prefixlen,
            oif=op.ifindex,
            type=RTN_ANYCAST,
            table=RT_TABLE_LOCAL,
        )
        return [DeleteRoute(prefix, op.ifindex, None, None)]

    def _DeleteAddress(self, op: DeleteAddress) -> list[Op]:
        existing = self._find_address(op.ifindex, op.address)
        if existing is None:
            host = ipaddress.ip_network(f"{op.address.ip}/{op.address.max_prefixlen}")
            if self._find_route(host, op.ifindex) is not None:  # an anycast address
                return self._DeleteRoute(DeleteRoute(host, op.ifindex))
            raise NetshFailed(f"there is no address {op.address.ip} on that interface")
        self.ipr.addr(
            "del", index=op.ifindex, address=str(op.address.ip), prefixlen=existing["prefixlen"]
        )
        return [self._address_back(op.ifindex, existing, replace=False)]

    # -- routes --

    def _find_route(self, prefix: Any, ifindex: int, gateway: Any = None) -> Any:
        """The route netsh means: one added by hand before the kernel's own (an address's
        prefix route can share the prefix of a route netsh added)."""
        found = []
        for table in (254, RT_TABLE_LOCAL):
            for msg in self.ipr.get_routes(family=_family(prefix.network_address), table=table):
                dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if prefix.version == 4 else "::")
                if (dst, msg["dst_len"]) != (str(prefix.network_address), prefix.prefixlen):
                    continue
                if msg.get_attr("RTA_OIF") != ifindex:
                    continue
                if gateway is not None and msg.get_attr("RTA_GATEWAY") != str(gateway):
                    continue
                found.append(msg)
        manual = [m for m in found if m["proto"] in RTPROT_MANUAL]
        return (manual or found or [None])[0]

    def _route_back(self, prefix: Any, ifindex: int, msg: Any) -> AddRoute:
        gateway = msg.get_attr("RTA_GATEWAY")
        expires = route_expires(msg)
        return AddRoute(
            prefix,
            ifindex,
            ipaddress.ip_address(gateway) if gateway else None,
            msg.get_attr("RTA_PRIORITY"),
            expires or None,
        )

    def _route_args(self, op: AddRoute | DeleteRoute) -> dict[str, Any]:
        args: dict[str, Any] = {
            "family": _family(op.prefix.network_address),
            "dst": str(op.prefix.network_address),
            "dst_len": op.prefix.prefixlen,
            "oif": op.ifindex,
        }
        if op.gateway is not None:
            args["gateway"] = str(op.gateway)
        if op.metric is not None:
            args["priority"] = op.metric
        return args

    def _AddRoute(self, op: AddRoute) -> list[Op]:
        existing = self._find_route(op.prefix, op.ifindex)
        if op.replace and existing is None:
            raise NetshFailed(f"there is no route {op.prefix} on that interface to set")
        if op.replace and existing is not None:
            self._delete_route_msg(existing)
        args = self._route_args(op)
        if op.expires is not None:
            args["RTA_EXPIRES"] = struct.pack("=I", op.expires)  # pyroute2 keeps it raw
        try:
            self.ipr.route("add", **args)
        except BaseException:
            if op.replace and existing is not None:  # put the old one back before failing
                with contextlib.suppress(Exception):  # the first error is the one to tell
                    self._apply_route(self._route_back(op.prefix, op.ifindex, existing))
            raise
        back: list[Op] = [DeleteRoute(op.prefix, op.ifindex, op.gateway, op.metric)]
        if existing is not None:
            back.append(self._route_back(op.prefix, op.ifindex, existing))
        return back

    def _apply_route(self, op: AddRoute) -> None:
        args = self._route_args(op)
        if op.expires:
            args["RTA_EXPIRES"] = struct.pack("=I", op.expires)
        self.ipr.route("add", **args)

    def _delete_route_msg(self, msg: Any) -> None:
        self.ipr.route(
            "del",
            family=msg["family"],
            dst=msg.get_attr("RTA_DST"),
            dst_len=msg["dst_len"],
            oif=msg.get_attr("RTA_OIF"),
            table=msg.get_attr("RTA_TABLE") or msg["table"],
            type=msg["type"],
            priority=msg.get_attr("RTA_PRIORITY"),
            **({"gateway": msg.get_attr("RTA_GATEWAY")} if msg.get_attr("RTA_GATEWAY") else {}),
        )

    def _DeleteRoute(self, op: DeleteRoute) -> list[Op]:
        existing = self._find_route(op.prefix, op.ifindex, op.gateway)
        if existing is None:
            raise NetshFailed(f"there is no route {op.prefix} on that interface")
        self._delete_route_msg(existing)
        if existing["type"] == RTN_ANYCAST:
            return [AddAddress(op.ifindex, ipaddress.ip_interface(str(op.prefix)), anycast=True)]
        return [self._route_back(op.prefix, op.ifindex, existing)]

    # -- neighbours --

    def _neighbors(self, ifindex: int, address: Any = None) -> list[Any]:
        found = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.ipr.get_neighbours(family=family, ifindex=ifindex):
                if not msg["state"] & NUD_PERMANENT:
                    continue
                if address is not None and msg.get_attr("NDA_DST") != str(address):
                    continue
                found.append(msg)
        return found

    def _AddNeighbor(self, op: AddNeighbor) -> list[Op]:
        before = self._neighbors(op.ifindex, op.address)
        self.ipr.neigh(
            "replace",
            dst=str(op.address),
            lladdr=op.lladdr,
            ifindex=op.ifindex,
            state=NUD_PERMANENT,
            family=_family(op.address),
        )
        if before:
            return [AddNeighbor(op.ifindex, op.address, before[0].get_attr("NDA_LLADDR"))]
        return [DeleteNeighbor(op.ifindex, op.address)]

    def _DeleteNeighbor(self, op: DeleteNeighbor) -> list[Op]:
        back: list[Op] = []
        for msg in self._neighbors(op.ifindex, op.address):
            dst = msg.get_attr("NDA_DST")
            self.ipr.neigh("del", dst=dst, ifindex=op.ifindex, family=msg["family"])
            back.append(
                AddNeighbor(op.ifindex, ipaddress.ip_address(dst), msg.get_attr("NDA_LLADDR"))
            )
        if op.address is not None and not back:
            raise NetshFailed(f"there is no neighbor entry for {op.address}")
        return back

    # -- the rest --

    def _FlushDestinations(self, op: FlushDestinations) -> list[Op]:
        write_sysctl(f"net/{'ipv6' if op.family == 'ipv6' else 'ipv4'}/route/flush", "1")
        return []

    def _WriteSysctl(self, op: WriteSysctl) -> list[Op]:
        old = read_sysctl(op.path, default="\0")  # NUL: no such setting here
        if old == "\0":
            raise NetshFailed(f"this kernel has no {op.path.replace('/', '.')}")
        write_sysctl(op.path, op.value)
        return [WriteSysctl(op.path, old)]

    def _SetLinkMtu(self, op: SetLinkMtu) -> list[Op]:
        (link,) = self.ipr.get_links(op.ifindex)
        old = link.get_attr("IFLA_MTU")
        self.ipr.link("set", index=op.ifindex, mtu=op.mtu)
        return [SetLinkMtu(op.ifindex, old)]

    # -- router advertisements: a daemon per interface (see _advertiser) --

    def _StartAdvertiser(self, op: StartAdvertiser) -> list[Op]:
        running = self.state.setdefault("advertisers", {})
        if _advertiser_alive(running.get(op.ifname)):
            return []
        # It outlives this command, as Windows' advertising does.
        daemon = _daemon.spawn(ADVERTISER, (op.ifname,), advertiser_log(op.ifname))
        running[op.ifname] = daemon.pid
        return [StopAdvertiser(op.ifname)]

    def _StopAdvertiser(self, op: StopAdvertiser) -> list[Op]:
        pid = self.state.setdefault("advertisers", {}).pop(op.ifname, None)
        if not _advertiser_alive(pid):
            return []
        os.kill(pid, signal.SIGTERM)  # it sends a last advertisement, router lifetime 0
        deadline = time.monotonic() + 3
        while _advertiser_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        return [StartAdvertiser(op.ifname)]

    # -- tunnels: ipv6.tunnel makes them (a sit device or the userspace service) --

    def _AddTunnel(self, op: AddTunnel) -> list[Op]:
        from ..tunnel import TunnelError, TunnelSpec, add_tunnel

        try:
            add_tunnel(TunnelSpec.from_json(dict(op.spec)), op.plane)
        except (TunnelError, BadInput) as exc:
            raise NetshFailed(str(exc)) from None
        return [DeleteTunnel(op.name)]

    def _DeleteTunnel(self, op: DeleteTunnel) -> list[Op]:
        from ..tunnel import TunnelError, delete_tunnel
        from ..tunnel._registry import load

        spec = load()["tunnels"].get(op.name)
        if spec is None:
            raise NetshFailed(f"{op.name} is not a tunnel netsh made (see `ipv6 tunnel status`)")
        try:
            delete_tunnel(op.name)
        except TunnelError as exc:
            raise NetshFailed(str(exc)) from None
        return [AddTunnel(tuple(spec.items()), spec.get("plane", "auto"))]

    def _Remember(self, op: Remember) -> list[Op]:
        memory = self.state["memory"]
        old = memory.get(op.key)
        if op.value is None:
            memory.pop(op.key, None)
        else:
            memory[op.key] = op.value
        return [Remember(op.key, old)]


def route_expires(msg: Any) -> int | None:
    """Seconds until a route expires (the kernel reports it in RTA_CACHEINFO, in 1/100 s)."""
    left = (msg.get_attr("RTA_CACHEINFO") or {}).get("rta_expires", 0)
    return int(left) // 100 or None


ADVERTISER = "ipv6.netsh._advertiser"


def advertiser_log(ifname: str) -> Path:
    """Where the advertiser of ``ifname`` says what it counted and why it stopped."""
    path = state_path()
    return path.with_name(f"{path.stem}.advertiser-{ifname}.log")


def _advertiser_alive(pid: int | None) -> bool:
    return _daemon.alive(pid, ADVERTISER)


# --- scripts as transactions ----------------------------------------------------------------


def parse_script(lines: Iterable[str], context: tuple[str, ...] = ()) -> list[Line]:
    """Every command of a script, checked before anything runs (pushd/popd understood)."""
    parsed = []
    stack: list[tuple[str, ...]] = [context]
    for number, raw in enumerate(lines, 1):
        try:
            words = split(raw)
            if not words:
                continue
            head = words[0].lower()
            if head in ("netsh",):
                words = words[1:]
                head = words[0].lower() if words else ""
            if head == "pushd":
                stack.append(tuple(words[1:]))
                continue
            if head == "popd":
                stack.pop() if len(stack) > 1 else None
                continue
            parsed.append(Line(number, raw.strip(), parse_command(words, stack[-1])))
        except NetshSyntaxError as exc:
            raise NetshSyntaxError(f"line {number}: {raw.strip()}: {exc}") from None
    return parsed


class _LineFailed(Exception):
    def __init__(self, line: Line, why: str) -> None:
        super().__init__(why)
        self.line, self.why = line, why


def run_lines(lines: list[Line], *, restoring: bool = False) -> list[str]:
    """Apply changing commands as one transaction; the messages to print.

    Every line is planned before anything changes, so bad input (an unknown
    interface, say) changes nothing. Plain additions go to the kernel in
    pipelined batches; everything else one operation at a time, after the
    batch before it has been acknowledged.
    """
    state = load_state()
    kernel = Kernel(state)
    try:
        interfaces = kernel.interfaces()  # as they will be: with the tunnels the script makes
        planned: list[tuple[Line, list[Op]]] = []
        for line in lines:
            if line.command.verb in ("show", "dump", "reset", "restore"):
                raise NetshSyntaxError(
                    f"line {line.number}: {line.command.verb} cannot be part of a script here"
                )
            try:
                ops = plan(line.command, interfaces)
            except NetshSyntaxError as exc:
                raise NetshSyntaxError(f"line {line.number}: {line.text}: {exc}") from None
            planned.append((line, ops))
            for op in ops:
                if isinstance(op, AddTunnel):
                    interfaces[op.name] = -len(interfaces)  # its index is known once it exists
                elif isinstance(op, DeleteTunnel):
                    interfaces.pop(op.name, None)
        tunnels = any(isinstance(op, (AddTunnel, DeleteTunnel)) for _, ops in planned for op in ops)
        with Pipeline() as pipeline:
            done: list[Op] = []
            try:
                if tunnels:  # interfaces come and go: plan each line again as it comes
                    for line, _ in planned:
                        _apply_all(
                            kernel, pipeline, [_replan(kernel, line)], done, restoring=restoring
                        )
                else:
                    _apply_all(kernel, pipeline, planned, done, restoring=restoring)
                for line, _ in planned:
                    _keep_persistent(state, line.command)
                save_state(state)  # the transaction's last step: if it fails, undo the rest
            except _LineFailed as failed:
                undone = _undo(kernel, pipeline, done)
                raise NetshFailed(
                    f"line {failed.line.number}: {failed.line.text}: {failed.why}; {undone}"
                ) from None
            except _statefile.StateWriteFailed as failed:
                raise NetshFailed(f"{failed}; {_undo(kernel, pipeline, done)}") from None
    finally:
        kernel.close()
    made = sum(not isinstance(op, Remember) for op in done)
    return [
        f"Ok. {made} change{'s' if made != 1 else ''} made." if made else "Ok. Nothing to change."
    ]


def _replan(kernel: Kernel, line: Line) -> tuple[Line, list[Op]]:
    try:
        return line, plan(line.command, kernel.interfaces())
    except NetshSyntaxError as exc:
        raise _LineFailed(line, str(exc)) from None


def _apply_all(
    kernel: Kernel,
    pipeline: Pipeline,
    planned: list[tuple[Line, list[Op]]],
    done: list[Op],
    *,
    restoring: bool,
) -> None:
    """Apply every op, adding the inverses of what changed to ``done``."""
    pending: list[tuple[Line, AddAddress | AddRoute]] = []
    for line, ops in planned:
        for op in ops:
            if isinstance(op, (AddAddress, AddRoute)) and pipelined(op):
                pending.append((line, op))
                continue
            if not isinstance(op, Remember):  # netsh's memory may go ahead of the kernel
                _flush(pipeline, pending, done, restoring=restoring)
            try:
                done += reversed(kernel.apply(op))
            except NetshFailed as exc:
                if not restoring:
                    raise _LineFailed(line, str(exc)) from None
            except OSError as exc:
                code = exc.errno
                if not (restoring and code == errno.EEXIST):  # restoring what is there
                    raise _LineFailed(line, reason(exc)) from None
    _flush(pipeline, pending, done, restoring=restoring)


def _flush(
    pipeline: Pipeline,
    pending: list[tuple[Line, AddAddress | AddRoute]],
    done: list[Op],
    *,
    restoring: bool,
) -> None:
    if not pending:
        return
    verdicts = pipeline.send([op for _, op in pending])
    failed: _LineFailed | None = None
    for (line, op), code in zip(pending, verdicts, strict=True):
        if code == 0:
            done.append(inverse(op))
        elif failed is None and not (restoring and code == errno.EEXIST):
            failed = _LineFailed(line, _refusal(op, code))
    pending.clear()
    if failed is not None:
        raise failed


def _refusal(op: AddAddress | AddRoute, code: int) -> str:
    if code == errno.EEXIST and isinstance(op, AddAddress):
        return f"the address {op.address.ip} is already there (use set address)"
    if code == errno.EEXIST and isinstance(op, AddRoute):
        return f"the route {op.prefix} is already there (use set route)"
    return describe(code)


@dataclass
class Undone:
    """What undoing a transaction did: the changes undone, and the steps that failed."""

    count: int = 0
    failed: list[str] = field(default_factory=list)  # "what (why)", one per step left

    def __str__(self) -> str:
        changes = f"{self.count} change{'s' if self.count != 1 else ''} undone"
        if not self.failed:
            return f"{changes}, nothing is left half-applied"
        return f"{changes}; could not undo {len(self.failed)}, left as they are: " + "; ".join(
            self.failed
        )


def _op_text(op: Op) -> str:
    """An operation as a user can read it: its kind and its fields."""
    values = ", ".join(f"{f.name}={getattr(op, f.name)}" for f in fields(op))
    return f"{type(op).__name__}({values})"


def _undo(kernel: Kernel, pipeline: Pipeline, done: list[Op]) -> Undone:
    """Apply the inverses, newest first; what was undone and what could not be."""
    result = Undone()
    batch: list[DeleteAddress | DeleteRoute] = []

    def attempt(op: Op) -> None:
        try:
            kernel.apply(op)
        except (NetshFailed, OSError) as exc:
            result.failed.append(f"{_op_text(op)} ({reason(exc)})")
        else:
            result.count += not isinstance(op, Remember)  # netsh's own memory is not a change

    def flush() -> None:
        for op, code in zip(batch, pipeline.send(batch) if batch else [], strict=True):
            if code == 0:
                result.count += 1
            else:  # e.g. an address the kernel holds with another length: the slow way
                attempt(op)
        batch.clear()

    for op in reversed(done):
        if isinstance(op, (DeleteAddress, DeleteRoute)):
            batch.append(op)
            continue
        flush()
        attempt(op)
    flush()
    return result


def _keep_persistent(state: dict[str, Any], command: Command) -> None:
    if not command.persistent:
        return
    kept: list[str] = state["persistent"]
    if command.verb == "delete":
        target = command
        same: dict[str, Any] = {
            k: target.values[k] for k in ("interface", "address", "prefix") if k in target.values
        }
        kept[:] = [t for t in kept if not _same_object(t, command.noun, same)]
        return
    kept.append(command.text)  # the full words, context included


def _same_object(text: str, noun: str, same: dict[str, Any]) -> bool:
    try:
        other = parse_command(split(text))
    except NetshSyntaxError:
        return False

    def key(value: Any) -> Any:  # an address is the same whatever its prefix length
        return getattr(value, "ip", value)

    return other.noun == noun and all(key(other.values.get(k)) == key(v) for k, v in same.items())
