"""Every command, fed argument vectors hypothesis makes up (options in any order,
values good and bad), answers with one line and a defined exit code, or gets
as far as acting: never an internal error, never a traceback.

"Acting" is stopped, not done: while a vector runs, whatever would touch the
machine (running Trio, a process, a socket, netlink, a namespace, a sleep)
raises ``WouldAct`` instead, which the test takes as "the arguments passed".
So the commands run in-process, thousands of vectors in seconds, and nothing
they would do happens. Files go to a temporary directory; stdin is empty.

And the documented examples (every command line in a code block of docs/)
parse the same with their options moved before and after their arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ipv6.cli import kit

ROOT = Path(__file__).resolve().parent.parent


class WouldAct(BaseException):
    """Raised where a command would touch the machine (not an Exception: no
    command's error handling takes it for a failure of its own)."""


def _programs() -> dict[str, tuple[Callable[..., int], Callable[..., argparse.ArgumentParser]]]:
    import ipv6.cli
    import ipv6.cli.ipsec6
    import mcast.cli

    return {
        "mcast": (mcast.cli.main, mcast.cli.build_parser),
        "ipv6": (ipv6.cli.main, ipv6.cli.build_parser),
        "ipsec6": (ipv6.cli.ipsec6.main, lambda argv=None: ipv6.cli.ipsec6.build_parser()),
    }


PROGRAMS = _programs()


def leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[Any]:
    """(words, parser) of every command: a parser without subcommands."""
    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not sub:
        yield words, parser
        return
    seen: set[int] = set()
    for name, child in sub[0].choices.items():
        if id(child) not in seen:
            seen.add(id(child))
            yield from leaves(child, (*words, name))


COMMANDS = [
    (program, words, parser)
    for program, (_, build) in PROGRAMS.items()
    for words, parser in leaves(build())
]

# Values that break things: empty, signs, huge and tiny numbers, addresses of
# both families and none, prefixes, paths that are not there, stdin, junk.
VALUES = [
    "", "0", "1", "-1", "7", "65535", "65536", "70000", "99999", "4294967296", "1e9", "nan",
    "inf", "-inf", "0x10", "abc", "é", "a=b", "life=abc", "x" * 300, "1.5", "-0.5", "10k",
    "2M", "127.0.0.1", "239.1.1.1", "232.1.1.1", "224.0.0.1", "0.0.0.0", "255.255.255.255",
    "::1", "ff3e::1", "ff02::1", "fe80::1%lo", "2001:db8::1", "64:ff9b::/96", "2002::/16",
    "10.0.0.0/8", "192.0.2.0/33", "lo", "eth0", "nosuchif0", "/nonexistent", "-", "./f",
    "239.1.1.1:5000", "[::1]:53", "192.0.2.1#53", "on", "off", "yes", "all", "--", "-x",
]  # fmt: skip


def one_of_choices(action: argparse.Action, value: Any) -> Any:
    """An argument's choices (when it has some) or any value."""
    choices = [str(c) for c in (action.choices or [])]
    return st.one_of(st.sampled_from(choices), value) if choices else value


@st.composite
def argv_for(draw: st.DrawFn, command: tuple[str, tuple[str, ...], argparse.ArgumentParser]):
    program, words, parser = command
    # No NUL: a command line cannot hold one (argv is C strings).
    text = st.text(st.characters(blacklist_characters="\x00"), max_size=12)
    value = st.one_of(st.sampled_from(VALUES), text)
    pieces: list[list[str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            if not action.required and not draw(st.booleans()):
                continue
            flag = draw(st.sampled_from(action.option_strings))
            if action.nargs == 0:
                pieces.append([flag])
                continue
            pick = one_of_choices(action, value)
            count = 1 if action.nargs in (None, "?") else draw(st.integers(1, 2))
            pieces.append([flag, *(draw(pick) for _ in range(count))])
        else:
            spans: dict[Any, tuple[int, int]] = {None: (1, 1), "?": (0, 1), "*": (0, 2),
                                                 "+": (1, 2)}  # fmt: skip
            low, high = spans.get(action.nargs, (1, 1))
            pick = one_of_choices(action, value)
            pieces.append([draw(pick) for _ in range(draw(st.integers(low, high)))])
    order = draw(st.permutations(pieces))
    return program, [*words, *(word for piece in order for word in piece)]


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise WouldAct


class _NoSocket(socket.socket):  # a class still: type hints use socket.socket | ...
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise WouldAct


class _NoProcess(subprocess.Popen):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise WouldAct


@pytest.fixture
def contained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Whatever would touch the machine raises WouldAct; files land in tmp_path."""
    import pyroute2
    import trio

    import ipv6.lab._netns

    for target, name in [
        (trio, "run"), (subprocess, "run"), (subprocess, "check_output"), (subprocess, "call"),
        (os, "execvp"), (os, "execv"), (os, "fork"), (time, "sleep"),
        (socket, "create_connection"), (socket, "getaddrinfo"),
        (ipv6.lab._netns, "inside_namespace"),
    ]:  # fmt: skip
        monkeypatch.setattr(target, name, _refuse)
    monkeypatch.setattr(socket, "socket", _NoSocket)
    monkeypatch.setattr(subprocess, "Popen", _NoProcess)
    for name in ("IPRoute", "NetNS", "IPRSocket", "IW", "IPSet"):
        if hasattr(pyroute2, name):
            monkeypatch.setattr(getattr(pyroute2, name), "__init__", _refuse)
    monkeypatch.chdir(tmp_path)
    for variable in ("NETSH_STATE_DIR", "IPV6_LAB_STATE_DIR", "MCAST_STATE_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    yield


def outcome(program: str, argv: Sequence[str]) -> tuple[int | None, str]:
    """(exit code, stderr) of one vector; (None, "") when it got as far as acting."""
    main, _ = PROGRAMS[program]
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(list(argv))
        except WouldAct:
            return None, ""
        except SystemExit as exc:  # --help, --version
            code = exc.code if isinstance(exc.code, int) else 0
    return code, err.getvalue()


@settings(
    max_examples=3000, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(data=st.data())
def test_any_arguments_get_one_line_or_act_never_an_internal_error(
    contained: None, data: st.DataObject
) -> None:
    command = data.draw(st.sampled_from(COMMANDS), label="command")
    program, argv = data.draw(argv_for(command), label="argv")
    code, stderr = outcome(program, argv)
    event("acted" if code is None else "usage" if "--help')" in stderr else f"exit {code}")
    if code is None:
        return
    shown = f"{program} {shlex.join(argv)} -> {code}: {stderr!r}"
    assert code != kit.EXIT_INTERNAL and "internal error" not in stderr, shown
    assert "Traceback" not in stderr, shown
    if code not in (0, None):
        assert stderr.count("\n") <= 1 or stderr.startswith("usage:"), shown


def test_the_fuzzer_reaches_every_command() -> None:
    """Every command is among those drawn from (a new command is fuzzed too)."""
    names = {f"{p} {' '.join(w)}" for p, w, _ in COMMANDS}
    assert "mcast pgm send" in names and "ipv6 nat64 add" in names and "ipsec6 sa" in names
    assert len(names) >= 60, sorted(names)


# --- the documented examples, options moved around ------------------------------------------

_LINE = re.compile(r"^(?:\$ )?(mcast|ipv6|ipsec6) (.+)$")


def documented_examples() -> list[tuple[str, list[str]]]:
    found = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        fenced = False
        for line in doc.read_text().splitlines():
            if line.startswith("```"):
                fenced = not fenced
                continue
            match = _LINE.match(line.strip()) if fenced else None
            if not match:
                continue
            text = match.group(2).split("  #")[0].split(" # ")[0].strip()
            if any(mark in text for mark in ("...", "|", ">", "<", "[", "$(", "&", ": ")):
                continue  # a shape, a pipe, or a command's output ("mcast ping X: ...")
            try:
                found.append((match.group(1), shlex.split(text)))
            except ValueError:
                continue
    return found


EXAMPLES = documented_examples()


def _split(parser: argparse.ArgumentParser, words: list[str]) -> tuple[list[Any], list[str]]:
    """A command line's options (each with its values) and its positional arguments."""
    takes = {
        flag: action.nargs
        for action in parser._actions
        for flag in action.option_strings
    }  # fmt: skip
    options: list[list[str]] = []
    positionals: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        flag = word.split("=", 1)[0]
        if word.startswith("-") and flag in takes and "=" not in word:
            nargs = takes[flag]
            count = 0 if nargs == 0 else 1 if nargs in (None, "?") else len(rest)
            options.append([word, *rest[:count]])
            rest = rest[count:]
        elif word.startswith("-") and flag in takes:
            options.append([word])
        else:
            positionals.append(word)
    return options, positionals


@pytest.mark.parametrize(("program", "argv"), EXAMPLES, ids=[" ".join(a) for _, a in EXAMPLES])
def test_documented_examples_parse_the_same_with_options_moved(
    program: str, argv: list[str]
) -> None:
    _, build = PROGRAMS[program]
    top = build(argv)
    words: list[str] = []
    parser = top
    rest = list(argv)
    while rest and any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if rest[0] not in sub.choices:
            pytest.skip(f"not a command line of {program}: {argv}")
        words.append(rest[0])
        parser = sub.choices[rest.pop(0)]
    options, positionals = _split(parser, rest)
    if len(positionals) > 1 and any(len(o) > 1 and o[1].startswith("-") for o in options):
        pytest.skip("a value that looks like an option")
    original = vars(top.parse_args(argv))
    moved_first = [*words, *(w for o in options for w in o), *positionals]
    moved_last = [*words, *positionals, *(w for o in options for w in o)]
    assert vars(top.parse_args(moved_first)) == original
    assert vars(top.parse_args(moved_last)) == original


def test_the_docs_hold_examples_of_every_program() -> None:
    assert {program for program, _ in EXAMPLES} >= {"mcast", "ipv6"}
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize(
    "argv",
    [["mcast", "route", "load", "\ud800"], ["mcast", "show", "joins", "--interface", "\ud800"],
     ["ipsec6", "show", "\udcff\ud800"]],
)  # fmt: skip
def test_an_argument_no_command_line_can_carry_is_one_line(contained: None,
                                                           argv: list[str]) -> None:  # fmt: skip
    """Found by the fuzz test above: a lone surrogate (which no real command line
    gives: undecodable bytes come as surrogateescape) in a file or interface name
    ended in an internal error (UnicodeEncodeError) where it must be bad input."""
    code, stderr = outcome(argv[0], argv[1:])
    assert code == 2 and "not text a command line can carry" in stderr, stderr
    assert stderr.count("\n") == 1
    assert outcome("mcast", ["route", "load", os.fsdecode(b"\xff-no-such-file")])[0] == 2
