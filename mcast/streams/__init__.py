"""Streams: receiving and measuring what arrives (loss, order, jitter, delay), and
sending measurable streams, paced or as fast as the host allows.

Modules: ``_pacing``, ``_reading``, ``_receiver``, ``_sender``,
``_streamheader``, ``_streaming``, ``_streamrows``, ``_streamstats``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "Receiver": "_receiver",
    "open_receiver": "_receiver",
    "Sender": "_sender",
    "open_sender": "_sender",
    "SendReport": "_streaming",
    "send_stream": "_streaming",
    "Delay": "_streamstats",
    "StreamReport": "_streamstats",
}
__all__ = [
    "Delay",
    "Receiver",
    "SendReport",
    "Sender",
    "StreamReport",
    "open_receiver",
    "open_sender",
    "send_stream",
]
__getattr__ = loader(__name__, _LAZY)
