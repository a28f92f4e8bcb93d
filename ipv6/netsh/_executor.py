"""Carrying netsh's operations out: the shared kernel operations through
:class:`ipv6._netlink.Netlink`, netsh's own (its memory, the advertiser
daemons, tunnels) here. Each call returns the operations that undo it."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from .._errors import BadInput, Ipv6Error
from .._kernelops import KernelOp
from .._netlink import AlreadyThere, KernelOpFailed, Netlink
from ._ops import (
    AddTranslator,
    AddTunnel,
    DeleteTunnel,
    Op,
    Remember,
    StartAdvertiser,
    StopAdvertiser,
)
from ._pipeline import describe
from ._store import advertiser, advertiser_alive


class NetshFailed(Ipv6Error):
    """A command the kernel refused; the script's other changes were undone."""


def reason(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    return describe(code) if code else str(exc)


class Executor:
    """Applies netsh's operations and returns their inverses; one netlink handle."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.netlink = Netlink()

    @property
    def ipr(self) -> Any:
        """The pyroute2 handle, opened on first use."""
        return self.netlink.ipr

    def close(self) -> None:
        self.netlink.close()

    def interfaces(self) -> dict[str, int]:
        return {name: index for index, name in socket.if_nameindex()}

    def apply(self, op: Op) -> list[Op]:
        """Make the change; the operations that undo it. Kernel refusals are
        ``OSError`` with the errno; anything known beforehand is :class:`NetshFailed`."""
        own = getattr(self, "_" + type(op).__name__, None)
        if own is not None:
            result: list[Op] = own(op)
            return result
        try:
            return list(self.netlink.apply(_kernel_op(op)))
        except AlreadyThere as exc:
            raise NetshFailed(f"{exc} (use set address)") from None
        except KernelOpFailed as exc:
            raise NetshFailed(str(exc)) from None

    # -- netsh's memory --

    def _Remember(self, op: Remember) -> list[Op]:
        memory = self.state["memory"]
        old = memory.get(op.key)
        if op.value is None:
            memory.pop(op.key, None)
        else:
            memory[op.key] = op.value
        return [Remember(op.key, old)]

    # -- router advertisements: a daemon per interface (see _advertiser) --

    def _StartAdvertiser(self, op: StartAdvertiser) -> list[Op]:
        running = self.state.setdefault("advertisers", {})
        if advertiser_alive(running.get(op.ifname)):
            return []
        # It outlives this command, as Windows' advertising does.
        daemon = advertiser(op.ifname).start_or_reload(None)
        assert daemon is not None
        running[op.ifname] = daemon.pid
        return [StopAdvertiser(op.ifname)]

    def _StopAdvertiser(self, op: StopAdvertiser) -> list[Op]:
        pid = self.state.setdefault("advertisers", {}).pop(op.ifname, None)
        # SIGTERM: it sends a last advertisement, router lifetime 0. One that does
        # not stop in time is left to stop; netsh's change goes on.
        with contextlib.suppress(Ipv6Error):
            if not advertiser(op.ifname).stop(pid):
                return []
        return [StartAdvertiser(op.ifname)]

    # -- tunnels: ipv6.tunnel makes them (a sit device or the userspace service) --

    def _AddTunnel(self, op: AddTunnel) -> list[Op]:
        from ..tunnel import TunnelError, TunnelSpec, add_tunnel

        try:
            add_tunnel(TunnelSpec.from_json(dict(op.spec)), op.plane)
        except (TunnelError, BadInput) as exc:
            raise NetshFailed(str(exc)) from None
        return [DeleteTunnel(op.name)]

    def _AddTranslator(self, op: AddTranslator) -> list[Op]:
        from ..translate import TranslatorError, TranslatorSpec, add_translator

        try:
            add_translator(TranslatorSpec.from_json(dict(op.spec)))
        except (TranslatorError, BadInput) as exc:
            raise NetshFailed(str(exc)) from None
        return [DeleteTunnel(op.name)]

    def _DeleteTunnel(self, op: DeleteTunnel) -> list[Op]:
        from ..tunnel import TunnelError, delete_tunnel
        from ..tunnel._registry import load

        registry = load()
        translator = registry["translators"].get(op.name)
        if translator is not None and not translator.get("clat"):
            return self._delete_translator(op.name, translator)
        spec = registry["tunnels"].get(op.name)
        if spec is None:
            raise NetshFailed(
                f"{op.name} is not a tunnel or translator netsh made "
                "(see `ipv6 tunnel status`, `ipv6 nat64 status`)"
            )
        try:
            delete_tunnel(op.name)
        except TunnelError as exc:
            raise NetshFailed(str(exc)) from None
        plane = "auto" if spec.get("plane_auto") else spec.get("plane", "auto")
        return [AddTunnel(tuple(spec.items()), str(plane))]

    def _delete_translator(self, name: str, spec: dict[str, object]) -> list[Op]:
        from ..translate import TranslatorError, delete_translator

        try:
            delete_translator(name)
        except TranslatorError as exc:
            raise NetshFailed(str(exc)) from None
        return [AddTranslator(tuple(spec.items()))]


def _kernel_op(op: Op) -> KernelOp:
    assert not isinstance(
        op, (Remember, StartAdvertiser, StopAdvertiser, AddTunnel, DeleteTunnel, AddTranslator)
    )
    return op
