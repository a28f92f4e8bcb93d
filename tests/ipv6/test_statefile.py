"""State files are written whole or not at all; a failed write is one line."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ipv6._statefile import StateWriteFailed, write_json


def test_a_failed_write_keeps_the_previous_state_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_json(path, {"n": 1}, "the test state")

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(StateWriteFailed) as caught:
        write_json(path, {"n": 2}, "the test state")
    assert str(caught.value) == (
        f"cannot save the test state to {path}: No space left on device; the previous state is kept"
    )
    assert json.loads(path.read_text()) == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


SCENARIO = """
set -u
dir=$1
mount -t tmpfs -o size=256k tmpfs "$dir"
ip link set lo up
netsh() { NETSH_STATE_DIR="$dir" "$PYTHON" -m ipv6.cli.netsh "$@"; }
netsh interface ipv6 add address lo fd00::1/128 >/dev/null || exit 90
cp "$dir"/netns-*.json "$dir.before"
mount -o remount,ro "$dir"
netsh interface ipv6 add address lo fd00::2/128 2>"$dir.ro.err"; echo "ro=$?"
cmp -s "$dir"/netns-*.json "$dir.before" && echo ro-state-intact
mount -o remount,rw "$dir"
dd if=/dev/zero of="$dir/fill" bs=4k 2>/dev/null
netsh interface ipv6 add address lo fd00::3/128 2>"$dir.full.err"; echo "full=$?"
cmp -s "$dir"/netns-*.json "$dir.before" && echo full-state-intact
ls -a "$dir" | grep -c '\\.tmp$' | sed 's/^/temporaries=/'
ip -6 addr show dev lo | grep -o 'fd00::[0-9]*' | sed 's/^/has=/'
"""


@pytest.mark.needs_root
def test_netsh_on_a_read_only_or_full_state_disk_undoes_and_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    # A mount namespace for the small disk, a network namespace for the changes:
    # both vanish with the process, and nothing outside them is touched.
    state = tmp_path / "state"
    state.mkdir()
    result = subprocess.run(
        ["unshare", "--mount", "--net", "sh", "-c", textwrap.dedent(SCENARIO), "sh", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHON": sys.executable, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        check=False,
    )
    out = result.stdout.split()
    assert "ro=1" in out and "full=1" in out, (result.stdout, result.stderr)
    assert "ro-state-intact" in out and "full-state-intact" in out, result.stdout
    assert "temporaries=0" in out, result.stdout
    assert [w for w in out if w.startswith("has=")] == ["has=fd00::1"], result.stdout
    for kind, reason in (("ro", "Read-only file system"), ("full", "No space left on device")):
        err = (tmp_path / f"state.{kind}.err").read_text()
        assert err.count("\n") == 1, err
        assert "cannot save netsh's state" in err and reason in err, err
        assert "the previous state is kept; 1 change undone" in err, err
