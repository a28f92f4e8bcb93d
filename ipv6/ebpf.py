"""The toolkit's eBPF programs, for its other package: loading an object
(``ipv6._bpf``, through the ``bpf()`` system call, with no libbpf), and
putting a program on an interface's tc hook and taking it off: a tcx link
where the kernel has tcx, else a cls_bpf filter (a kernel operation, carried
out by ``ipv6._netlink`` like every other netlink write).

``mcast``'s multicast forwarding plane loads its program through these names;
``ipv6``'s own planes use the private modules directly.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from typing import Any

from ._bpf import (
    PROG_TYPE_SCHED_CLS,
    PROG_TYPE_SOCKET_FILTER,
    BpfError,
    Loaded,
    Map,
    TestRun,
    load,
    tcx_programs,
    why_not,
)
from ._bpfelf import BpfObjectError

__all__ = [
    "PROG_TYPE_SCHED_CLS",
    "PROG_TYPE_SOCKET_FILTER",
    "Attachment",
    "BpfError",
    "BpfObjectError",
    "Loaded",
    "Map",
    "TestRun",
    "attach_tc",
    "load",
    "tcx_programs",
    "why_not",
]


@dataclass
class Attachment:
    """A program on an interface's tc hook, as :func:`attach_tc` put it there."""

    link: int | None  # a tcx link's descriptor: the program goes when it closes
    undo: list[Any] = field(default_factory=list)  # else the netlink operations that detach it

    @property
    def kind(self) -> str:
        return "tcx" if self.link is not None else "cls_bpf"

    def detach(self) -> None:
        """Take the program off (an interface already gone is no error)."""
        if self.link is not None:
            with contextlib.suppress(OSError):
                os.close(self.link)
            self.link = None
        if self.undo:
            from ._netlink import Netlink

            netlink = Netlink()
            try:
                for op in self.undo:
                    with contextlib.suppress(OSError):
                        netlink.apply(op)
            finally:
                netlink.close()
            self.undo = []


def attach_tc(index: int, fd: int, name: str, *, egress: bool, priority: int) -> Attachment:
    """Program ``fd`` on interface ``index``'s ingress (or egress) hook.

    Where the kernel has tcx (Linux 6.6), as a link held by this process: the
    program goes when the process does, killed or not, as the kernel's own
    multicast routing goes with its socket. Elsewhere as a cls_bpf filter named
    ``name`` at ``priority``, which stays until detached; one of the same name
    already there (a killed process's) goes first. OSError when the kernel
    refuses."""
    from ._bpf import link_tcx
    from ._kernelops import AttachTcProgram
    from ._netlink import Netlink

    try:
        return Attachment(link_tcx(fd, index, egress=egress))
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
    netlink = Netlink()
    try:
        for stale in netlink.tc_programs(index, egress=egress, prefix=name):
            netlink.apply(stale)
        op = AttachTcProgram(index, fd, name, egress=egress, priority=priority)
        return Attachment(None, netlink.apply(op))
    finally:
        netlink.close()
