"""The seeds' ipsec6 files (.spd, .sad) as text: templates written, files read
and checked whole.

Rules of this module:
- Pure: text in, :class:`Policy` and :class:`Association` rows out, or one
  :class:`IpsecFileError` naming the file, the line and the field. Key files
  are read by the caller and given as a mapping of file name to contents.
- An entry is one line of whitespace-separated fields in the seeds' order
  (:data:`SPD_FIELDS`, :data:`SAD_FIELDS`), ended by a semicolon. Anything
  before the column header line, the header itself, a line of underscores and
  blank lines are not entries; ``#`` starts a comment.
- The seeds' rules: policies in decreasing numerical order, associations too;
  an association names an existing policy (SecPolicyIndex); the key file's
  contents are a double-quoted string; ``*`` is any, ``POLICY`` takes the
  policy's value. What the toolkit carries out is AH in transport mode with
  HMAC-MD5 or HMAC-SHA-256; anything else is refused in one line.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from .._errors import BadInput
from ._ah import ALGORITHMS

SPD_FIELDS = (
    "Policy", "RemoteIPAddr", "LocalIPAddr", "RemotePort", "Protocol", "LocalPort",
    "IPSecProtocol", "IPSecMode", "RemoteGWIPAddr", "SABundleIndex", "Direction", "Action",
    "InterfaceIndex",
)  # fmt: skip
SAD_FIELDS = (
    "SAEntry", "SPI", "SADestIPAddr", "DestIPAddr", "SrcIPAddr", "Protocol", "DestPort",
    "SrcPort", "AuthAlg", "KeyFile", "Direction", "SecPolicyIndex",
)  # fmt: skip
PROTOCOLS = {"ICMP": 58, "ICMPV6": 58, "TCP": 6, "UDP": 17}
DIRECTIONS = ("INBOUND", "OUTBOUND", "BIDIRECT")
ACTIONS = ("APPLY", "BYPASS", "DISCARD")

SPD_TEMPLATE = f"""\
Security Policy List

{" ".join(SPD_FIELDS)}
{"_" * 79}
1 * * * * * NONE NONE * NONE BIDIRECT BYPASS 0 ;
"""
SAD_TEMPLATE = f"""\
Security Association List

{" ".join(SAD_FIELDS)}
{"_" * 79}
"""


class IpsecFileError(BadInput):
    """An .spd, .sad or key file that cannot be used as written."""


IPAddress = ipaddress.IPv6Address


@dataclass(frozen=True)
class Policy:
    index: int
    remote: IPAddress | None  # None: any
    local: IPAddress | None
    remote_port: int | None
    protocol: int | None  # an IP protocol number; None: any
    local_port: int | None
    ipsec: str  # "AH" or "NONE"
    mode: str  # "TRANSPORT" or "NONE"
    direction: str  # INBOUND, OUTBOUND, BIDIRECT
    action: str  # APPLY, BYPASS, DISCARD
    interface: int  # 0: any

    def matches(self, packet: Selectors) -> bool:
        """Whether a packet's selectors fall under this policy."""
        return (
            self.remote in (None, packet.remote)
            and self.local in (None, packet.local)
            and self.protocol in (None, packet.protocol)
            and self.remote_port in (None, packet.remote_port)
            and self.local_port in (None, packet.local_port)
        )


@dataclass(frozen=True)
class Selectors:
    """What a policy looks at in a packet, from this host's side."""

    remote: IPAddress
    local: IPAddress
    protocol: int
    remote_port: int | None = None
    local_port: int | None = None


@dataclass(frozen=True)
class Association:
    index: int
    spi: int
    destination: IPAddress  # SADestIPAddr: where the protected packets go
    algorithm: str  # a key of ipv6.ipsec.ALGORITHMS
    key: bytes
    direction: str  # INBOUND or OUTBOUND
    policy: int  # SecPolicyIndex


def read_spd(text: str, name: str) -> list[Policy]:
    """Every policy of an .spd file, checked; highest index first, as written."""
    entries = _entries(text, name, SPD_FIELDS)
    policies = [_policy(fields, name, number) for number, fields in entries]
    _decreasing([p.index for p in policies], name, "policy")
    return policies


