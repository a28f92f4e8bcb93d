"""IPsec for the seeds' Configuration 3 (ipsec6): the Authentication Header
(RFC 4302) in transport mode, from the seeds' .spd, .sad and key files, on
the kernel's XFRM or the userspace plane (docs/ipsec6.md).

The pure parts (the AH codec, the replay window, the files, the active lists,
the engine that decides each packet) load with the package; what touches the
system (``add``, ``delete``, ``status``: the planes) loads on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._active import Active
from ._ah import (
    ALGORITHMS,
    AhError,
    Algorithm,
    IcvMismatch,
    Verified,
    protect,
    verify,
)
from ._engine import DROP_REASONS, Accept, Drop, Engine, Split
from ._files import (
    SAD_TEMPLATE,
    SPD_TEMPLATE,
    Association,
    IpsecFileError,
    Policy,
    read_key,
    read_sad,
    read_spd,
)
from ._replay import ReplayWindow

if TYPE_CHECKING:
    from ._control import IpsecError
    from ._control import add as add_files
    from ._control import create as create_templates
    from ._control import delete as delete_entry
    from ._show import PlaneCounts, PolicyTable, SaTable, show_associations, show_policies

_LAZY = {
    "IpsecError": ("_control", "IpsecError"),
    "add_files": ("_control", "add"),
    "create_templates": ("_control", "create"),
    "delete_entry": ("_control", "delete"),
    "PlaneCounts": ("_show", "PlaneCounts"),
    "PolicyTable": ("_show", "PolicyTable"),
    "SaTable": ("_show", "SaTable"),
    "show_associations": ("_show", "show_associations"),
    "show_policies": ("_show", "show_policies"),
}

__all__ = [
    "ALGORITHMS",
    "DROP_REASONS",
    "SAD_TEMPLATE",
    "SPD_TEMPLATE",
    "Accept",
    "Active",
    "AhError",
    "Algorithm",
    "Association",
    "Drop",
    "Engine",
    "IcvMismatch",
    "IpsecError",
    "IpsecFileError",
    "PlaneCounts",
    "Policy",
    "PolicyTable",
    "ReplayWindow",
    "SaTable",
    "Split",
    "Verified",
    "add_files",
    "create_templates",
    "delete_entry",
    "protect",
    "read_key",
    "read_sad",
    "read_spd",
    "show_associations",
    "show_policies",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
