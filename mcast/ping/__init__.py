"""Multicast ping (RFC 6450, as ssmping speaks it): the messages, the client, the
responder, what a ping saw per path, and the matrix of a lab's hosts.

Modules: ``_mping``, ``_pingclient``, ``_pingmatrix``, ``_pingresponder``,
``_pingstats``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "multicast_ping": "_pingclient",
    "PingReport": "_pingclient",
    "PingReply": "_pingclient",
    "Responder": "_pingresponder",
    "lab_matrix": "_pingmatrix",
}
__all__ = ["PingReply", "PingReport", "Responder", "lab_matrix", "multicast_ping"]
__getattr__ = loader(__name__, _LAZY)
