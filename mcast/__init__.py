"""Multicast for scripts and labs: group membership and source filters,
socket-option encoding, IGMP/MLD, observer and querier, send and receive.

May import :mod:`ipv6`; never the other way round.
"""

from ._errors import McastBadInput, McastError

__all__ = ["McastBadInput", "McastError"]
__version__ = "0.1.0"
