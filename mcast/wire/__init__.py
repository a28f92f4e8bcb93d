"""The wire: IGMP and MLD messages as bytes (codecs that trust nothing), Ethernet and IP
framing, the text of a message, the capture filter, and the observer that reads a link.

Modules: ``_capfilter``, ``_frames``, ``_igmp``, ``_mld``, ``_observer``,
``_wirecommon``, ``_wiretext``.
"""

from __future__ import annotations

from .._lazy import loader

_LAZY = {
    "MalformedPacket": "_wirecommon",
    "RecordType": "_wirecommon",
    "Observer": "_observer",
    "describe": "_wiretext",
}
__all__ = ["MalformedPacket", "Observer", "RecordType", "describe"]
__getattr__ = loader(__name__, _LAZY)
