"""The mcast package's one error root, and the membership rules' errors.

Every error the package raises on purpose derives from :class:`McastError`
and carries the exit code the command line maps it to. A membership error
names the rule that was broken and the call that does what was meant; the
same error is raised whether the model caught the mistake before the kernel
saw it or the kernel refused it.
"""

from __future__ import annotations

from ipv6 import EXIT_BAD_INPUT, EXIT_FAILURE  # the exit codes are defined once, there


class McastError(Exception):
    """Root of every error the mcast package raises on purpose."""

    exit_code: int = EXIT_FAILURE


class McastBadInput(McastError):
    """The user gave something that cannot be used: nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class MembershipError(McastBadInput):
    """A membership call that breaks a rule of the seeds' conflict table.

    ``rule`` is the short name of the rule; ``hint`` says the right call.
    """

    rule = "membership"

    def __init__(self, message: str, hint: str = "") -> None:
        self.hint = hint
        super().__init__(f"{message}: {hint}" if hint else message)


class NotJoined(MembershipError):
    rule = "not-joined"


class AlreadyJoined(MembershipError):
    rule = "already-joined"


class JoinedAnySource(MembershipError):
    rule = "joined-any-source"


class JoinedSourceSpecific(MembershipError):
    rule = "joined-source-specific"


class SourceBlocked(MembershipError):
    rule = "source-blocked"


class AlreadyBlocked(MembershipError):
    rule = "already-blocked"


class NotBlocked(MembershipError):
    rule = "not-blocked"


class AlreadyIncluded(MembershipError):
    rule = "already-included"


class NotIncluded(MembershipError):
    rule = "not-included"


class UseBlockInstead(MembershipError):
    rule = "use-block"


class UseLeaveSourceInstead(MembershipError):
    rule = "use-leave-source"


class NoSuchInterface(McastBadInput):
    """The interface named, numbered or addressed does not exist (here, the
    mcast form of :class:`ipv6.UnknownInterface`, with the same words)."""


class LimitReached(McastError):
    """A kernel limit stops the change; the message names the sysctl and the value needed."""

    def __init__(self, message: str, sysctl: str | None = None, needed: int | None = None) -> None:
        self.sysctl = sysctl
        self.needed = needed
        super().__init__(message)


class KernelRefused(McastError):
    """The kernel refused a call the model allowed; the message has the kernel's reason."""
