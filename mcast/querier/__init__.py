"""The querier: a router's membership table with RFC timers, the IGMP/MLD querier
as a state machine, and the Trio driver that runs it on a link.

Modules: ``_querier``, ``_querying``, ``_routertable``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "Querier": "_querier",
    "Timers": "_routertable",
    "run_queriers": "_querying",
}
__all__ = ["Querier", "Timers", "run_queriers"]
__getattr__ = loader(__name__, _LAZY)
