"""Where multicast is forwarded: the kernel's multicast routing
(:mod:`._kernelplane`), or the userspace plane where the kernel has none
(:mod:`._userplane`), or that plane with its routes carried by eBPF
programs on the interfaces' tc hooks (:mod:`._ebpfplane`). One interface for
all, per IP version, so the routing daemon (:mod:`._routed`) and the proxy
(:mod:`._proxy`) install the same plan (:mod:`._mroutes`) on any.

:func:`choose` picks the plane for a family: ``auto`` takes the kernel's
where the kernel has multicast routing, else the eBPF plane where the kernel
runs tc programs, else the userspace plane; ``kernel`` and ``ebpf`` refuse in
one line where the kernel lacks them (exit 7, the feature named);
``userspace`` always works where packet sockets do. :func:`open_plane` falls
back from ``auto``'s eBPF plane to the userspace one when the kernel refuses
the programs, and the plane's ``why`` says so.
"""

from __future__ import annotations

from .._errors import McastBadInput, McastError
from ._kernelplane import FEATURE, KernelPlane, Miss
from ._userplane import UserspacePlane

PLANES = ("auto", "kernel", "ebpf", "userspace")
EBPF = "ebpf_tc"  # the capability the eBPF plane needs (ipv6 capabilities)
Plane = KernelPlane | UserspacePlane


def choose(wanted: str, family: int, what: str) -> str:
    """The plane to use for ``family``: ``kernel``, ``ebpf`` or ``userspace``."""
    from ipv6.capabilities import KernelLacks, has

    if wanted not in PLANES:
        raise McastBadInput(f"--plane {wanted!r}: choose auto, kernel, ebpf or userspace")
    if wanted == "userspace":
        return "userspace"
    if wanted == "ebpf":
        if not has(EBPF):
            raise KernelLacks(EBPF, f"{what}'s eBPF plane", "use --plane userspace (or auto)")
        return "ebpf"
    if has(FEATURE[family]):
        return "kernel"
    if wanted == "kernel":
        raise KernelLacks(FEATURE[family], what, "use --plane userspace (or auto)")
    return "ebpf" if has(EBPF) else "userspace"


def why(kind: str, wanted: str, family: int) -> str:
    """Why ``kind`` forwards ``family``, asked for ``wanted``: status's words."""
    if kind == "kernel":
        return f"the kernel has IPv{family} multicast routing"
    if wanted == kind:
        return f"asked for (--plane {kind})"
    if kind == "ebpf":
        return f"the kernel has no IPv{family} multicast routing; eBPF on its tc hooks forwards"
    return f"the kernel has no IPv{family} multicast routing, nor eBPF on tc"


def open_plane(kind: str, family: int, on_miss: Miss | None = None, *,
               filter_groups: bool = True, wanted: str = "auto") -> Plane:  # fmt: skip
    """The plane ``kind`` (from :func:`choose`); its ``why`` says why it runs."""
    plane: Plane
    if kind == "kernel":
        plane = KernelPlane(family, on_miss)
    elif kind == "ebpf":
        from ipv6.ebpf import BpfError, BpfObjectError, why_not

        from ._ebpfplane import EbpfPlane

        try:
            plane = EbpfPlane(family, on_miss, filter_groups=filter_groups)
        except (BpfError, BpfObjectError, OSError) as exc:
            if wanted == "ebpf":
                raise McastError(f"the eBPF plane cannot run: {why_not(exc)}") from None
            plane = UserspacePlane(family, on_miss, filter_groups=filter_groups)
            plane.why = f"the kernel has no IPv{family} multicast routing, and {why_not(exc)}"
            return plane
    else:
        plane = UserspacePlane(family, on_miss, filter_groups=filter_groups)
    plane.why = why(kind, wanted, family)
    return plane
