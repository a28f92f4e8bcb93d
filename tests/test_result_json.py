"""Every typed result comes back from its JSON form (``--json``) as the same value:
``Result.from_json(json.loads(output))`` is how a script reads a command's output."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ipv6
import mcast
from ipv6 import Result
from ipv6.cli.kit import jsonable

# Fields typed Any (a raw netlink attribute, a daemon's free-form status) have no
# type to revive by: these results are read back by their own code, not from_json.
UNTYPED = {"PlaneCounts", "PlaneStatus", "PolicyTable", "SaTable", "TunnelStatus"}


def all_results() -> list[type[Result]]:
    for package in (ipv6, mcast):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".cli" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    found: dict[str, type[Result]] = {}
    pending = list(Result.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if dataclasses.is_dataclass(cls) and not cls.__module__.startswith("tests"):
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


def test_the_toolkit_has_the_results_this_test_walks() -> None:
    names = {cls.__name__ for cls in all_results()}
    assert {"SessionStatistics", "SenderStatistics", "TranslatorStatus", "PingReport"} <= names
    assert names >= UNTYPED  # an exception that no longer exists is dropped from the list


@pytest.mark.parametrize("cls", [c for c in all_results() if c.__name__ not in UNTYPED],
                         ids=lambda c: c.__name__)  # fmt: skip
def test_a_result_survives_its_json(cls: type[Result]) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_type(cls))
    def round_trip(value: Any) -> None:
        text = json.dumps(value.to_json(), default=jsonable)
        assume("NaN" not in text)  # NaN is not equal to itself; JSON holds it all the same
        assert cls.from_json(json.loads(text)) == value

    round_trip()
