"""IPsec for the seeds' Configuration 3 (ipsec6): the Authentication Header
(RFC 4302) in transport mode. Pure parts only, so far: the AH codec with its
ICV, and the anti-replay window."""

from __future__ import annotations

from ._ah import (
    ALGORITHMS,
    AhError,
    Algorithm,
    Verified,
    protect,
    verify,
)
from ._replay import ReplayWindow

__all__ = [
    "ALGORITHMS",
    "AhError",
    "Algorithm",
    "ReplayWindow",
    "Verified",
    "protect",
    "verify",
]
