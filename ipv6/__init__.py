"""IPv6 for labs and transition testing: addresses and scopes, interfaces,
dual-stack sockets, tunnels, netsh-like configuration and network-namespace labs.

This module stays light to import; the lab lives in :mod:`ipv6.lab`.
"""

from ._errors import (
    BadInput,
    CommandFailedToStart,
    Ipv6Error,
    LabConfigError,
    LabError,
    LabStepFailed,
    NeedsPrivilege,
)
from ._interfaces import InterfaceRef, UnknownInterface, resolve_interface

__all__ = [
    "BadInput",
    "CommandFailedToStart",
    "InterfaceRef",
    "Ipv6Error",
    "LabConfigError",
    "LabError",
    "LabStepFailed",
    "NeedsPrivilege",
    "UnknownInterface",
    "resolve_interface",
]
__version__ = "0.1.0"
