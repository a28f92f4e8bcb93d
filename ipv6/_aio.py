"""Trio helpers both packages share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def lone_error() -> Iterator[None]:
    """Errors leave the block as themselves, not in an exception group, when a
    group holds only one: a context manager that runs its work in a nursery
    (a listener, a receiver) lets its caller write ``except PgmUnrecoverable``
    rather than ``except*``. A group of several errors leaves unchanged."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if len(leaves) != 1:
            raise
        raise leaves[0] from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
