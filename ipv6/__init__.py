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

    from ._addrwatch import AddressWatch
    from ._aio import lone_error
    from ._checksum import adjust as adjust_checksum
    from ._checksum import checksum
    from ._derive import eui64_address, nat64_embed, parse_mac, sixto4_prefix
    from ._interfaceref import InterfaceRef
    from ._interfaces import (
        UnknownInterface,
        addresses_of,
        interface_present,
        resolve_destination,
        resolve_interface,
    )
    from ._inventory import read_host_joins
    from ._joins import HostJoin
    from ._ping import PingResult, Reply, ping
    from ._privilege import missing_privileges
    from ._procsys import read_sysctl_int, write_sysctl
    from ._result import Result
    from ._transact import Refused, Undone, apply_steps, undo_steps
    from ._zones import AmbiguousScope, Destination, choose_zone
    from .dualstack._dualreport import ServiceCheck, check_service
    from .dualstack._dualsockets import (
        Attempt,
        DualStackUDP,
        ProbeRow,
        RaceResult,
        happy_eyeballs,
        make_socket,
        open_listener,
        run_probe,
    )
    from .dualstack._dualstack import Kind, MappedOnV6Only, display, for_socket
    from .dualstack._echo import EchoService

# name -> the private module that holds it; each loads on first use.
_LAZY = {
    "Refused": "_transact",
    "Undone": "_transact",
    "apply_steps": "_transact",
    "undo_steps": "_transact",
    "Attempt": "dualstack._dualsockets",
    "DualStackUDP": "dualstack._dualsockets",
    "RaceResult": "dualstack._dualsockets",
    "happy_eyeballs": "dualstack._dualsockets",
    "open_listener": "dualstack._dualsockets",
    "ServiceCheck": "dualstack._dualreport",
    "check_service": "dualstack._dualreport",
    "MappedOnV6Only": "dualstack._dualstack",
    "display": "dualstack._dualstack",
    "for_socket": "dualstack._dualstack",
    "AddressWatch": "_addrwatch",
    "AmbiguousScope": "_zones",
    "Destination": "_zones",
    "EchoService": "dualstack._echo",
    "HostJoin": "_joins",
    "InterfaceRef": "_interfaceref",
    "Kind": "dualstack._dualstack",
    "PingResult": "_ping",
    "ProbeRow": "dualstack._dualsockets",
    "Reply": "_ping",
    "Result": "_result",
    "UnknownInterface": "_interfaces",
    "addresses_of": "_interfaces",
    "adjust_checksum": "_checksum:adjust",
    "checksum": "_checksum",
    "choose_zone": "_zones",
    "counts_text": "_result",
    "eui64_address": "_derive",
    "interface_present": "_interfaces",
    "lone_error": "_aio",
    "make_socket": "dualstack._dualsockets",
    "missing_privileges": "_privilege",
    "nat64_embed": "_derive",
    "parse_mac": "_derive",
    "ping": "_ping",
    "read_host_joins": "_inventory",
    "read_sysctl_int": "_procsys",
    "resolve_destination": "_interfaces",
    "resolve_interface": "_interfaces",
    "run_probe": "dualstack._dualsockets",
    "sixto4_prefix": "_derive",
    "write_sysctl": "_procsys",
}

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_NEEDS_PRIVILEGE",
    "AddressWatch",
    "AmbiguousScope",
    "Attempt",
    "BadInput",
    "CommandFailedToStart",
    "Destination",
    "DualStackUDP",
    "EchoService",
    "HostJoin",
    "InterfaceRef",
    "Ipv6Error",
    "Kind",
    "LabConfigError",
    "LabError",
    "LabStepFailed",
    "MappedOnV6Only",
    "NeedsPrivilege",
    "PingResult",
    "ProbeRow",
    "RaceResult",
    "Refused",
    "Reply",
    "Result",
    "ServiceCheck",
    "Undone",
    "UnknownInterface",
    "addresses_of",
    "adjust_checksum",
    "apply_steps",
    "check_service",
    "checksum",
    "choose_zone",
    "counts_text",
    "display",
    "eui64_address",
    "for_socket",
    "happy_eyeballs",
    "interface_present",
    "lone_error",
    "make_socket",
    "missing_privileges",
    "nat64_embed",
    "open_listener",
    "parse_mac",
    "ping",
    "read_host_joins",
    "read_sysctl_int",
    "resolve_destination",
    "resolve_interface",
    "run_probe",
    "sixto4_prefix",
    "undo_steps",
    "write_sysctl",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module, _, attribute = module.partition(":")  # "module:attribute" when it is named otherwise
    return getattr(importlib.import_module(f".{module}", __name__), attribute or name)
