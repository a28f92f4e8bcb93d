"""IPv6 for labs and transition testing: addresses and scopes, interfaces,
dual-stack sockets, tunnels, netsh-like configuration and network-namespace labs.

This module stays light to import (pure commands such as ``ipv6 addr`` must
start fast): the interface lookup loads on first use, the lab lives in
:mod:`ipv6.lab`.
"""

from __future__ import annotations

from ._errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NEEDS_PRIVILEGE,
    BadInput,
    CommandFailedToStart,
    Ipv6Error,
    LabConfigError,
    LabError,
    LabStepFailed,
    NeedsPrivilege,
)

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from ._addrwatch import AddressWatch
    from ._interfaceref import InterfaceRef
    from ._interfaces import UnknownInterface, interface_present, resolve_interface
    from ._privilege import missing_privileges
    from ._procsys import read_sysctl_int, write_sysctl

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_NEEDS_PRIVILEGE",
    "AddressWatch",
    "BadInput",
    "CommandFailedToStart",
    "InterfaceRef",
    "Ipv6Error",
    "LabConfigError",
    "LabError",
    "LabStepFailed",
    "NeedsPrivilege",
    "UnknownInterface",
    "interface_present",
    "missing_privileges",
    "read_sysctl_int",
    "resolve_interface",
    "write_sysctl",
]
__version__ = "0.1.0"

_LAZY = {"UnknownInterface", "interface_present", "resolve_interface"}


def __getattr__(name: str) -> Any:
    if name == "InterfaceRef":
        from ._interfaceref import InterfaceRef

        return InterfaceRef
    if name == "AddressWatch":
        from ._addrwatch import AddressWatch

        return AddressWatch
    if name in ("read_sysctl_int", "write_sysctl"):
        from . import _procsys

        return getattr(_procsys, name)
    if name == "missing_privileges":
        from ._privilege import missing_privileges

        return missing_privileges
    if name in _LAZY:
        from . import _interfaces

        return getattr(_interfaces, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
