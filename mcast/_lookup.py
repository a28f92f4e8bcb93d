"""Which interface a caller of the mcast API means, with this package's errors.

:func:`ipv6.resolve_interface` does the lookup; a name, index or address that
matches no interface is :class:`mcast.NoSuchInterface` here (an
:class:`McastError`), with the same words.
"""

from __future__ import annotations

from ipv6 import InterfaceRef, UnknownInterface, resolve_interface

from ._errors import NoSuchInterface


def find_interface(spec: str | int) -> InterfaceRef:
    try:
        return resolve_interface(spec)
    except UnknownInterface as exc:
        raise NoSuchInterface(str(exc)) from None


def as_interface(value: str | int | InterfaceRef | None) -> InterfaceRef | None:
    if value is None or isinstance(value, InterfaceRef):
        return value
    return find_interface(value)
