"""Reliable multicast, PGM (RFC 3208): the packet codec, the source and receiver
machines, and the Trio sender and listener over raw IP or UDP.

For scripts: :func:`send_file`/:func:`send_messages` and
:func:`receive_file`/:func:`receive_messages` move one session and return its
statistics (what ``mcast pgm send/recv --json`` print); :func:`open_pgm_sender`
and :func:`open_pgm_listener` give the session itself.

FEC: ``SenderOptions(fec=FecConfig(group_size, block_size, proactive, ondemand))``
(RM_USE_FEC); receivers follow the source's parity policy by themselves.

Modules: ``_pgm``, ``_pgmfec``, ``_pgmfiles``, ``_pgmnet``, ``_pgmreceiver``, ``_pgmsession``,
``_pgmsource``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "FecConfig": "_pgmfec",
    "open_pgm_sender": "_pgmsession",
    "open_pgm_listener": "_pgmsession",
    "PgmListener": "_pgmsession",
    "PgmSender": "_pgmsession",
    "PgmSession": "_pgmsession",
    "PgmUnrecoverable": "_pgmsession",
    "SenderOptions": "_pgmsession",
    "SenderStatistics": "_pgmsession",
    "SessionStatistics": "_pgmsession",
    "receive_file": "_pgmfiles",
    "receive_messages": "_pgmfiles",
    "send_file": "_pgmfiles",
    "send_messages": "_pgmfiles",
}
__all__ = [
    "FecConfig",
    "PgmListener",
    "PgmSender",
    "PgmSession",
    "PgmUnrecoverable",
    "SenderOptions",
    "SenderStatistics",
    "SessionStatistics",
    "open_pgm_listener",
    "open_pgm_sender",
    "receive_file",
    "receive_messages",
    "send_file",
    "send_messages",
]
__getattr__ = loader(__name__, _LAZY)
