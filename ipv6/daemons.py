"""Daemons the toolkit starts, and the per-namespace state files they keep.

The public face of :mod:`ipv6._daemon` (how a daemon is started, says why it
stopped, and is found again) and :mod:`ipv6._statefile` (a file per network
namespace, written whole or not at all), and :mod:`ipv6._supervise` (one way to
start, reload, ask, wait for and stop a service), for both packages: the
tunnel service, ipsec6's plane and netsh's advertisers here, mcast's routing
daemon there.
"""

from __future__ import annotations

from ._daemon import alive, ask_status, run_daemon, say, signal_receiver, spawn, why_stopped
from ._statefile import StateWriteFailed, locked, namespace_file, read_json, write_json
from ._supervise import Service

__all__ = [
    "Service",
    "StateWriteFailed",
    "alive",
    "ask_status",
    "locked",
    "namespace_file",
    "read_json",
    "run_daemon",
    "say",
    "signal_receiver",
    "spawn",
    "why_stopped",
    "write_json",
]
