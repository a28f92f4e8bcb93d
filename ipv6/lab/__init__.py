"""Network-namespace labs: hosts, veth links, bridges, addresses, routes, sysctls.

The public surface of labs. The Trio part (:func:`open_lab`, :class:`RunningLab`,
:class:`LabHost`) is loaded on first use, so commands that only read lab files
do not pay for importing Trio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import Endpoint, Host, LabConfig, Link, Route, load_config, parse_config
from ._lab import DownReport, describe, down, exec_in_host, find, planned, records, summary, up
from ._plan import Plan, plan_up
from ._state import LabRecord

if TYPE_CHECKING:
    from ._running import LabHost, RunningLab, open_lab

__all__ = [
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
    "exec_in_host",
    "find",
    "load_config",
    "open_lab",
    "parse_config",
    "plan_up",
    "planned",
    "records",
    "summary",
    "up",
]

_LAZY = {"open_lab", "RunningLab", "LabHost"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _running

        return getattr(_running, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def builtin_labs() -> dict[str, str]:
    """The labs shipped with the toolkit (configs/lab in the source tree): name -> path."""
    from pathlib import Path

    here = Path(__file__).resolve().parent.parent / "labs"
    return {p.stem: str(p) for p in sorted(here.glob("*.toml"))}


def builtin_lab(name: str) -> str | None:
    """The path of a shipped lab, by its name (``lan``) or file name (``lan.toml``)."""
    return builtin_labs().get(name.removesuffix(".toml"))
