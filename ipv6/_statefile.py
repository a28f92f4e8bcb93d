"""One way to write the toolkit's state files: whole or not at all.

A state file (netsh's per-namespace state, the tunnel registry, the tunnel
service's counters) is written to a temporary file beside it, flushed to
disk, and renamed over the old one, so a reader sees either the old state or
the new one. When the write fails (a read-only or full disk), the temporary
file is removed, the previous state stays as it was, and the caller gets one
:class:`StateWriteFailed` line saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ._errors import Ipv6Error


class StateWriteFailed(Ipv6Error):
    """A state file could not be written; the previous one is intact."""


def write_json(path: Path, data: Any, what: str) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically; ``what`` names it in errors."""
    text = json.dumps(data, indent=1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StateWriteFailed(
            f"cannot save {what} to {path}: {exc.strerror or exc}; the previous state is kept"
        ) from None
