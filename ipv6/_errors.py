"""The ipv6 package's one error root.

Every error the package raises on purpose derives from :class:`Ipv6Error`,
says what was wrong and what to do, and carries the exit code the command
line maps it to. Kernel and library errors are translated to these at the
edge (``raise ... from exc``) so callers catch one type.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_NEEDS_PRIVILEGE = 4
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by ^C


class Ipv6Error(Exception):
    """Root of every error the ipv6 package raises on purpose."""

    exit_code: int = EXIT_FAILURE


class BadInput(Ipv6Error):
    """The user gave something that cannot be used: nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class LabConfigError(BadInput):
    """A lab file is wrong; the message names the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class NeedsPrivilege(Ipv6Error):
    """The caller lacks a capability the operation needs: nothing was changed."""

    exit_code = EXIT_NEEDS_PRIVILEGE

    def __init__(self, action: str, missing: list[str]) -> None:
        self.action = action
        self.missing = missing
        names = " and ".join(missing)
        super().__init__(
            f"{action} needs {names}: run it as root (for example with sudo); nothing was changed"
        )


class LabError(Ipv6Error):
    """A lab operation failed on this host (a kernel refusal, a missing lab)."""


class LabInterrupted(LabError):
    """Bringing a lab up was interrupted (SIGTERM, SIGHUP); what it had made is removed."""

    exit_code = EXIT_INTERRUPTED


class LabStepFailed(LabError):
    """One step of bringing a lab up failed; what it had made is removed again."""

    def __init__(self, lab: str, index: int, total: int, step: str, reason: str) -> None:
        self.lab = lab
        self.index = index
        self.total = total
        self.step = step
        self.reason = reason
        super().__init__(
            f"lab {lab!r}: step {index}/{total} ({step}) failed: {reason}; "
            "everything the lab had made was removed"
        )


class CommandFailedToStart(LabError):
    """A command to run in a lab host could not be started (as a shell says: 126/127)."""

    def __init__(self, message: str, *, not_found: bool) -> None:
        super().__init__(message)
        self.exit_code = 127 if not_found else 126
