"""Progress on a terminal: a step counter (:class:`Progress`), a live line for long
work (:class:`LiveLine`, :func:`amount`), never on a pipe or in ``--json``."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: pure commands start fast
if TYPE_CHECKING:
    from typing import TextIO


def terminal_width() -> int:
    """What shutil.get_terminal_size says, without importing it: $COLUMNS, the
    terminal's width, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class Progress:
    """Step progress on stderr: a live counter on a terminal, silence otherwise.

    With ``verbose`` every step is printed on its own line, terminal or not.
    """

    def __init__(self, verbose: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.live = self.stream.isatty() and not verbose
        self._width = 0

    def __call__(self, index: int, total: int, what: str) -> None:
        line = f"[{index}/{total}] {what}"
        if self.verbose:
            print(line, file=self.stream, flush=True)
        elif self.live:
            self._width = max(self._width, len(line))
            self.stream.write("\r" + line.ljust(self._width))
            self.stream.flush()

    def done(self) -> None:
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


class LiveLine:
    """One line of progress on a terminal, redrawn in place: what long work has done
    so far (bytes or datagrams, rate, time left where known). Nothing when stderr
    is not a terminal (a pipe, a file, CI) or when ``enabled`` is False (--json).
    Redrawn at most every ``every`` seconds; :meth:`close` clears it."""

    def __init__(
        self, *, enabled: bool = True, stream: TextIO | None = None, every: float = 0.25
    ) -> None:
        import time

        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()
        self.every = every
        self._clock = time.monotonic
        self._shown = 0.0
        self._width = 0
        self.started = self._clock()

    def show(self, text: str, *, now: bool = False) -> None:
        if not self.live:
            return
        moment = self._clock()
        if not now and moment - self._shown < self.every:
            return
        self._shown = moment
        width = terminal_width() - 1
        line = text[:width]
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def elapsed(self) -> float:
        return self._clock() - self.started

    def close(self) -> None:
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def amount(done: float, unit: str, total: float | None = None, seconds: float = 0.0) -> str:
    """``done`` (of ``total``) ``unit``s, their rate over ``seconds``, and the time left:
    "1,200 of 5,000 datagrams (24 %), 400/s, 9.5 s left"."""
    text = f"{done:,.0f}"
    if total:
        text += f" of {total:,.0f} {unit} ({100 * done / total:.0f} %)"
    else:
        text += f" {unit}"
    if seconds > 0:
        rate = done / seconds
        text += f", {_si(rate)}B/s" if unit == "bytes" else f", {rate:,.0f}/s"
        if total and rate > 0 and done < total:
            text += f", {(total - done) / rate:,.1f} s left"
    return text


def _si(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.1f} {suffix}"
    return f"{value:,.0f} "
