"""Where ipsec6 keeps a network namespace's active lists, and what the service
counted: files beside netsh's and the tunnels' (:mod:`ipv6._statefile`).

The state file holds the active policies and SAs (keys included: the file is
created readable by root only), the plane that carries them, the service's
pid and a generation number that each change increments; the service writes
the generation it has loaded into its status file, which is how ``ipsec6 a``
knows the change is in force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import _statefile


def state_path() -> Path:
    return _statefile.namespace_file("ipsec6", ".json")


def status_path() -> Path:
    return _statefile.namespace_file("ipsec6", ".status.json")


def log_path() -> Path:
    return _statefile.namespace_file("ipsec6", ".log")


def load() -> dict[str, Any]:
    data = _statefile.read_json(state_path(), "the ipsec6 state")
    data.setdefault("policies", [])
    data.setdefault("associations", [])
    data.setdefault("generation", 0)
    data.setdefault("service", None)
    data.setdefault("plane", None)
    return data


def save(data: dict[str, Any]) -> None:
    _statefile.write_json(state_path(), data, "the ipsec6 state")


def load_status() -> dict[str, Any]:
    return _statefile.read_json(status_path(), "the ipsec6 service's status")


def write_status(data: dict[str, Any]) -> None:
    _statefile.write_json(status_path(), data, "the ipsec6 service's status")
