"""The eBPF objects the toolkit ships are its sources as they are.

Each ``ipv6/*/bpf/NAME.c`` and ``mcast/*/bpf/NAME.c`` (with the shared
``ipv6/bpf/toolkit.h``) has ``NAME.o`` beside it (what an installed wheel
runs, with no compiler on the machine) and ``NAME.o.build`` (what
``scripts/bpf-build`` built it from and with). The source's hash (the file,
then the shared header) must be the recorded one, and building the source
again with the recorded compiler and flags must give the shipped bytes. The
object's maps must be what the Python side packs (key and value sizes), and
the loader's ELF reader refuses a broken object with its own error, never
another exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipv6._bpfelf import BpfObjectError, read_object
from ipv6.translate import _ebpf
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("ipv6/*/bpf/*.c"), *ROOT.glob("mcast/*/bpf/*.c")])
SHARED = ROOT / "ipv6" / "bpf" / "toolkit.h"  # every program's shared header


def build_record(source: Path) -> dict[str, str]:
    text = source.with_suffix(".o.build").read_text()
    return dict(line.split(" ", 1) for line in text.splitlines())


def test_every_source_has_its_object_and_build_record() -> None:
    assert SOURCES, "no eBPF sources found"
    for source in SOURCES:
        assert source.with_suffix(".o").is_file(), f"{source} has no object: run scripts/bpf-build"
        record = build_record(source)
        digest = hashlib.sha256(source.read_bytes() + SHARED.read_bytes()).hexdigest()
        assert record["source_sha256"] == digest, (
            f"{source.name} changed since its object was built: run scripts/bpf-build"
        )


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_the_shipped_object_is_what_the_source_builds(source: Path, tmp_path: Path) -> None:
    clang = shutil.which("clang")
    if clang is None:
        if IN_CI:
            pytest.fail("clang is missing: scripts/check installs it")
        pytest.skip("clang is not installed")
    record = build_record(source)
    version = subprocess.run(
        [clang, "--version"], capture_output=True, text=True, check=True
    ).stdout
    if version.splitlines()[0] != record["compiler"]:
        message = f"built with {record['compiler']!r}, this machine has {version.splitlines()[0]!r}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    multiarch = subprocess.run(
        ["gcc", "-print-multiarch"], capture_output=True, text=True, check=True
    ).stdout.strip()
    shutil.copy(source, tmp_path / source.name)
    out = tmp_path / source.with_suffix(".o").name
    subprocess.run(
        [clang, *record["flags"].split(), f"-I/usr/include/{multiarch}", f"-I{SHARED.parent}",
         "-c", source.name, "-o", out.name],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    assert out.read_bytes() == source.with_suffix(".o").read_bytes(), (
        f"{source.with_suffix('.o').name} is not what {source.name} builds: run scripts/bpf-build"
    )


def test_the_translator_maps_are_what_python_packs() -> None:
    obj = read_object(_ebpf.OBJECT.read_bytes())
    assert {_ebpf.SECTION_L3, _ebpf.SECTION_ETH} <= obj.programs.keys()
    entry = (None, b"\1" * 4, b"\2" * 4, b"\3" * 4, 0, 0.0)
    entry6 = (None, b"\1" * 16, b"\2" * 16, b"\3" * 4, 0, 0.0)
    assert obj.maps["flows4"].key_size == len(_ebpf.kernel_key(6, b"\0" * 36))
    assert obj.maps["flows6"].key_size == len(_ebpf.kernel_key(6, b"\0" * 12))
    assert obj.maps["flows4"].value_size == len(_ebpf.kernel_entry(entry))
    assert obj.maps["flows6"].value_size == len(_ebpf.kernel_entry(entry6))
    assert obj.maps["counters"].max_entries == len(_ebpf.COUNTER_NAMES)
    assert obj.license == "Dual MIT/GPL"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_broken_object_is_refused_with_its_own_error(data: st.DataObject) -> None:
    good = bytearray(_ebpf.OBJECT.read_bytes())
    if data.draw(st.booleans()):
        blob = bytes(good[: data.draw(st.integers(0, len(good)))])
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            good[data.draw(st.integers(0, len(good) - 1))] = data.draw(st.integers(0, 255))
        blob = bytes(good)
    with contextlib.suppress(BpfObjectError):  # refused with its own error, or read
        read_object(blob)
