"""The shape the guide asks for: ipv6 never imports mcast, pure cores import
no socket or Trio, the public surface exists, py.typed ships."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a pure module may not reach, directly or through other modules: sockets,
# Trio, processes, the kernel's other doors, and the operating system's files.
IO_MODULES = {
    "asyncio", "ctypes", "fcntl", "io", "multiprocessing", "psutil", "pyroute2",
    "resource", "select", "selectors", "shutil", "signal", "socket", "subprocess",
    "tempfile", "threading", "trio",
}  # fmt: skip
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes"}
OS_PURE = {"strerror", "fspath", "sep", "linesep"}  # what a pure module may use of os


def _pure_modules() -> list[str]:
    """The one list of pure modules: mypy's strict set in pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        overrides = tomllib.load(f)["tool"]["mypy"]["overrides"]
    (strict,) = [o["module"] for o in overrides if o.get("strict")]
    return sorted(strict)


PURE = _pure_modules()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for pkg in ("ipv6", "mcast") for p in (ROOT / pkg).rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports, relative imports resolved; a submodule
    imported from a package counts as the submodule; typing-only imports do not
    count. In a module, imports inside functions count too (they run when the
    function does); in a package's __init__, only what importing it runs (its
    lazy ``__getattr__`` loads a submodule only when that name is asked for)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), filename=str(path))
    if path.name == "__init__.py":
        tree.body = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = {f"{module}.{a.name}" for a in node.names} & MODULES.keys()
            found |= subs
            if len(subs) < len(node.names):
                found.add(module)
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return found - ancestors - {name}


def reaches(name: str) -> set[str]:
    """Every module loaded by importing ``name``: its imports, theirs, and the
    __init__ of every package on the way."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parts = current.split(".")
        parents = {".".join(parts[:i]) for i in range(1, len(parts))}
        if current in MODULES:
            todo += [m for m in imports_of(current) | parents if m not in seen]
    return seen - {name}


def test_the_pure_list_names_real_modules() -> None:
    assert set(PURE) <= MODULES.keys(), set(PURE) - MODULES.keys()
    assert "mcast.querier._querier" in PURE  # the house model is pure, and held to it


@pytest.mark.parametrize("name", PURE)
def test_a_pure_module_reaches_no_io_and_no_impure_module(name: str) -> None:
    reached = reaches(name)
    io = {m for m in reached if m.split(".")[0] in IO_MODULES}
    assert not io, f"{name} reaches {sorted(io)}"
    ours = {m for m in reached if m in MODULES}
    packages = {m for m in ours if MODULES[m].name == "__init__.py"}
    impure = ours - set(PURE) - packages
    assert not impure, f"{name} reaches modules that are not pure: {sorted(impure)}"


@pytest.mark.parametrize("name", PURE)
def test_a_pure_module_opens_no_file(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    calls = {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }
    assert not calls & FILE_CALLS, f"{name} calls {sorted(calls & FILE_CALLS)}"
    used_of_os = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    }
    assert used_of_os <= OS_PURE, f"{name} uses os.{sorted(used_of_os - OS_PURE)}"


def test_importing_each_pure_module_loads_only_pure_modules() -> None:
    """What the interpreter really loads, package __init__ files included."""
    import json
    import subprocess
    import sys

    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for name in {PURE!r}:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    out[name] = sorted(set(sys.modules) - before)\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for name, loaded in json.loads(result.stdout).items():
        ours = {m for m in loaded if m.split(".")[0] in ("ipv6", "mcast")}
        packages = {m for m in ours if m in MODULES and MODULES[m].name == "__init__.py"}
        assert ours - packages <= set(PURE), f"{name} loads {sorted(ours - packages - set(PURE))}"
        io = {m for m in loaded if m.split(".")[0] in {"trio", "pyroute2", "psutil"}}
        assert not io, f"{name} loads {sorted(io)}"


def test_ipv6_never_imports_mcast() -> None:
    for name in MODULES:
        if name.split(".")[0] == "ipv6":
            assert not {m for m in imports_of(name) if m.split(".")[0] == "mcast"}, name


def test_mcast_uses_only_the_public_names_of_ipv6() -> None:
    """``mcast`` (its CLI and tour included) reaches ``ipv6`` through public modules
    only: no part of the imported module's path starts with an underscore."""
    for name in MODULES:
        if name.split(".")[0] != "mcast":
            continue
        private = {
            m
            for m in imports_of(name)
            if m.split(".")[0] == "ipv6" and any(p.startswith("_") for p in m.split("."))
        }
        assert not private, f"{name} imports {sorted(private)}"


