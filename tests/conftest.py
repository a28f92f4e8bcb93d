"""Shared test fixtures: privilege policy, leak checks, labs.

- A test marked ``needs_root`` skips without CAP_NET_ADMIN/CAP_SYS_ADMIN,
  except when CI=true: there it fails, because CI runs as root and a skip
  would hide a broken lab.
- Every ``needs_root`` test is checked for leftovers, whether it passed or
  failed: the root namespace's links must be the same after it as before, and
  no network namespace this run made may remain. A namespace is this run's
  when its name starts with a name the run gave (``unique_lab_name``), or
  when a lab recorded it in this run's own lab state directory (every lab
  command the tests start, in-process or as a child, records there). Anything
  else (a user's lab, a second test run's) is neither reported nor removed.
- ``lab`` gives a test a running lab from a config, under a unique name, and
  takes it down afterwards.
- A test marked ``needs_feature(NAME, ...)`` needs kernel features
  (``ipv6 capabilities`` names them): where the kernel lacks one, and the
  toolkit has no other way, it is skipped with the feature's name, under
  CI=true too (a kernel option is the machine's, not a broken test), and the
  run ends with the features this machine lacks and the tests that did not
  run for them. A test of a path with a fallback runs on the fallback (its
  kernel case alone carries the mark).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from ipv6._privilege import missing_privileges

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "configs" / "lab"
IN_CI = os.environ.get("CI", "").lower() == "true"
_names = itertools.count()


def missing_privilege() -> list[str]:
    return missing_privileges()


_LACKED: dict[str, list[str]] = {}  # feature -> the tests skipped for it


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _skip_what_the_kernel_lacks(items)
    missing = missing_privilege()
    if not missing:
        return
    for item in items:
        if item.get_closest_marker("needs_root") is None:
            continue
        reason = f"needs {' and '.join(missing)} (run as root)"
        if IN_CI:
            item.add_marker(pytest.mark.usefixtures("_fail_without_root"))
        else:
            item.add_marker(pytest.mark.skip(reason=reason))


def _skip_what_the_kernel_lacks(items: list[pytest.Item]) -> None:
    marked = [(item, m) for item in items for m in item.iter_markers("needs_feature")]
    if not marked:
        return
    from ipv6.capabilities import ABSENT, FEATURES, capabilities

    found = {f.name: f for f in capabilities()}
    titles = {f.name: f for f in FEATURES}
    for item, mark in marked:
        for name in mark.args:
            assert name in titles, f"{item.nodeid}: needs_feature({name!r}) names no feature"
            if found[name].state == ABSENT:
                feature = titles[name]
                item.add_marker(pytest.mark.skip(
                    reason=f"this kernel lacks {feature.title} ({feature.config})"
                ))  # fmt: skip
                _LACKED.setdefault(name, []).append(item.nodeid)
                break


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _LACKED:
        return
    from ipv6.capabilities import FEATURES

    titles = {f.name: f for f in FEATURES}
    terminalreporter.section("kernel features this machine lacks")
    for name, tests in sorted(_LACKED.items()):
        feature = titles[name]
        terminalreporter.write_line(
            f"{name} ({feature.config}): {len(tests)} tests did not run; without it: "
            f"{feature.without}"
        )
        for nodeid in tests:
            terminalreporter.write_line(f"    {nodeid}")


@pytest.fixture
def _fail_without_root() -> None:
    pytest.fail(
        f"CI=true and this test needs {' and '.join(missing_privilege())}: "
        "CI runs as root, so a missing privilege is a failure, not a skip"
    )


RUN_PREFIX = f"pt{os.getpid() % 100000}-"
# This run's lab records, apart from any other run's or a user's: set before
# any lab code runs, inherited by every command the tests start.
_RUN_STATE = Path(tempfile.mkdtemp(prefix="ipv6-lab-tests-"))
os.environ["IPV6_LAB_STATE_DIR"] = str(_RUN_STATE)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_RUN_STATE, ignore_errors=True)


def netns_names() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


@pytest.fixture
def nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """For a test that runs pytest on a user's test files (pytester): their labs are
    named with a prefix of this test's own (the plugin's TOOLKIT_LAB_PREFIX, which
    the files' processes inherit), and after the test no namespace or /etc/netns
    entry of those labs is left, nor a process they started (a ``sleep 4711``)."""
    import secrets

    import psutil

    prefix = "p" + secrets.token_hex(2)
    monkeypatch.setenv("TOOLKIT_LAB_PREFIX", prefix)
    yield prefix
    left = sorted(n for n in netns_names() if n.startswith(prefix))
    assert not left, f"left behind: {left}"
    etc = Path("/etc/netns")
    stale = (
        sorted(p.name for p in etc.iterdir() if p.name.startswith(prefix)) if etc.is_dir() else []
    )
    assert not stale, f"/etc/netns entries left behind: {stale}"

    def ours(process: psutil.Process) -> bool:
        try:
            return process.environ().get("TOOLKIT_LAB_PREFIX") == prefix
        except psutil.Error:
            return False

    stray = [
        p.pid for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] == ["sleep", "4711"] and ours(p)
    ]  # fmt: skip
    assert not stray, f"processes the tests started are still running: {stray}"


def namespaces_of(lab: str) -> set[str]:
    """The network namespaces of the lab named ``lab`` (``NAME-TAG-HOST``), and no others."""
    return {n for n in netns_names() if n.startswith(f"{lab}-")}


def root_links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


@pytest.fixture(autouse=True)
def _no_leftovers(request: pytest.FixtureRequest):
    """Fail a root test that leaves a namespace or a root-namespace link behind."""
    if request.node.get_closest_marker("needs_root") is None or missing_privilege():
        yield
        return
    namespaces, links = netns_names(), root_links()
    yield
    left_ns = {n for n in netns_names() - namespaces if _made_by_this_run(n)}
    left_links = root_links() - links
    # Remove them so one broken test does not fail every later one, then fail.
    if left_ns:
        from ipv6.lab._kernel import remove_namespaces

        remove_namespaces(sorted(left_ns))
    assert not left_ns, f"the test left network namespaces behind: {sorted(left_ns)}"
    assert not left_links, f"the test left links in the root namespace: {sorted(left_links)}"


def _made_by_this_run(namespace: str) -> bool:
    if namespace.startswith(RUN_PREFIX):
        return True
    for record in _RUN_STATE.glob("*.json"):
        try:
            made = json.loads(record.read_text(encoding="utf-8")).get("namespaces", [])
        except (OSError, ValueError):
            continue
        if namespace in made:
            return True
    return False


def unique_lab_name() -> str:
    """A lab name no other test, or parallel run, uses (at most 16 characters)."""
    return f"{RUN_PREFIX}{next(_names)}"


LabFactory = Callable[..., AbstractAsyncContextManager["object"]]


@pytest.fixture
def lab():
    """``async with lab("lan") as running:`` brings a shipped lab, a path or a
    LabConfig up under a unique name and down afterwards."""
    from ipv6.lab import LabConfig, load_config, open_lab, parse_config

    @asynccontextmanager
    async def make(config: str | Path | LabConfig, text: bool = False) -> AsyncIterator[object]:
        name = unique_lab_name()
        if isinstance(config, LabConfig):
            pass
        elif text:
            config = parse_config(str(config), source="<test>", name=name)
        else:
            path = LABS / f"{config}.toml" if not str(config).endswith(".toml") else Path(config)
            config = load_config(path, name=name)
        async with open_lab(config) as running:
            yield running

    return make


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    """Run a toolkit command in a fresh interpreter, as a user would."""
    import subprocess

    module, *rest = args
    return subprocess.run(
        [sys.executable, "-m", module, *rest],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


REPORT_ENV = "RELIABILITY_REPORT"


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``figures(service, thrown, count=..., seconds=..., held=...)``: one row of the
    reliability tables (docs/reliability.md), written only when bench/reliability.py
    runs the tests (it sets RELIABILITY_REPORT) and only once the test's checks
    passed, so a row is a measurement of what held."""

    def record(
        service: str, thrown: str, *, count: int, seconds: float, held: dict[str, object]
    ) -> None:
        path = os.environ.get(REPORT_ENV)
        if not path:
            return
        row = {
            "test": request.node.nodeid,
            "service": service,
            "thrown": thrown,
            "count": count,
            "seconds": round(seconds, 2),
            "held": held,
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    return record
