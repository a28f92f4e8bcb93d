"""Carries a lab plan's steps out on this kernel: netlink through pyroute2,
sysctls through /proc/sys inside each namespace.

One netlink handle is opened per namespace, from inside it, and reused for
every step there. Each step is a small function picked from a table by the
step's type; failures come back as :class:`StepFailed` with the kernel's
reason in words, and the caller decides what to undo.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .._errors import LabError
from .._kernelops import (
    AddBridge,
    AddVeth,
    KernelOp,
    SetBridgePortRouter,
    SetLinkMaster,
    SetLinkMtu,
    WriteSysctl,
)
from .._netlink import KernelOpFailed, Netlink
from .._procsys import PROC_SYS, read_sysctl
from . import _netns
from ._plan import (
    AttachToBridge,
    CreateBridge,
    CreateNamespace,
    CreateVeth,
    InNamespace,
    RunInHost,
    SetRouterPort,
    StartInHost,
    Step,
    WaitForAddresses,
)

PROGRAM_TIMEOUT = 20.0  # seconds a host's program may take to finish or to start
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
IFF_UP = 0x1
DAD_TIMEOUT = 15.0


class StepFailed(LabError):
    """A step could not be carried out; ``reason`` is the kernel's answer in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reason_of(exc: BaseException) -> str:
    """The kernel's answer in words, for netlink and OS errors alike."""
    if isinstance(exc, NetlinkError):
        code = exc.code
        return f"{os.strerror(code)} ({_errno_name(code)})"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{os.strerror(exc.errno)} ({_errno_name(exc.errno)})"
    return str(exc) or type(exc).__name__


def _errno_name(code: int) -> str:
    import errno

    return errno.errorcode.get(code, str(code))


