"""Reliable multicast, PGM (RFC 3208): the packet codec, the source and receiver
machines, and the Trio sender and listener over raw IP or UDP.

Modules: ``_pgm``, ``_pgmnet``, ``_pgmreceiver``, ``_pgmsession``,
``_pgmsource``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "open_pgm_sender": "_pgmsession",
    "open_pgm_listener": "_pgmsession",
    "PgmSender": "_pgmsession",
    "PgmListener": "_pgmsession",
}
__all__ = ["PgmListener", "PgmSender", "open_pgm_listener", "open_pgm_sender"]
__getattr__ = loader(__name__, _LAZY)
