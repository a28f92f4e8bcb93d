"""Network-namespace labs: hosts, veth links, bridges, addresses, routes, sysctls.

The public surface of labs. The Trio part (:func:`open_lab`, :class:`RunningLab`,
:class:`LabHost`) is loaded on first use, so commands that only read lab files
do not pay for importing Trio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The pure parts load with the package; the rest (the kernel, the records on
# disk, Trio) on first use, so importing a pure module loads only pure modules.
from ._config import Endpoint, Host, LabConfig, Link, Route
from ._configread import parse_config
from ._plan import Plan, plan_up

if TYPE_CHECKING:
    from ._lab import (
        DownReport,
        describe,
        down,
        exec_argv,
        exec_in_host,
        find,
        planned,
        records,
        summary,
        up,
    )
    from ._netns import ETC_NETNS, inside_namespace, processes_in
    from ._running import LabHost, RunningLab, open_lab
    from ._shipped import builtin_lab, builtin_labs, load_config
    from ._state import LabRecord

__all__ = [
    "ETC_NETNS",
    "DownReport",
    "Endpoint",
    "Host",
    "LabConfig",
    "LabHost",
    "LabRecord",
    "Link",
    "Plan",
    "Route",
    "RunningLab",
    "builtin_lab",
    "builtin_labs",
    "describe",
    "down",
    "exec_argv",
    "exec_in_host",
    "find",
    "inside_namespace",
    "load_config",
    "open_lab",
    "parse_config",
    "plan_up",
    "planned",
    "processes_in",
    "records",
    "summary",
    "up",
]

_LAZY = {
    **dict.fromkeys(("open_lab", "RunningLab", "LabHost"), "_running"),
    **dict.fromkeys(
        (
            "DownReport",
            "describe",
            "down",
            "exec_argv",
            "exec_in_host",
            "find",
            "planned",
            "records",
        ),
        "_lab",
    ),
    "summary": "_lab",
    "up": "_lab",
    "LabRecord": "_state",
    "ETC_NETNS": "_netns",
    "inside_namespace": "_netns",
    "processes_in": "_netns",
    **dict.fromkeys(("load_config", "builtin_labs", "builtin_lab"), "_shipped"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
