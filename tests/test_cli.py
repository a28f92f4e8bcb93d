"""The four commands as a user meets them: help, one-line errors, exit codes, JSON."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LABS, run_cli


@pytest.mark.parametrize(
    ("module", "words"),
    [
        ("ipv6", ["lab", "6to4cfg", "tunnel", "Exit codes"]),
        ("mcast", ["tour", "join", "watch", "querier", "Exit codes"]),
        ("ipv6.cli.netsh", ["netsh interface ipv6", "Lifetimes", "Exit codes"]),
        ("ipv6.cli.ipsec6", ["ipsec6 c NAME", "HMAC-MD5", "not supported", "Exit codes"]),
    ],
)
def test_each_command_has_useful_help(module: str, words: list[str]) -> None:
    result = run_cli(module, "--help")
    assert result.returncode == 0
    for word in words:
        assert word in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["lab", "up", "--help"],
        ["lab", "down", "--help"],
        ["lab", "status", "--help"],
        ["lab", "exec", "--help"],
        ["lab", "examples", "--help"],
    ],
)
def test_every_lab_command_has_help(args: list[str]) -> None:
    result = run_cli("ipv6", *args)
    assert result.returncode == 0 and "usage: ipv6 lab" in result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line and "\n" not in line, result.stderr
    return line


def test_a_bad_lab_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[hosts.a]\n[[links]]\nname = "l"\nendpoints = [{ host = "a" }, { host = "q" }]\n'
    )
    result = run_cli("ipv6", "lab", "up", str(bad))
    assert result.returncode == 2
    line = one_line_error(result)
    assert str(bad) in line and "links.l.endpoints[1].host" in line and "'q' is not defined" in line


def test_usage_errors_are_one_line_and_exit_2() -> None:
    result = run_cli("ipv6", "lab", "up")
    assert result.returncode == 2
    assert "required: FILE" in one_line_error(result)
    result = run_cli("ipv6", "lab", "down")
    assert result.returncode == 2
    assert "--all" in one_line_error(result)
    result = run_cli("mcast", "tour", "--bogus")
    assert result.returncode == 2
    one_line_error(result)


def test_a_missing_file_is_named() -> None:
    result = run_cli("ipv6", "lab", "up", "/nonexistent/lab.toml")
    assert result.returncode == 2
    assert "/nonexistent/lab.toml: no such file" in one_line_error(result)


def test_netsh_names_a_word_it_does_not_know() -> None:
    result = run_cli("ipv6.cli.netsh", "interface", "ipv6", "frobnicate", "address")
    assert result.returncode == 2
    assert "frobnicate" in one_line_error(result)


def test_dry_run_shows_the_steps_without_privilege() -> None:
    result = run_cli("ipv6", "lab", "up", "lan", "--dry-run")
    assert result.returncode == 0
    assert "create namespace lan-XXXX-a for host a" in result.stdout
    assert "create bridge br0 in lan-XXXX-lan" in result.stdout
    data = json.loads(run_cli("ipv6", "lab", "up", "lan", "--dry-run", "--json").stdout)
    assert data["name"] == "lan" and len(data["steps"]) > 10


def test_examples_lists_the_shipped_labs_as_text_and_json() -> None:
    text = run_cli("ipv6", "lab", "examples").stdout
    for name in ("two-hosts", "lan", "link-local", "6to4-two-sites"):
        assert name in text
    data = json.loads(run_cli("ipv6", "lab", "examples", "--json").stdout)
    assert {d["name"] for d in data} >= {p.stem for p in LABS.glob("*.toml")}


def test_internal_errors_are_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipv6 import cli
    from ipv6.cli import lab

    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(lab, "cmd_examples", broken)
    assert cli.main(["lab", "examples"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: boom" in err


def _commands(parser, prefix: str = "") -> list[str]:
    import argparse

    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix}{name}")
                found += _commands(sub, f"{prefix}{name} ")
    return found


def test_every_command_is_documented() -> None:
    from pathlib import Path

    from ipv6.cli import build_parser as ipv6_parser
    from ipv6.cli.ipsec6 import build_parser as ipsec6_parser
    from mcast.cli import build_parser as mcast_parser

    docs = "\n".join(
        p.read_text() for p in Path(__file__).parent.parent.joinpath("docs").glob("*.md")
    )
    docs += Path(__file__).parent.parent.joinpath("README.md").read_text()
    programs = (("ipv6", ipv6_parser()), ("mcast", mcast_parser()), ("ipsec6", ipsec6_parser()))
    for program, parser in programs:
        for command in _commands(parser):
            assert f"{program} {command}" in docs, (
                f"'{program} {command}' is not in docs/ or README"
            )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["join", "10.0.0.1", "-p", "5000"], "not a multicast address"),
        (["join", "232.1.1.1", "-p", "5000", "-i", "no-such-if"], "no interface no-such-if"),
        (["join", "ff12::1", "-p", "5000"], "scoped to one link"),
        (["join", "::ffff:232.1.1.1", "-p", "5000"], "use 232.1.1.1"),
        (
            ["join", "232.1.1.1", "-p", "5000", "-s", "10.0.0.1", "-x", "10.0.0.2"],
            "cannot be mixed",
        ),
        (["join", "232.1.1.1", "-p", "70000"], "'70000' is not a port (0 to 65535)"),
        (["send", "10.1.1.1", "-p", "5000"], "not a multicast address"),
        (["send", "239.1.1.1", "-p", "5000", "--ttl", "300"], "'300' is not a TTL (0 to 255)"),
        (["send", "239.1.1.1", "-p", "5000", "--size", "31"], "32, the toolkit header"),
        (["send", "239.1.1.1", "-p", "5000", "--format", "iperf2", "--size", "8"], "(20, the"),
        (["join", "239.1.1.1", "-p", "5000", "--format", "pcap"], "--format: 'pcap' is not"),
        (["send", "239.1.1.1", "-p", "5000", "--rate", "-5"], "a rate is 0"),
        (["send", "239.1.1.1", "-p", "5000", "--bitrate", "fast"], "is not a rate"),
        (["send", "239.1.1.1", "-p", "5000", "--duration", "0"], "--duration must be"),
        (["join", "239.1.1.1", "-p", "5000", "--max-loss", "101"], "a percentage"),
        (["join", "239.1.1.1", "-p", "5000", "--report-interval", "0"], "more than 0"),
        (["show", "joins", "-i", "no-such-if"], "no interface no-such-if"),
        (["ping", "10.0.1.2", "--group", "239.1.1.1"], "outside the source-specific range"),
        (["ping", "10.0.1.2", "--group", "ff3e::4321:1234"], "not of one IP version"),
        (["ping", "no-such-host.invalid"], "cannot resolve"),
        (["ping", "10.0.1.2", "--asm"], "needs --group"),
        (["ping", "--serve", "10.0.1.2"], "--serve takes no HOST"),
        (["ping", "10.0.1.2", "--count", "0"], "'0' is not a count (1 or more)"),
        (["ping"], "give the HOST to ping"),
        (["ping", "--matrix", "127.0.0.1", "127.0.0.1"], "are one host: name it once"),
        (["ping", "--matrix", "127.0.0.1", "::1"], "all IPv4 or all IPv6"),
        (["ping", "--matrix", "192.0.2.201", "192.0.2.202"], "none of the hosts is this host"),
        (["ping", "--serve", "--matrix", "127.0.0.1"], "do not go together"),
        (["ping", "--lab", "lan", "10.0.0.1"], "takes no HOST"),
    ],
)
def test_mcast_bad_input_is_one_line_and_exit_2(args: list[str], words: str) -> None:
    result = run_cli("mcast", *args)
    assert result.returncode == 2, result.stderr
    assert words in one_line_error(result)


def test_show_joins_as_json_anywhere() -> None:
    result = run_cli("mcast", "show", "joins", "--json")
    assert result.returncode == 0
    joins = json.loads(result.stdout)
    assert all({"interface", "group", "mode", "sources"} <= set(j) for j in joins)


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_help_text_renders() -> None:
    from ipv6.cli import build_parser as ipv6_parser
    from ipv6.cli.ipsec6 import build_parser as ipsec6_parser
    from mcast.cli import build_parser as mcast_parser

    for top in (ipv6_parser(), mcast_parser(), ipsec6_parser()):
        for parser in _parsers(top):
            assert parser.format_help()  # a stray % in a help string raises here


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["addr", "explain", "fe80::zz"], "not an IPv4 or IPv6 address"),
        (["addr", "explain", "fe80::1%"], "empty zone"),
        (["addr", "eui64", "00-60-08-52-f9"], "5 bytes"),
        (["addr", "6to4", "2001:db8::1"], "not an IPv4 address"),
        (["addr", "6to4", "192.0.2.1", "--subnet", "70000"], "'70000' is not a subnet id"),
        (["addr", "nat64", "192.0.2.1", "--prefix", "2001:db8::/44"], "/32, /40"),
        (["ping", "fe80::1%no-such-if"], "unknown zone 'no-such-if'"),
        (["ping", "2001:db8::1%eth0"], "not scoped"),
        (["ping", "10.0.0.1"], "is IPv4"),
    ],
)
def test_ipv6_bad_input_is_one_line_and_exit_2(args: list[str], words: str) -> None:
    result = run_cli("ipv6", *args)
    assert result.returncode == 2, result.stderr
    assert words in one_line_error(result)


def test_addr_commands_print_the_seeds_examples() -> None:
    eui = run_cli("ipv6", "addr", "eui64", "00-60-08-52-f9-d8")
    assert "fe80::260:8ff:fe52:f9d8" in eui.stdout and "02-60-08-ff-fe-52-f9-d8" in eui.stdout
    six = json.loads(run_cli("ipv6", "addr", "6to4", "172.31.42.239", "--json").stdout)
    assert six["prefix"] == "2002:ac1f:2aef::/48" and six["address"] == "2002:ac1f:2aef::ac1f:2aef"
    assert six["usable"] is False
    host = json.loads(
        run_cli(
            "ipv6", "addr", "6to4", "131.107.152.32", "--subnet", "1", "--host", "::1", "--json"
        ).stdout
    )
    assert host["address"] == "2002:836b:9820:1::1" and host["usable"] is True
    nat = run_cli("ipv6", "addr", "nat64", "192.0.2.33")
    assert nat.stdout.strip() == "64:ff9b::192.0.2.33"
    explained = json.loads(
        run_cli("ipv6", "addr", "explain", "fe80::1%eth0", "ff3e::1", "--json").stdout
    )
    assert explained[0]["scope"] == "link-local" and explained[0]["zone"] == "eth0"
    assert explained[1]["kind"] == "multicast"


def test_interfaces_as_json() -> None:
    found = json.loads(run_cli("ipv6", "interfaces", "--json").stdout)
    lo = next(i for i in found if i["name"] == "lo")
    assert lo["index"] == 1 and any(
        a["address"] == "::1" and a["scope"] == "host" for a in lo["addresses"]
    )


def test_guard_says_what_is_inside_an_exception_group(capsys) -> None:
    """Trio's nurseries wrap what a task raised in exception groups; the user
    still gets the one line (and exit code) of the error inside."""
    from ipv6._errors import EXIT_INTERRUPTED, BadInput
    from ipv6.cli.kit import guard

    def raises(exc: BaseException):
        def call() -> int:
            raise exc

        return call

    inner = BaseExceptionGroup("nursery", [BaseExceptionGroup("inner", [KeyboardInterrupt()])])
    assert guard(["x"], raises(inner)) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "x: interrupted\n"
    mixed = ExceptionGroup("nursery", [ValueError("v"), BadInput("port 0 is out of range")])
    assert guard(["x"], raises(mixed)) == 2
    assert capsys.readouterr().err == "x: port 0 is out of range\n"
    bug = ExceptionGroup("nursery", [ExceptionGroup("inner", [ValueError("v")])])
    assert guard(["x"], raises(bug)) == 70
    assert capsys.readouterr().err.startswith("x: internal error: ValueError: v (this is a bug")


def test_ipsec6_writes_the_seeds_templates_and_never_over_a_file(tmp_path: Path) -> None:
    base = str(tmp_path / "test")
    done = run_cli("ipv6.cli.ipsec6", "c", base)
    assert done.returncode == 0, done.stderr
    spd = (tmp_path / "test.spd").read_text()
    assert spd.splitlines()[2].split() == [
        "Policy", "RemoteIPAddr", "LocalIPAddr", "RemotePort", "Protocol", "LocalPort",
        "IPSecProtocol", "IPSecMode", "RemoteGWIPAddr", "SABundleIndex", "Direction", "Action",
        "InterfaceIndex",
    ]  # fmt: skip
    assert "1 * * * * * NONE NONE * NONE BIDIRECT BYPASS 0 ;" in spd
    sad = (tmp_path / "test.sad").read_text().splitlines()[2].split()
    assert sad[:3] == ["SAEntry", "SPI", "SADestIPAddr"] and sad[-1] == "SecPolicyIndex"
    again = run_cli("ipv6.cli.ipsec6", "c", base)
    assert again.returncode == 2 and "exists" in one_line_error(again)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["d", "type=xx", "1"], "ipsec6 d type=sp N"),
        (["d", "2"], "ipsec6 d type=sp N"),
        (["i", "two", "test"], "'two' is not a policy number"),
        (["a"], "the following arguments are required"),
    ],
)
def test_ipsec6_bad_words_are_one_line_and_exit_2(args: list[str], words: str) -> None:
    result = run_cli("ipv6.cli.ipsec6", *args)
    assert result.returncode == 2, result.stderr
    assert words in one_line_error(result)


def test_ipsec6_shows_nothing_active_as_json(tmp_path: Path) -> None:
    env = {**os.environ, "NETSH_STATE_DIR": str(tmp_path)}
    for verb, key in (("sp", "policies"), ("sa", "associations")):
        result = run_cli("ipv6.cli.ipsec6", verb, "--json", env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)[key] == []


@pytest.mark.parametrize("program", ["ipv6", "mcast"])
def test_the_command_table_is_what_the_modules_register(program: str) -> None:
    """A command builds only its own parser (the table names the module that makes
    it); the table must name every command the modules make, and nothing else."""
    import argparse
    import importlib

    cli = importlib.import_module(f"{program}.cli")

    def words(parser: argparse.ArgumentParser) -> list[str]:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return list(action.choices)

    everything = words(cli.build_parser())
    assert sorted(everything) == sorted(cli.COMMANDS), "COMMANDS and the modules differ"
    for word in everything:
        assert word in words(cli.build_parser([word, "--help"]))
