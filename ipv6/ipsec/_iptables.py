"""The userspace plane's ip6tables rules put in and taken out (the text is
:mod:`._ruleset`'s): by the service as it starts, reloads and stops, and by
``ipsec6 d`` when a service that was killed outright left them behind.
ip6tables is run as a program (its legacy backend has no netlink); only its
exit status is read."""

from __future__ import annotations

import socket
import subprocess

from .._errors import Ipv6Error
from . import _ruleset
from ._active import Active
from ._ah import ALGORITHMS


class RulesError(Ipv6Error):
    """ip6tables is missing or refused the rules."""


def ip6tables(args: list[str], stdin: str | None = None, *, check: bool = True) -> bool:
    """Run ip6tables (or ip6tables-restore with ``stdin``); whether it succeeded."""
    program = "ip6tables-restore" if stdin is not None else "ip6tables"
    argv = [program, "--noflush"] if stdin is not None else [program, "-w", *args]
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RulesError(
            f"{program} is not installed: the userspace plane needs it (the iptables package)"
        ) from None
    if check and done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise RulesError(f"{program} refused the rules: {why[0]}")
    return done.returncode == 0


def link_mtus() -> dict[int, int]:
    """Every interface's MTU by index (loopback left out)."""
    import psutil

    stats = psutil.net_if_stats()
    return {index: stats[name].mtu for index, name in socket.if_nameindex()
            if name in stats and name != "lo"}  # fmt: skip


def overhead(active: Active) -> int:
    """The longest AH the active SAs make."""
    return max((12 + ALGORITHMS[a.algorithm].field_length for a in active.associations),
               default=24)  # fmt: skip


def install_rules(active: Active, mtus: dict[int, int]) -> None:
    names = {index: socket.if_indextoname(index) for index in mtus}
    names.update({p.interface: socket.if_indextoname(p.interface) for p in active.policies
                  if p.interface})  # fmt: skip
    by_name = {names[i]: mtu for i, mtu in mtus.items()}
    ip6tables([], _ruleset.ruleset(list(active.policies), names, by_name, overhead(active)))
    for hook, chain in _ruleset.JUMPS:
        if not ip6tables(_ruleset.jump_check(hook, chain), check=False):
            ip6tables(_ruleset.jump_insert(hook, chain))


def remove_rules() -> None:
    """Every rule and chain of the toolkit's, whatever made them."""
    for hook, chain in _ruleset.JUMPS:
        while ip6tables(_ruleset.jump_delete(hook, chain), check=False):
            pass
        for args in _ruleset.chain_removal(chain):
            ip6tables(args, check=False)
