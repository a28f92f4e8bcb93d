"""What every command of the toolkit shares: one-line errors, exit codes,
JSON output, tables and progress.

Commands stay thin: build the library object, make one call, print. This
module maps the package error roots to one line on stderr and an exit code,
so no user ever sees a traceback (set TOOLKIT_DEBUG=1 to get one).

Just past 400 lines: what every command shares; the progress lines live in
:mod:`ipv6.cli._progress`.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NEEDS_PRIVILEGE,
    Ipv6Error,
)

# The commands' progress lines, re-exported (``X as X``: explicitly, for mypy).
from ._progress import LiveLine as LiveLine  # noqa: PLC0414
from ._progress import Progress as Progress  # noqa: PLC0414
from ._progress import amount as amount  # noqa: PLC0414
from ._progress import terminal_width

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from typing import Any, NoReturn, TextIO

    Handler = Callable[[argparse.Namespace], int | None]

EXIT_INTERNAL = 70

DEBUG_ENV = "TOOLKIT_DEBUG"


class UsageError(Ipv6Error):
    """The command line itself is wrong (``prog``: the command whose line it is)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where help is, and a
    command's options and arguments may come in any order, as people type them
    (``mcast pgm send GROUP --port 7500 -i eth0 FILE``): a command's own parser
    (one without subcommands) parses intermixed."""

    _intermixing = False

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')", prog=self.prog)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        plain = (
            self._intermixing
            or self._subparsers is not None
            or any(a.nargs in (argparse.REMAINDER, argparse.PARSER) for a in self._actions)
        )
        if plain:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls this method again
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse asks shutil for the terminal's width each time it makes a formatter
        # (every add_argument does): importing shutil costs a pure command 4 ms.
        return self.formatter_class(prog=self.prog, width=terminal_width() - 2)  # type: ignore[call-arg]


def integer(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (no limit: None), refused
    with one line that says the range (``what`` names the thing: "a port")."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"{low} to {high}" if high is not None else f"{low} or more"
            name = f"{what} " if what else "an integer "
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}({span})")
        return value

    parse.__name__ = what or "integer"  # argparse names the type in its messages
    return parse


port = integer(0, 65535, "a port")


def size(text: str) -> int:
    """An argparse type: a size in bytes, with k, M or G (powers of 1024): "16M"."""
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        value = int(float(digits) * scale) if digits.strip() else -1
    except (ValueError, OverflowError):
        value = -1
    if not 0 < value <= 1 << 31:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (1 to 2G; k, M, G allowed)")
    return value


def open_file(path: str, mode: str, encoding: str | None = None) -> Any:
    """A file a command reads or writes, or one line saying why it cannot (exit 2)."""
    try:
        return open(path, mode, encoding=encoding)  # the caller closes it
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of text"
    )


def json_line(value: Any) -> None:
    """One JSON object on a line of stdout, written in one piece: a signal that ends
    the command (^C) between two writes cannot leave a line without its end, and
    the next object (the counters at exit, say) joined to it."""
    import json

    sys.stdout.write(json.dumps(value, default=jsonable) + "\n")
    sys.stdout.flush()


def print_json(value: Any, out: TextIO | None = None) -> None:
    import json

    out = out or sys.stdout
    json.dump(value, out, indent=2, sort_keys=False, default=jsonable)
    out.write("\n")


def jsonable(value: Any) -> Any:
    """A library result as its ``to_json()``; anything else (an address) as text."""
    to_json = getattr(value, "to_json", None)
    return to_json() if callable(to_json) else str(value)


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Rows as aligned text columns under a header."""
    cells = [[str(c) for c in header]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def build_program(
    prog: str,
    description: str,
    package: str,
    commands: dict[str, tuple[str, str]],
    argv: Sequence[str] | None = None,
) -> argparse.ArgumentParser:
    """The parser of a program whose commands live in ``package``'s modules:
    ``commands`` maps each command word to (module, register function). Only the
    word given first in ``argv`` is registered (its module alone is imported and
    its parser alone is built, so a command starts fast); with no known word
    (``--help``, a mistake), every command is, in the table's order."""
    import importlib

    parser, subparsers = program(prog, description)
    words = list(sys.argv[1:] if argv is None else argv)
    first = words[0] if words else ""
    chosen = [commands[first]] if first in commands else list(dict.fromkeys(commands.values()))
    for module, function in chosen:
        getattr(importlib.import_module(f"{package}.{module}"), function)(subparsers)
    return parser


def run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Parse, dispatch to ``args.handler``, and turn any failure into one line."""
    names = [parser.prog]

    def call() -> int:
        for word in sys.argv[1:] if argv is None else argv:
            try:
                os.fsencode(word)
            except UnicodeEncodeError:  # a lone surrogate: no file or interface name has one
                raise UsageError(
                    f"argument {word!r} is not text a command line can carry"
                ) from None
        args = parser.parse_args(argv)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        names[0] = getattr(args, "prog", parser.prog)
        return handler(args) or 0

    return guard(names, call, errors)


def guard(
    prog: list[str], call: Callable[[], int], errors: tuple[type[BaseException], ...] = ()
) -> int:
    """Run ``call``; any failure becomes one line on stderr and an exit code.

    ``prog`` is a one-item list so the callee can name itself more precisely.
    """
    debug = bool(os.environ.get(DEBUG_ENV))
    handled: tuple[type[BaseException], ...] = (Ipv6Error, *errors)
    try:
        try:
            return call()
        except BaseExceptionGroup as group:  # from Trio's nurseries: say what is inside
            raise _essence(group, handled) from None
    except handled as exc:
        if debug:
            raise
        print(f"{getattr(exc, 'prog', None) or prog[0]}: {one_line(str(exc))}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt as exc:
        by = f" ({exc.args[0]})" if exc.args else ""
        print(f"{prog[0]}: interrupted{by}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): not an error worth a line.
        with _suppress_all():
            sys.stdout.close()
        return 0
    except Exception as exc:
        if debug:
            raise
        print(
            f"{prog[0]}: internal error: {type(exc).__name__}: {one_line(str(exc))} "
            f"(this is a bug; set {DEBUG_ENV}=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


# Control characters (a newline in a file name, say) as their escapes: a message
# stays one line whatever the user typed into it.
_ESCAPES = {c: repr(chr(c))[1:-1] for c in (*range(0x20), 0x7F)}


def one_line(text: str) -> str:
    return text.translate(_ESCAPES)


def _essence(
    group: BaseExceptionGroup[BaseException], handled: tuple[type[BaseException], ...]
) -> BaseException:
    """The one exception a group stands for: an interruption if that is all it
    holds, else the first error the toolkit raised on purpose, else the first leaf."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    if leaves and all(isinstance(e, KeyboardInterrupt) for e in leaves):
        return leaves[0]
    for exc in leaves:
        if isinstance(exc, handled):
            return exc
    return leaves[0] if leaves else group


class termination_requests:
    """``with termination_requests() as asked:`` SIGTERM and SIGHUP do not end the
    process in the block: ``asked.signal`` names the first one, for the work to
    check between its steps and stop cleanly (nothing is raised into a library
    call halfway). After an interruption they stay ignored: the process is on its
    way out, and says why."""

    SIGNALS = ("SIGTERM", "SIGHUP")

    def __enter__(self) -> termination_requests:
        import signal

        self.signal: str | None = None

        def note(signum: int, frame: object) -> None:
            self.signal = self.signal or signal.Signals(signum).name

        self._old = {name: signal.signal(getattr(signal, name), note) for name in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for name, old in self._old.items():
            signal.signal(getattr(signal, name), signal.SIG_IGN if self.signal else old)


class _suppress_all:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def subcommand(
    subparsers: Any, name: str, handler: Handler, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """Add a subcommand whose handler ``run`` calls with the parsed arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description or help
    )
    parser.set_defaults(handler=handler, prog=parser.prog)
    return parser


def group(
    subparsers: Any, name: str, help: str, description: str | None = None
) -> tuple[argparse.ArgumentParser, Any]:
    """Add a command group; run alone, it prints its help and exits 2."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description or help
    )

    def show_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    parser.set_defaults(handler=show_help, prog=parser.prog)
    return parser, parser.add_subparsers(title=f"{name} commands", metavar="COMMAND")


EXIT_CODES = (
    f"Exit codes: 0 ok, {EXIT_FAILURE} failed, {EXIT_BAD_INPUT} bad input, "
    f"{EXIT_NEEDS_PRIVILEGE} missing privilege, {EXIT_INTERRUPTED} interrupted.\n"
)


def program(prog: str, description: str) -> tuple[argparse.ArgumentParser, Any]:
    """A top-level command parser and the place to add its subcommands."""
    parser = Parser(
        prog=prog,
        description=description,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser, parser.add_subparsers(title="commands", metavar="COMMAND")


def parse_ipv4(text: str, option: str) -> Any:
    """An IPv4 address given to ``option``, or one line saying why it is not."""
    import ipaddress

    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an IPv4 address like 192.0.2.1") from None


def require_tunnel_privilege(what: str) -> None:
    """Tunnels change interfaces and open raw protocol-41 sockets."""
    from .._privilege import TUNNEL_NEEDS, require_capabilities

    require_capabilities(what, TUNNEL_NEEDS)


def say_counters(numbers: dict[str, Any], as_json: bool) -> None:
    """A service's counters: a JSON event line on stdout, or a line on stderr."""
    import json

    if as_json:
        json_line({"event": "counters", **numbers})
    else:
        print(f"counters: {json.dumps(numbers)}", file=sys.stderr, flush=True)


async def reporting(
    work: Callable[[], Awaitable[object]],
    report: Callable[[], None],
    *also: Callable[[], Awaitable[object]],
) -> None:
    """Run ``work`` (and the ``also`` tasks beside it) until it returns; ``report``
    on every SIGUSR1 meanwhile and once at the end, however it ends. The one shape
    of every command that runs until stopped and counts what it saw."""
    import signal

    import trio

    try:
        with trio.open_signal_receiver(signal.SIGUSR1) as asked:
            async with trio.open_nursery() as nursery:

                async def on_request() -> None:
                    async for _ in asked:
                        report()

                nursery.start_soon(on_request)
                for task in also:
                    nursery.start_soon(task)
                await work()
                nursery.cancel_scope.cancel()
    finally:
        report()
