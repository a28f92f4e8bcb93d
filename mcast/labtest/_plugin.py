"""The toolkit's pytest plugin, registered through the ``pytest11`` entry point:
installing the toolkit is enough to use it.

- ``@pytest.mark.lab("nat64")`` (a shipped lab's name or a lab file, relative
  to the test's directory) and the ``lab`` fixture give a test that lab, built
  under a name no other test uses and taken down after it, with everything it
  started, even when it fails or is interrupted. A plain test gets
  :class:`Lab` (calls wait), a Trio test (pytest-trio) :class:`AsyncLab`
  (calls are awaited).
- Without the privileges a lab needs (root: CAP_NET_ADMIN and CAP_SYS_ADMIN),
  such tests are skipped with one reason; ``--lab-required`` (and CI=true)
  makes them fail instead.
- A lab file that cannot be used fails its test with the file's one-line error.

This module loads nothing heavy: a test run that uses no lab pays for nothing.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pytest

MARK = "lab"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("toolkit labs")
    group.addoption(
        "--lab-required",
        action="store_true",
        help="fail (do not skip) tests marked lab when this process may not build labs "
        "(always so when CI=true)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARK}(name_or_file): the network-namespace lab the test's lab fixture builds "
        "(a shipped lab, e.g. nat64, or a lab file); needs root",
    )


def _required(config: pytest.Config) -> bool:
    return bool(config.getoption("--lab-required")) or os.environ.get("CI", "") == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [item for item in items if item.get_closest_marker(MARK) is not None]
    if not marked:
        return
    from ipv6 import missing_privileges

    missing = missing_privileges()
    if not missing:
        return
    reason = (
        f"building a lab needs {' and '.join(missing)} (run as root; --lab-required fails "
        "instead of skipping)"
    )
    if _required(config):
        return  # the lab fixture fails them, saying why
    for item in marked:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The lab ``@pytest.mark.lab(...)`` names, up for the test and down after it."""
    from ipv6 import Ipv6Error

    from ._asynclab import AsyncLab
    from ._testlab import open_lab_for_test

    mark = request.node.get_closest_marker(MARK)
    if mark is None or not mark.args:
        pytest.fail(
            "the lab fixture builds the lab the test names: mark it "
            "@pytest.mark.lab('nat64') (a shipped lab) or @pytest.mark.lab('my-lab.toml')",
            pytrace=False,
        )
    from ipv6 import missing_privileges

    missing = missing_privileges()
    if missing:
        pytest.fail(
            f"this test needs a lab, and building one needs {' and '.join(missing)}: run as "
            "root (--lab-required or CI=true: a failure, not a skip)",
            pytrace=False,
        )
    near = request.path.parent if request.path is not None else None
    failure = None
    try:
        with open_lab_for_test(mark.args[0], near=near) as built:
            trio_test = inspect.iscoroutinefunction(getattr(request, "function", None))
            yield AsyncLab(built) if trio_test else built
    except Ipv6Error as exc:
        failure = f"lab {mark.args[0]}: {exc}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
