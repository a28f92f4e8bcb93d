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
    "IgmpQuery": "_igmp",
    "IgmpV1Report": "_igmp",
    "IgmpV2Report": "_igmp",
    "IgmpV2Leave": "_igmp",
    "GroupRecord": "_igmp",
    "IgmpV3Report": "_igmp",
    "decode_igmp_untrusted": "_igmp",
    "encode_igmp": "_igmp",
    "MldQuery": "_mld",
    "MldV1Report": "_mld",
    "MldV1Done": "_mld",
    "AddressRecord": "_mld",
    "MldV2Report": "_mld",
    "decode_mld_untrusted": "_mld",
    "encode_mld": "_mld",
    "WireMessage": "_frames",
    "decode_frame_untrusted": "_frames",
    "decode_ipv4_untrusted": "_frames",
    "decode_ipv6_untrusted": "_frames",
    "encode_ipv4_igmp": "_frames",
    "encode_ipv6_mld": "_frames",
    "pcap": "_frames",
}
__all__ = [
    "AddressRecord",
    "GroupRecord",
    "IgmpQuery",
    "IgmpV1Report",
    "IgmpV2Leave",
    "IgmpV2Report",
    "IgmpV3Report",
    "MalformedPacket",
    "MldQuery",
    "MldV1Done",
    "MldV1Report",
    "MldV2Report",
    "Observer",
    "RecordType",
    "WireMessage",
    "decode_frame_untrusted",
    "decode_igmp_untrusted",
    "decode_ipv4_untrusted",
    "decode_ipv6_untrusted",
    "decode_mld_untrusted",
    "describe",
    "encode_igmp",
    "encode_ipv4_igmp",
    "encode_ipv6_mld",
    "encode_mld",
    "pcap",
]
__getattr__ = loader(__name__, _LAZY)
