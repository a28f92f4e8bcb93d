"""The one do/undo runner: a list of changes applied one by one, each giving
back what undoes it; when one is refused, what was done is undone, newest
first, and the caller is told what was undone and what could not be.

Rules of this module:
- Pure: the steps, the function that applies one (and returns its inverses)
  and the function that names one come in; nothing here touches the kernel.
  ``ipv6._netlink`` (addresses, routes, links), ipsec6's XFRM states and
  policies, and mcast's multicast routes on the kernel plane (each move from
  one plan to the next, every step with its undo: ``mcast.routing._mroutes``
  ``transitions``) change the kernel through it; netsh's transactions keep its
  :class:`Undone` and batch their plain additions (``netsh._transaction``).
- An undo step that is refused does not stop the others: it is named in
  :class:`Undone`, with the reason, and what is left half-applied is said.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ._errors import Ipv6Error

Step = TypeVar("Step")


@dataclass
class Undone:
    """What undoing a transaction did: the changes undone, and the steps that failed."""

    count: int = 0
    failed: list[str] = field(default_factory=list)  # "what (why)", one per step left

    def __str__(self) -> str:
        changes = f"{self.count} change{'s' if self.count != 1 else ''} undone"
        if not self.failed:
            return f"{changes}, nothing is left half-applied"
        return f"{changes}; could not undo {len(self.failed)}, left as they are: " + "; ".join(
            self.failed
        )


class Refused(Ipv6Error, Generic[Step]):
    """A step the kernel refused, why, and what undoing the steps before it did."""

    def __init__(self, step: Step, why: BaseException, undone: Undone) -> None:
        super().__init__(f"{why}; {undone}")
        self.step, self.why, self.undone = step, why, undone


def apply_steps(
    steps: Sequence[Step],
    do: Callable[[Step], Sequence[Step]],
    describe: Callable[[Step], str],
    *,
    refusals: tuple[type[BaseException], ...] = (OSError,),
    counts: Callable[[Step], bool] = lambda step: True,
) -> list[Step]:
    """Apply each step (``do`` returns the steps that undo it, in their order); the
    inverses of everything, to undo it all later. When a step raises one of
    ``refusals``, what was done is undone and :class:`Refused` is raised."""
    done: list[Step] = []
    for step in steps:
        try:
            inverses = do(step)
        except refusals as exc:
            raise Refused(step, exc, undo_steps(done, do, describe, refusals=refusals,
                                                counts=counts)) from None  # fmt: skip
        done += reversed(inverses)
    return done


def undo_steps(
    done: Sequence[Step],
    do: Callable[[Step], object],
    describe: Callable[[Step], str],
    *,
    refusals: tuple[type[BaseException], ...] = (OSError,),
    counts: Callable[[Step], bool] = lambda step: True,
) -> Undone:
    """Apply the inverses ``done`` collected, newest first; what was undone, and
    what could not be (``counts``: whether a step is a change worth counting)."""
    result = Undone()
    for step in reversed(done):
        try:
            do(step)
        except refusals as exc:
            result.failed.append(f"{describe(step)} ({exc})")
        else:
            result.count += counts(step)
    return result
