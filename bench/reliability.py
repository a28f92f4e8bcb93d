"""What the long-running parts survive: the tables of docs/reliability.md, from one run.

Runs the hostile-peer tests (each builds its own lab, as root) with
RELIABILITY_REPORT set, so that every test whose checks all passed writes
one row: what was thrown at the service (kind, count, rate, duration) and
what held (still answering, counters exact, RSS growth). A test that failed
writes no row and is listed under "did not hold", and the exit status is 1.

    sudo .venv/bin/python bench/reliability.py [--markdown] [-k EXPR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _common

TESTS = [
    "tests/ipv6/test_echo_hostile.py",
    "tests/ipv6/test_daemons_hostile.py",
    "tests/ipv6/test_tunnel_hostile.py",
    "tests/ipv6/test_ipsec_hostile.py",
    "tests/ipv6/test_translate_hostile.py",
    "tests/mcast/test_igmp_hostile.py",
    "tests/mcast/test_join_hostile.py",
    "tests/mcast/test_proxy_hostile.py",
    "tests/mcast/test_pgm_hostile.py",
    "tests/mcast/test_route_live.py::test_the_forwarding_plane_counts_junk_and_goes_on",
    "tests/ipv6/test_lab_live.py::test_signals_while_a_lab_comes_up_leave_it_whole_or_gone",
]


def run(expression: str | None) -> tuple[list[dict[str, object]], list[str], int]:
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "rows.jsonl"
        junit = Path(work) / "junit.xml"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"--junitxml={junit}", *TESTS,
        ]  # fmt: skip
        if expression:
            command += ["-k", expression]
        env = {**os.environ, "RELIABILITY_REPORT": str(report), "CI": "true"}
        done = subprocess.run(command, cwd=_common.ROOT, env=env, check=False)
        rows = [json.loads(x) for x in report.read_text().splitlines()] if report.exists() else []
        failed = _failures(junit)
    return rows, failed, done.returncode


def _failures(junit: Path) -> list[str]:
    import xml.etree.ElementTree as ET

    if not junit.exists():
        return ["(pytest wrote no report)"]
    return [
        f"{case.get('classname')}::{case.get('name')}"
        for case in ET.parse(junit).iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]


def rate(row: dict[str, object]) -> str:
    seconds, count = float(row["seconds"]), int(row["count"])  # type: ignore[arg-type]
    return f"{count / seconds:,.0f}/s" if seconds >= 1 else "-"


def render(rows: list[dict[str, object]], markdown: bool) -> str:
    header = ("thrown at it", "count", "rate", "seconds", "still answering", "counters", "RSS")
    out = []
    for service in dict.fromkeys(str(r["service"]) for r in rows):
        table = []
        for r in rows:
            if r["service"] != service:
                continue
            held = r["held"]
            assert isinstance(held, dict)
            table.append(
                (
                    r["thrown"],
                    f"{int(r['count']):,}",  # type: ignore[call-overload]
                    rate(r),
                    r["seconds"] or "-",
                    held["answers afterwards"],
                    held["counters"],
                    held["RSS growth"],
                )
            )
        if markdown:
            out.append(f"### {service}\n")
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + " --- |" * len(header))
            out += ["| " + " | ".join(str(c) for c in t) + " |" for t in table]
            out.append("")
        else:
            out.append(f"== {service}")
            out.append(_common.table(table, header))
            out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="tables for docs/reliability.md")
    parser.add_argument("-k", dest="expression", help="only the tests pytest -k selects")
    args = parser.parse_args()
    _common.require_root()
    rows, failed, status = run(args.expression)
    print(render(rows, args.markdown))
    if failed:
        print("did not hold:\n" + "\n".join(f"  {name}" for name in failed))
    return 1 if failed or status else 0


if __name__ == "__main__":
    sys.exit(main())
