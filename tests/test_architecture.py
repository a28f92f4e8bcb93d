"""The shape the guide asks for: ipv6 never imports mcast, pure cores import
no socket or Trio, the public surface exists, py.typed ships."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = [
    "ipv6/lab/_config.py",
    "ipv6/lab/_plan.py",
    "ipv6/lab/_sysctl.py",
    "ipv6/_capabilities.py",
    "ipv6/_errors.py",
    "ipv6/_address.py",
    "ipv6/_dualstack.py",
    "ipv6/_zones.py",
    "ipv6/_joins.py",
    "ipv6/netsh/_grammar.py",
    "ipv6/netsh/_ops.py",
    "ipv6/netsh/_ra.py",
    "ipv6/tunnel/_packets.py",
    "ipv6/tunnel/_rules.py",
    "ipv6/tunnel/_sixto4cfg.py",
    "mcast/_errors.py",
    "mcast/_sockopts.py",
    "mcast/_membership.py",
    "mcast/_conflicts.py",
    "mcast/_groups.py",
    "mcast/_wirecommon.py",
    "mcast/_igmp.py",
    "mcast/_mld.py",
    "mcast/_frames.py",
    "mcast/_hostmodel.py",
    "mcast/_routertable.py",
    "mcast/_wiretext.py",
]
IO_MODULES = {"socket", "trio", "pyroute2", "subprocess", "psutil", "select", "selectors"}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ipv6_never_imports_mcast() -> None:
    for path in (ROOT / "ipv6").rglob("*.py"):
        roots = {name.split(".")[0] for name in imported(path)}
        assert "mcast" not in roots, path


@pytest.mark.parametrize("relative", PURE)
def test_pure_cores_do_no_io(relative: str) -> None:
    roots = {name.split(".")[0] for name in imported(ROOT / relative)}
    assert not roots & IO_MODULES, f"{relative} imports {roots & IO_MODULES}"


def test_public_names() -> None:
    import ipv6
    import ipv6.lab
    import mcast

    for name in ipv6.__all__:
        assert hasattr(ipv6, name)
    for name in ipv6.lab.__all__:
        assert getattr(ipv6.lab, name) is not None
    for name in mcast.__all__:
        assert hasattr(mcast, name)
    assert issubclass(ipv6.LabConfigError, ipv6.Ipv6Error)
    assert issubclass(ipv6.LabStepFailed, ipv6.Ipv6Error)
    assert (ROOT / "ipv6" / "py.typed").exists() and (ROOT / "mcast" / "py.typed").exists()


def test_importing_the_lab_does_not_import_trio_or_pyroute2() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ipv6.lab, ipv6.cli; "
        "print(sorted(m for m in ('trio', 'pyroute2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_shipped_labs_are_in_configs_lab() -> None:
    names = {p.name for p in (ROOT / "configs" / "lab").glob("*.toml")}
    assert {"two-hosts.toml", "lan.toml", "link-local.toml", "6to4-two-sites.toml"} <= names


def test_the_wheel_carries_the_shipped_labs_and_finds_them(tmp_path: Path) -> None:
    """Built as pip builds it, and unpacked as pip installs it: the labs of
    configs/lab are package data, and the lab commands find them there."""
    import json
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    shipped = {p.name for p in (ROOT / "configs" / "lab").glob("*.toml")}
    assert {p.name for p in (site / "ipv6" / "lab" / "shipped").glob("*.toml")} == shipped
    code = "import json; from ipv6.lab import builtin_labs; print(json.dumps(list(builtin_labs().values())))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    paths = [Path(p) for p in json.loads(out.stdout)]
    assert {p.name for p in paths} == shipped
    assert all(p.is_file() and p.is_relative_to(site) for p in paths), paths


def test_a_checkout_finds_the_shipped_labs_in_configs_lab() -> None:
    from ipv6.lab import builtin_labs

    paths = [Path(p) for p in builtin_labs().values()]
    assert paths and all(p.parent == ROOT / "configs" / "lab" and p.is_file() for p in paths)
