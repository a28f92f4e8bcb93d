"""The mcast package's one error root.

Every error the package raises on purpose derives from :class:`McastError`
and carries the exit code the command line maps it to.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class McastError(Exception):
    """Root of every error the mcast package raises on purpose."""

    exit_code: int = EXIT_FAILURE


class McastBadInput(McastError):
    """The user gave something that cannot be used: nothing was changed."""

    exit_code = EXIT_BAD_INPUT