class Kernel:
    """Applies steps; holds one netlink handle per namespace until closed."""

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}
        self._actions: dict[type, Callable[[Any], None]] = {
            CreateNamespace: self._create_namespace,
            CreateBridge: self._create_bridge,
            CreateVeth: self._create_veth,
            AttachToBridge: self._attach,
            InNamespace: self._in_namespace,
            WaitForAddresses: self._wait_for_addresses,
            SetRouterPort: self._set_router_port,
            RunInHost: self._run_in_host,
            StartInHost: self._start_in_host,
        }

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def forget(self, namespace: str) -> None:
        handle = self._handles.pop(namespace, None)
        if handle is not None:
            handle.close()

    def handle(self, namespace: str) -> Any:
        """The netlink handle opened inside ``namespace``."""
        if namespace not in self._handles:
            with _netns.inside_namespace(namespace):
                self._handles[namespace] = IPRoute()
        return self._handles[namespace]

    def apply(self, step: Step) -> None:
        try:
            self._actions[type(step)](step)
        except StepFailed:
            raise
        except KernelOpFailed as exc:
            raise StepFailed(str(exc)) from None
        except (NetlinkError, OSError) as exc:
            raise StepFailed(reason_of(exc)) from exc

    def _index(self, namespace: str, ifname: str) -> int:
        found = self.handle(namespace).link_lookup(ifname=ifname)
        if not found:
            raise StepFailed(f"no interface {ifname} in {namespace}")
        return int(found[0])

    # -- the steps --

    def _create_namespace(self, step: CreateNamespace) -> None:
        try:
            _netns.create(step.namespace)
        except FileExistsError:
            raise StepFailed(f"a namespace named {step.namespace} already exists") from None

    def _in_namespace(self, step: InNamespace) -> None:
        """A shared kernel operation, through the namespace's own netlink handle;
        a sysctl is written from inside the namespace (each has its own /proc/sys/net)."""
        netlink = Netlink(self.handle(step.namespace))
        if not isinstance(step.op, WriteSysctl):
            netlink.apply(step.op)
            return
        path, value = step.op.path, step.op.value
        with _netns.inside_namespace(step.namespace):
            try:
                netlink.apply(step.op)
            except KernelOpFailed:  # the only one a sysctl write gives: no such setting
                raise StepFailed(
                    f"this kernel has no setting {PROC_SYS}/{path} (from {step.setting!r})"
                ) from None
            except OSError as exc:
                raise StepFailed(
                    f"the kernel refused {value!r} for {PROC_SYS}/{path}: {reason_of(exc)}"
                ) from None

    def _op(self, namespace: str, op: KernelOp) -> None:
        """One kernel operation in ``namespace``, through its netlink handle (the lab
        removes its namespaces on failure: the inverses are not kept)."""
        Netlink(self.handle(namespace)).apply(op)

    def _create_bridge(self, step: CreateBridge) -> None:
        self._op(step.namespace, AddBridge(step.ifname, step.snooping, step.querier))
        if step.mtu is not None:
            self._op(step.namespace, SetLinkMtu(step.ifname, step.mtu))

    def _create_veth(self, step: CreateVeth) -> None:
        peer_fd = _netns.open_fd(step.peer_namespace)
        try:
            veth = AddVeth(step.ifname, step.peer_ifname, peer_fd, step.mac, step.peer_mac)
            self._op(step.namespace, veth)
        finally:
            os.close(peer_fd)
        if step.mtu is not None:
            self._op(step.namespace, SetLinkMtu(step.ifname, step.mtu))
            self._op(step.peer_namespace, SetLinkMtu(step.peer_ifname, step.mtu))

    def _attach(self, step: AttachToBridge) -> None:
        self._op(step.namespace, SetLinkMaster(step.ifname, step.bridge))

    def _set_router_port(self, step: SetRouterPort) -> None:
        self._op(step.namespace, SetBridgePortRouter(step.port))  # permanent

    def _run_in_host(self, step: RunInHost) -> None:
        done = subprocess.run(
            _in_namespace_argv(step.namespace, step.argv), input=step.stdin, text=True,
            capture_output=True, timeout=PROGRAM_TIMEOUT, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise StepFailed(said[-1] if said else f"it exited with status {done.returncode}")

    def _start_in_host(self, step: StartInHost) -> None:
        from ._state import state_dir

        log_path = state_dir() / step.log
        with open(log_path, "w", encoding="utf-8") as log:
            process = subprocess.Popen(
                _in_namespace_argv(step.namespace, step.argv), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + PROGRAM_TIMEOUT
        while time.monotonic() < deadline:
            lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            if any(line.startswith(step.ready) for line in lines):
                return
            if process.poll() is not None:
                raise StepFailed(lines[-1] if lines else f"it exited with {process.returncode}")
            time.sleep(0.05)
        process.kill()
        process.wait()
        raise StepFailed(f"not started after {PROGRAM_TIMEOUT:.0f} s (its output: {log_path})")

    def _wait_for_addresses(self, step: WaitForAddresses) -> None:
        """Wait until every link is ready to carry traffic.

        A link is ready when it has carrier and, where IPv6 is on, its
        link-local address exists and no address of it is still tentative.
        The kernel makes the link-local address only after the carrier comes
        up, which it reports with a delay, so "no tentative address" alone
        would say ready before the address even exists.
        """
        deadline = time.monotonic() + DAD_TIMEOUT
        while True:
            pending = [p for ns in step.namespaces for p in self._not_ready(ns)]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"not ready after {DAD_TIMEOUT:.0f} s: {', '.join(pending)}")
            time.sleep(0.02)

    def _not_ready(self, namespace: str) -> list[str]:
        ipr = self.handle(namespace)
        pending = []
        addresses: dict[int, list[tuple[str, int]]] = {}
        for msg in ipr.get_addr(family=socket.AF_INET6):
            flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
            address = msg.get_attr("IFA_ADDRESS")
            if flags & IFA_F_DADFAILED:
                raise StepFailed(f"duplicate address detection failed for {address} in {namespace}")
            addresses.setdefault(msg["index"], []).append((address, flags))
        for link in ipr.get_links():
            ifname = link.get_attr("IFLA_IFNAME")
            if ifname == "lo" or not link["flags"] & IFF_UP:
                continue
            where = f"{namespace}:{ifname}"
            if link.get_attr("IFLA_OPERSTATE") != "UP":
                pending.append(f"{where} has no carrier")
                continue
            mine = addresses.get(link["index"], [])
            pending += [f"{a} on {where} is tentative" for a, f in mine if f & IFA_F_TENTATIVE]
            if not any(a.startswith("fe80:") for a, _ in mine) and self._makes_link_local(
                namespace, ifname
            ):
                pending.append(f"{where} has no link-local address yet")
        return pending

    def _makes_link_local(self, namespace: str, ifname: str) -> bool:
        """Whether the kernel will give this interface a link-local address."""
        with _netns.inside_namespace(namespace):
            disabled = read_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", default="1")
            mode = read_sysctl(f"net/ipv6/conf/{ifname}/addr_gen_mode", default="1")
        return disabled == "0" and mode != "1"  # 1: IN6_ADDR_GEN_MODE_NONE


def _in_namespace_argv(namespace: str, argv: tuple[str, ...]) -> list[str]:
    """``python -m ARGV...`` inside ``namespace`` (through the lab's exec helper)."""
    return [sys.executable, "-m", "ipv6.lab._nsexec", namespace, sys.executable, "-m", *argv]


def remove_namespaces(namespaces: list[str]) -> list[str]:
    """Stop what runs in them and remove them, last made first; returns those removed."""
    from .._statefile import forget_namespace

    removed = []
    for name in reversed(namespaces):
        _netns.stop_processes(name)
        with contextlib.suppress(OSError):  # its toolkit state goes with it
            forget_namespace(os.stat(_netns.path_of(name)).st_ino)
        if _netns.remove(name):
            removed.append(name)
    return removed
