"""The kernel plane: the active lists as XFRM policies and AH states, through
netlink (:mod:`._xfrmmsg` builds the messages), where the kernel has AH.

:func:`kernel_has_ah` asks once (adds a probe state and removes it); kernels
and containers without AH say "Requested type not found" (ENOENT). A change
is :func:`sync`: what the new lists lack is removed, what they add is added,
and when the kernel refuses a step, the steps already made are undone.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from .._errors import Ipv6Error
from .._transact import Refused, apply_steps
from ._active import Active
from ._files import Association
from ._xfrmmsg import (
    MULTICAST_BYPASS,
    NETLINK_XFRM,
    KernelPolicy,
    KernelSa,
    decode_untrusted,
    delete_policy,
    delete_sa,
    dump_sas,
    kernel_policies,
    new_policy,
    new_sa,
)


class XfrmError(Ipv6Error):
    """The kernel refused an XFRM change; what this change had made is undone."""


class _Socket:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
        self.sock.bind((0, 0))
        self.sequence = 0

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def ask(self, build: Any, *args: Any) -> int:
        """Send one request; the kernel's errno (0: done)."""
        self.sequence += 1
        self.sock.send(build(*args, self.sequence))
        while True:
            for answer in decode_untrusted(self.sock.recv(65536)):
                if isinstance(answer, int):
                    return answer

    def dump(self) -> list[KernelSa]:
        self.sequence += 1
        self.sock.send(dump_sas(self.sequence))
        found: list[KernelSa] = []
        while True:
            answers = decode_untrusted(self.sock.recv(1 << 20))
            found += [a for a in answers if isinstance(a, KernelSa)]
            if any(isinstance(a, int) for a in answers):
                return found


def kernel_has_ah() -> bool:
    """Whether this kernel makes AH states (the capability probe's answer)."""
    from .._probe import has

    return has("xfrm_ah")


def _steps(old: Active, new: Active) -> list[tuple[Any, Any, Any]]:
    """(do, undo, what) for each XFRM change from ``old`` to ``new``."""

    def policies(active: Active) -> list[KernelPolicy]:
        found = [k for p in active.policies for k in kernel_policies(p)]
        return MULTICAST_BYPASS + found if found else []

    old_p, new_p = policies(old), policies(new)
    old_a, new_a = set(old.associations), set(new.associations)
    steps: list[tuple[Any, Any, Any]] = [
        (delete_sa, new_sa, a) for a in old.associations if a not in new_a
    ]
    steps += [(delete_policy, new_policy, k) for k in old_p if k not in new_p]
    steps += [(new_policy, delete_policy, k) for k in new_p if k not in old_p]
    steps += [(new_sa, delete_sa, a) for a in new.associations if a not in old_a]
    return steps


def sync(old: Active, new: Active) -> None:
    """Make the kernel's policies and states ``new`` instead of ``old``, or leave them as
    they were and raise :class:`XfrmError`."""
    with _Socket() as xfrm:

        def apply(step: tuple[Any, Any, Any]) -> list[tuple[Any, Any, Any]]:
            do, undo, what = step
            error = xfrm.ask(do, what)
            if error and not (do in (delete_sa, delete_policy) and error == 2):  # gone already
                raise OSError(error, os.strerror(error))
            return [(undo, do, what)]

        try:
            apply_steps(_steps(old, new), apply, lambda step: _describe(step[0], step[2]))
        except Refused as refused:
            do, _, what = refused.step
            raise XfrmError(f"the kernel refused {_describe(do, what)}: "
                            f"{getattr(refused.why, 'strerror', refused.why)}; "
                            f"{refused.undone}") from None  # fmt: skip


def _describe(do: Any, what: Any) -> str:
    verb = "adding" if do in (new_sa, new_policy) else "removing"
    if isinstance(what, Association):
        return f"{verb} SA {what.index} (SPI {what.spi} to {what.destination})"
    return f"{verb} an XFRM policy (priority {what.priority}, direction {what.direction})"


def counters() -> dict[str, Any]:
    """What the kernel counted for each AH state, by destination and SPI."""
    with _Socket() as xfrm:
        states = xfrm.dump()
    return {
        "sas": {
            f"{s.destination} {s.spi}": {
                "packets": s.packets, "octets": s.octets, "sequence": s.sent or s.received,
                "drops": {"replayed": s.replayed, "bad_icv": s.integrity_failed},
            }
            for s in states
        }
    }  # fmt: skip