def test_no_import_cycles() -> None:
    """No module reaches itself through others (lazy imports included)."""
    graph = {name: {m for m in imports_of(name) if m in MODULES} for name in MODULES}
    for start, imported in graph.items():
        todo, seen = list(imported), set()
        while todo:
            current = todo.pop()
            assert current != start, f"{start} imports itself through others"
            if current not in seen:
                seen.add(current)
                todo += graph[current]


def test_public_names() -> None:
    import ipv6
    import ipv6.batch
    import ipv6.lab
    import ipv6.sockopts
    import ipv6.translate
    import ipv6.tunnel
    import mcast

    for name in ipv6.__all__:
        assert hasattr(ipv6, name)
    for name in ipv6.tunnel.__all__:
        assert hasattr(ipv6.tunnel, name)
    for name in ipv6.translate.__all__:
        assert hasattr(ipv6.translate, name)
    for name in ipv6.batch.__all__:
        assert hasattr(ipv6.batch, name)
    for name in ipv6.sockopts.__all__:
        assert hasattr(ipv6.sockopts, name)
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


def test_only_a_measuring_receiver_loads_numpy() -> None:
    """numpy (about 60 ms to import) is for per-stream statistics: a receiver
    that does not measure, and the commands' parsers, do without it."""
    import subprocess
    import sys

    code = (
        "import sys, mcast, mcast.cli; from mcast import open_receiver; "
        "mcast.cli.build_parser(); print('numpy' in sys.modules); "
        "import mcast.streams._streamstats; print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_the_shipped_labs_are_in_configs_lab() -> None:
    names = {p.name for p in (ROOT / "configs" / "lab").glob("*.toml")}
    assert {"two-hosts.toml", "lan.toml", "link-local.toml", "6to4-two-sites.toml"} <= names


def test_the_wheel_carries_the_shipped_labs_and_finds_them(tmp_path: Path) -> None:
    """Built as pip builds it, and unpacked as pip installs it: the labs of
    configs/lab are package data, and the lab commands find them there; the
    eBPF objects are package data too."""
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
    # The eBPF objects too, ready to load where there is no compiler.
    built_objects = [*ROOT.glob("ipv6/*/bpf/*.o"), *ROOT.glob("mcast/*/bpf/*.o")]
    assert len(built_objects) == 3, built_objects  # the translators, the tunnels, mforward
    for built in built_objects:
        carried = site / built.relative_to(ROOT)
        assert carried.read_bytes() == built.read_bytes(), built
    code = (
        "import json; from ipv6.lab import builtin_labs; "
        "print(json.dumps(list(builtin_labs().values())))"
    )
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


def test_every_error_a_library_raises_belongs_to_its_package() -> None:
    """Each class of exception defined in ipv6 derives from Ipv6Error, each in
    mcast from McastError (some also from ValueError or OSError, for callers that
    catch those); the exit codes are defined once, in ipv6."""
    import importlib

    import ipv6
    import mcast
    from mcast import _errors as mcast_errors

    roots = {"ipv6": ipv6.Ipv6Error, "mcast": mcast.McastError}
    internal = {"_LineFailed", "InterfaceGone"}  # control flow inside one module, never raised out
    for name in MODULES:
        if name.endswith("__main__"):
            continue  # running it is its import
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and attribute not in internal
            ):
                assert issubclass(value, roots[name.split(".")[0]]), f"{name}.{attribute}"
    assert mcast.McastBadInput.exit_code == ipv6.BadInput.exit_code == ipv6.EXIT_BAD_INPUT
    assert mcast.McastError.exit_code == ipv6.Ipv6Error.exit_code == ipv6.EXIT_FAILURE
    assert "EXIT_BAD_INPUT = " not in Path(mcast_errors.__file__).read_text()


def test_the_mcast_api_raises_its_own_error_for_an_unknown_interface() -> None:
    import mcast
    from mcast._lookup import as_interface

    with pytest.raises(mcast.NoSuchInterface, match="no-such-if0") as caught:
        as_interface("no-such-if0")
    assert isinstance(caught.value, mcast.McastError)


def package_of(name: str) -> str:
    """The package a module belongs to, as the map draws it: ``ipv6`` and ``mcast``
    for their top-level modules, ``ipv6.tunnel`` or ``mcast.routing`` for a room's."""
    path = MODULES[name]
    parts = name.split(".")
    if path.name == "__init__.py":
        return name
    return ".".join(parts[:-1])


