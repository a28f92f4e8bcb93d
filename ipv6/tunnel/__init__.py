"""6to4 and configured 6in4 tunnels: RFC 3964's checks (pure), the userspace
plane (TUN + raw IPv4 socket, a Trio service) and the kernel's sit driver.

Everything here loads on first use, so importing a pure module of the
package (``_rules``, ``_packets``, ``_sixto4plan``) loads nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._control import TunnelError
    from ._control import add as add_tunnel
    from ._control import delete as delete_tunnel
    from ._control import status as tunnel_status
    from ._packets import ipv6_packet
    from ._registry import TunnelSpec
    from ._rules import Drop, Policy, Send, decapsulate, encapsulate, lab_block
    from ._sixto4plan import HostFacts, Options
    from ._sixto4plan import plan as plan_sixto4

_LAZY = {
    "Drop": ("_rules", "Drop"),
    "HostFacts": ("_sixto4plan", "HostFacts"),
    "Options": ("_sixto4plan", "Options"),
    "Policy": ("_rules", "Policy"),
    "Send": ("_rules", "Send"),
    "decapsulate": ("_rules", "decapsulate"),
    "encapsulate": ("_rules", "encapsulate"),
    "ipv6_packet": ("_packets", "ipv6_packet"),
    "lab_block": ("_rules", "lab_block"),
    "plan_sixto4": ("_sixto4plan", "plan"),
    "TunnelError": ("_control", "TunnelError"),
    "add_tunnel": ("_control", "add"),
    "delete_tunnel": ("_control", "delete"),
    "tunnel_status": ("_control", "status"),
    "TunnelSpec": ("_registry", "TunnelSpec"),
}

__all__ = [
    "Drop",
    "HostFacts",
    "Options",
    "Policy",
    "Send",
    "TunnelError",
    "TunnelSpec",
    "add_tunnel",
    "decapsulate",
    "delete_tunnel",
    "encapsulate",
    "ipv6_packet",
    "lab_block",
    "plan_sixto4",
    "tunnel_status",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
