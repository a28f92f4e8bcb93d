"""Any bytes in a netsh script give one line naming the line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ipv6._errors import Ipv6Error
from ipv6.netsh import parse_script
from ipv6.netsh._grammar import NetshSyntaxError, decode_script
from tests.conftest import run_cli

GOOD = b"interface ipv6 add address eth0 2001:db8::1/64\n"


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_script_or_one_line_error(data: bytes) -> None:
    try:
        parse_script(decode_script(data, "s.txt"))
    except Ipv6Error as exc:
        message = str(exc)
        assert "\n" not in message and message
        assert "line " in message
        assert exc.exit_code == 2


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(0, 3))
def test_the_error_names_the_line_of_the_bad_byte(junk: bytes, before: int) -> None:
    data = GOOD * before + b"add " + junk.replace(b"\n", b"") + b"\xff\n" + GOOD
    try:
        parse_script(decode_script(data, "s.txt"))
    except NetshSyntaxError as exc:
        assert f"line {before + 1}" in str(exc)
    else:  # pragma: no cover - \xff is never UTF-8
        raise AssertionError("a byte 0xff was accepted")


def test_decoding_keeps_utf8_lines_and_strips_crlf_and_bom() -> None:
    data = b"\xef\xbb\xbfint ipv6 show interfaces\r\n# caf\xc3\xa9\n"
    assert decode_script(data, "s") == ["int ipv6 show interfaces", "# café"]


def test_netsh_f_with_a_non_utf8_byte_is_one_line_exit_2(tmp_path: Path) -> None:
    script = tmp_path / "bad.txt"
    script.write_bytes(GOOD + b"interface ipv6 add address eth0 2001:db8::\x992/64\n")
    result = run_cli("ipv6.cli.netsh", "-f", str(script))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "line 2" in result.stderr and "0x99" in result.stderr and "column 43" in result.stderr


def test_netsh_f_with_an_unbalanced_quote_names_the_line(tmp_path: Path) -> None:
    script = tmp_path / "quote.txt"
    script.write_bytes(GOOD + b'interface ipv6 add address "eth0 2001:db8::2/64\n')
    result = run_cli("ipv6.cli.netsh", "-f", str(script))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "line 2" in result.stderr, result.stderr


def test_the_shell_refuses_a_non_utf8_line_and_goes_on() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ipv6.cli.netsh"],
        input=b"help\n\xfe\xff junk\nhelp\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = result.stderr.decode()
    assert "line 2" in stderr and "0xfe" in stderr and "Traceback" not in stderr, stderr
    assert result.stdout.decode().count("contexts:") == 2
