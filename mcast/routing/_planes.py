"""Where multicast is forwarded: the kernel's multicast routing
(:mod:`._kernelplane`), or the userspace plane where the kernel has none
(:mod:`._userplane`). One interface for both, per IP version, so the routing
daemon (:mod:`._routed`) and the proxy (:mod:`._proxy`) install the same plan
(:mod:`._mroutes`) on either.

:func:`choose` picks the plane for a family: ``auto`` takes the kernel's
where the kernel has multicast routing, ``kernel`` refuses in one line where
it has not (exit 7, the kernel option named), ``userspace`` always works
where packet sockets do.
"""

from __future__ import annotations

from .._errors import McastBadInput
from ._kernelplane import FEATURE, KernelPlane, Miss
from ._userplane import UserspacePlane

PLANES = ("auto", "kernel", "userspace")
Plane = KernelPlane | UserspacePlane


def choose(wanted: str, family: int, what: str) -> str:
    """The plane to use for ``family``: ``kernel`` or ``userspace``."""
    from ipv6.capabilities import KernelLacks, has

    if wanted not in PLANES:
        raise McastBadInput(f"--plane {wanted!r}: choose auto, kernel or userspace")
    if wanted == "userspace":
        return "userspace"
    if has(FEATURE[family]):
        return "kernel"
    if wanted == "kernel":
        raise KernelLacks(FEATURE[family], what, "use --plane userspace (or auto)")
    return "userspace"


def open_plane(kind: str, family: int, on_miss: Miss | None = None, *,
               filter_groups: bool = True) -> Plane:  # fmt: skip
    if kind == "kernel":
        return KernelPlane(family, on_miss)
    return UserspacePlane(family, on_miss, filter_groups=filter_groups)