def package_graph() -> dict[str, set[str]]:
    """Package -> the packages its modules import (lazy imports and imports inside
    functions included; a name taken from a package's face counts as that
    package's). The faces' own imports (an ``__init__`` names what its rooms
    offer) and entry points (``__main__``) are not counted: the layers are the
    modules' own. A top-level module of ``ipv6`` counts as the package ``ipv6``:
    the low-level helpers every room uses, which import no room."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        here = package_of(name)
        graph.setdefault(here, set())
        for imported in imports_of(name):
            if imported not in MODULES:
                continue
            # A name taken from a face (``from ipv6.lab import down``) is the face's room's.
            there = package_of(imported)
            if there != here:
                graph[here].add(there)
    return graph


def test_no_import_loop_between_packages() -> None:
    """Packages form layers: netsh above tunnel and translate, the data plane above
    both, mcast's rooms in order. A loop between two packages (netsh -> tunnel ->
    netsh, say) is a house whose rooms lean on each other."""
    graph = package_graph()
    for start, imported in graph.items():
        todo, seen = list(imported), set[str]()
        while todo:
            current = todo.pop()
            assert current != start, f"package {start} imports itself through {sorted(seen)}"
            if current not in seen:
                seen.add(current)
                todo += graph.get(current, set())


def test_the_map_in_docs_is_what_the_code_says() -> None:
    """docs/architecture.md's map (layers, arrows, every module in a line) is made
    from the code; when a module or an import changes, write it again."""
    from tests.architecture_map import current, render

    assert current() == render(), (
        "docs/architecture.md's map is stale: run `python -m tests.architecture_map --write`"
    )


def test_no_kernel_write_outside_the_netlink_executor() -> None:
    """Every change a command makes to links, addresses, routes, neighbours and bridge
    ports is a kernel operation (``ipv6._kernelops``) that ``ipv6._netlink`` applies:
    no pyroute2 write elsewhere. The kernel probes are apart: they try, in a
    namespace of their own that vanishes with them, what no command does."""
    writes = {"add", "set", "del", "replace", "delete"}
    methods = {"link", "addr", "route", "neigh", "brport", "tc", "rule"}
    allowed = {"ipv6._netlink", "ipv6.kernelprobe"}
    found = [
        f"{name}:{node.lineno}"
        for name, path in MODULES.items()
        if name not in allowed
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in methods
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in writes
    ]
    assert not found, f"pyroute2 writes outside ipv6._netlink: {found}"


@pytest.mark.parametrize(
    "words",
    [
        ["addr", "explain", "fe80::1%lo", "2002:ac1f:2aef::ac1f:2aef", "2001:0:4136:e378::1"],
        ["addr", "eui64", "00-60-08-52-f9-d8"],
        ["addr", "6to4", "172.31.42.239", "--subnet", "1"],
        ["addr", "nat64", "192.0.2.33"],
    ],
)
def test_a_pure_command_loads_nothing_heavy(words: list[str]) -> None:
    """What keeps ``ipv6 addr`` within 3x bare Python (bench/cli_startup.py): it builds
    its own parser only and imports neither dataclasses (with inspect), shutil,
    typing, json, sockets nor Trio. A result of a pure command is a plain class."""
    import subprocess
    import sys

    code = (
        "import contextlib, io, sys\n"
        "from ipv6.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({words!r})\n"
        "heavy = ('dataclasses', 'inspect', 'shutil', 'typing', 'json', 'socket', 'trio')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "", f"{' '.join(words)} loaded {done.stdout.strip()}"


# What a sleep in a test may be, said in a comment on its line or the two above:
# time itself under test, a checkpoint (sleep(0)), a retry's pause, a slow reader.
SLEEP_REASONS = ("time under test", "checkpoint", "a retry", "slow reader")


def test_tests_wait_for_states_not_for_time() -> None:
    """A test waits for the state it needs with tests/waiting.py's wait_until (a
    deadline, and what was awaited); a sleep stays only where it says why."""
    import re

    tests = Path(__file__).resolve().parent
    unexplained = []
    for path in sorted(tests.rglob("*.py")):
        if path.name == "waiting.py":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not re.search(r"\b(?:time|trio)\.sleep\(", line) or line.lstrip().startswith("#"):
                continue
            said = " ".join([line, *lines[max(0, number - 2) : number]]).lower()
            if not any(reason in said for reason in SLEEP_REASONS):
                unexplained.append(f"{path.relative_to(tests)}:{number + 1}: {line.strip()}")
    assert unexplained == [], "\n".join(unexplained)


def test_a_module_past_400_lines_says_why_it_is_one_concept() -> None:
    """Modules stay at about 400 lines; a larger one says in its docstring why it is
    one concept ("Past 400 lines as one concept: ..."), and docs/architecture.md's
    debts say where it will split."""
    import ast

    long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "400 lines" not in doc:
                long.append(f"{name} ({text.count(chr(10))} lines)")
    assert long == [], long
