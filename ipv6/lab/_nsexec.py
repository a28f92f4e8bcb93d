"""``python -m ipv6.lab._nsexec NAMESPACE CMD...``: run CMD inside a namespace.

The library starts commands in lab hosts through this small helper rather
than a preexec hook, because code between fork and exec in a threaded
process (Trio has worker threads) is not safe.
"""

from __future__ import annotations

import sys

from ._netns import exec_in, exists


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m ipv6.lab._nsexec NAMESPACE CMD [ARG...]", file=sys.stderr)
        return 2
    if not exists(argv[0]):
        print(f"no network namespace {argv[0]!r}", file=sys.stderr)
        return 126
    try:
        exec_in(argv[0], argv[1:])
    except FileNotFoundError:
        print(f"cannot run {argv[1]!r} in {argv[0]}: command not found", file=sys.stderr)
        return 127
    except OSError as exc:
        print(f"cannot run {argv[1]!r} in {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 126
    return 0  # not reached: exec_in replaces the process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