def read_sad(text: str, name: str, policies: list[Policy], keys: Mapping[str, str]
             ) -> list[Association]:  # fmt: skip
    """Every association of a .sad file, checked against ``policies`` and the key
    files' contents (by the name the file gives)."""
    known = {p.index: p for p in policies}
    out = []
    for number, fields in _entries(text, name, SAD_FIELDS):
        out.append(_association(fields, name, number, known, keys))
    _decreasing([a.index for a in out], name, "association")
    return out


def read_key(text: str, name: str) -> bytes:
    """A key file: the key as a double-quoted string, as the seeds ask."""
    stripped = text.strip()
    if not stripped:
        raise IpsecFileError(f'{name} is empty: write the key as a double-quoted string '
                             '("This is a test")')  # fmt: skip
    if len(stripped) < 2 or stripped[0] != '"' or stripped[-1] != '"':
        raise IpsecFileError(f'{name}: the key must be a double-quoted string ("This is a test")')
    if len(stripped) == 2:
        raise IpsecFileError(f'{name}: the key "" is empty')
    return stripped[1:-1].encode("utf-8")


# -- inside ------------------------------------------------------------------------


def _entries(text: str, name: str, columns: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    found = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or set(line) == {"_"}:
            continue
        words = line.split()
        if words[0] == columns[0] and not header_seen:
            header_seen = True
            continue
        if not header_seen:
            continue  # the file's title
        if not line.endswith(";"):
            raise IpsecFileError(f"{name} line {number}: an entry ends with a semicolon")
        words = line[:-1].split()
        if len(words) != len(columns):
            raise IpsecFileError(
                f"{name} line {number}: {len(words)} fields where {len(columns)} are wanted "
                f"({' '.join(columns)})"
            )
        found.append((number, words))
    if not header_seen:
        raise IpsecFileError(f"{name}: no column line ({' '.join(columns)})")
    return found


def _decreasing(indexes: list[int], name: str, what: str) -> None:
    for before, after in itertools.pairwise(indexes):
        if after >= before:
            raise IpsecFileError(
                f"{name}: {what} {after} comes after {before}: entries are written in "
                "decreasing numerical order"
            )


def _field(fields: list[str], columns: tuple[str, ...], column: str) -> str:
    return fields[columns.index(column)]


def _where(name: str, number: int, column: str) -> str:
    return f"{name} line {number}, {column}"


def _index(text: str, where: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise IpsecFileError(f"{where}: {text!r} is not a positive number")
    return int(text)


def _address(text: str, where: str) -> IPAddress | None:
    if text == "*":
        return None
    try:
        return ipaddress.IPv6Address(text.lower())
    except ValueError:
        raise IpsecFileError(f"{where}: {text!r} is not an IPv6 address or *") from None


def _port(text: str, where: str) -> int | None:
    if text == "*":
        return None
    if not text.isdigit() or int(text) > 65535:
        raise IpsecFileError(f"{where}: {text!r} is not a port or *")
    return int(text)


def _pick(value: tuple[str, str], choices: tuple[str, ...]) -> str:
    """A field's (text, where) as one of ``choices``, in any case."""
    text, where = value
    if text.upper() not in choices:
        raise IpsecFileError(f"{where}: {text!r} is not one of {', '.join(choices)}")
    return text.upper()


def _policy(fields: list[str], name: str, number: int) -> Policy:
    def get(column: str) -> tuple[str, str]:
        return _field(fields, SPD_FIELDS, column), _where(name, number, column)

    protocol_text, where = get("Protocol")
    protocol = None
    if protocol_text != "*":
        protocol = PROTOCOLS.get(protocol_text.upper())
        if protocol is None:
            raise IpsecFileError(f"{where}: {protocol_text!r} is not one of *, ICMP, TCP, UDP")
    ipsec = _pick(get("IPSecProtocol"), ("AH", "ESP", "NONE"))
    if ipsec == "ESP":
        raise IpsecFileError(f"{get('IPSecProtocol')[1]}: ESP is not supported yet (AH is)")
    mode = _pick(get("IPSecMode"), ("TRANSPORT", "TUNNEL", "NONE"))
    if mode == "TUNNEL":
        raise IpsecFileError(f"{get('IPSecMode')[1]}: tunnel mode is not supported (transport is)")
    gateway, where = get("RemoteGWIPAddr")
    if gateway != "*":
        raise IpsecFileError(f"{where}: a gateway belongs to tunnel mode: write *")
    bundle, where = get("SABundleIndex")
    if bundle.upper() != "NONE":
        raise IpsecFileError(f"{where}: SA bundles are not supported: write NONE")
    action = _pick(get("Action"), ACTIONS)
    if action == "APPLY" and (ipsec, mode) != ("AH", "TRANSPORT"):
        raise IpsecFileError(
            f"{_where(name, number, 'Action')}: APPLY needs IPSecProtocol AH and IPSecMode "
            "TRANSPORT"
        )
    interface_text, where = get("InterfaceIndex")
    if not interface_text.isdigit():
        raise IpsecFileError(f"{where}: {interface_text!r} is not an interface index (0: any)")
    return Policy(
        index=_index(*get("Policy")),
        remote=_address(*get("RemoteIPAddr")),
        local=_address(*get("LocalIPAddr")),
        remote_port=_port(*get("RemotePort")),
        protocol=protocol,
        local_port=_port(*get("LocalPort")),
        ipsec=ipsec,
        mode=mode,
        direction=_pick(get("Direction"), DIRECTIONS),
        action=action,
        interface=int(interface_text),
    )


def _association(fields: list[str], name: str, number: int, policies: Mapping[int, Policy],
                 keys: Mapping[str, str]) -> Association:  # fmt: skip
    def get(column: str) -> tuple[str, str]:
        return _field(fields, SAD_FIELDS, column), _where(name, number, column)

    policy_index = _index(*get("SecPolicyIndex"))
    if policy_index not in policies:
        raise IpsecFileError(
            f"{get('SecPolicyIndex')[1]}: there is no policy {policy_index} in the .spd file"
        )
    if policies[policy_index].action != "APPLY":
        raise IpsecFileError(
            f"{get('SecPolicyIndex')[1]}: policy {policy_index} does not APPLY IPsec"
        )
    spi_text, where = get("SPI")
    if not spi_text.isdigit() or not 256 <= int(spi_text) <= 0xFFFFFFFF:
        raise IpsecFileError(f"{where}: {spi_text!r}: an SPI is 256 to 4294967295")
    destination = _address(*get("SADestIPAddr"))
    if destination is None:
        raise IpsecFileError(f"{get('SADestIPAddr')[1]}: an SA goes to one address, not *")
    for column in ("DestIPAddr", "SrcIPAddr", "Protocol", "DestPort", "SrcPort"):
        value, where = get(column)
        if value.upper() != "POLICY":
            raise IpsecFileError(f"{where}: write POLICY (the policy's selectors are used)")
    algorithm_text, where = get("AuthAlg")
    algorithm = algorithm_text.upper()
    if algorithm not in ALGORITHMS:
        raise IpsecFileError(f"{where}: {algorithm_text!r} is not one of {', '.join(ALGORITHMS)}")
    key_name, where = get("KeyFile")
    if key_name not in keys:
        raise IpsecFileError(f"{where}: no key file {key_name!r}")
    key = read_key(keys[key_name], key_name)
    direction = _pick(get("Direction"), ("INBOUND", "OUTBOUND"))
    return Association(_index(*get("SAEntry")), int(spi_text), destination, algorithm, key,
                       direction, policy_index)  # fmt: skip


# -- lookups -----------------------------------------------------------------------


def policy_for(policies: list[Policy], outbound: bool, packet: Selectors) -> Policy | None:
    """The policy a packet falls under: the first, in the file's order, whose
    selectors and direction match (None: no policy, the packet passes as it is)."""
    wanted = "OUTBOUND" if outbound else "INBOUND"
    for policy in policies:
        if policy.direction in (wanted, "BIDIRECT") and policy.matches(packet):
            return policy
    return None


def association_for(associations: list[Association], policy: Policy, outbound: bool,
                    destination: IPAddress) -> Association | None:  # fmt: skip
    """The SA that protects (outbound) or checks (inbound) a packet to
    ``destination`` under ``policy``; None when there is none (an APPLY policy
    then drops the packet rather than let it through unprotected)."""
    wanted = "OUTBOUND" if outbound else "INBOUND"
    for association in associations:
        if (association.policy == policy.index and association.direction == wanted
                and association.destination == destination):  # fmt: skip
            return association
    return None
