"""6to4 and configured 6in4 tunnels: RFC 3964's checks (pure), the userspace
plane (TUN + raw IPv4 socket, a Trio service) and the kernel's sit driver.

Everything here loads on first use, so importing a pure module of the
package (``_rules``, ``_packets``, ``_sixto4cfg``) loads nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._control import TunnelError
    from ._control import add as add_tunnel
    from ._control import delete as delete_tunnel
    from ._control import status as tunnel_status
    from ._registry import TunnelSpec

__all__ = ["TunnelError", "TunnelSpec", "add_tunnel", "delete_tunnel", "tunnel_status"]

_LAZY = {
    "TunnelError": ("_control", "TunnelError"),
    "add_tunnel": ("_control", "add"),
    "delete_tunnel": ("_control", "delete"),
    "tunnel_status": ("_control", "status"),
    "TunnelSpec": ("_registry", "TunnelSpec"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
