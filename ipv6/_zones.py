"""Which interface a scoped address means (RFC 4007), and the sockaddr to use it.

Rules of this module:
- A link-local unicast address, or an interface- or link-scope multicast
  group, names a link only together with a zone: ``fe80::1%eth0`` or
  ``fe80::1%4``. Other addresses take none.
- No zone, and the host has exactly one link it could mean: that link is
  used, and the caller is told so. More than one: refused, listing them and
  saying how to choose (the seeds' "Ambiguous Scoped Addresses"). None:
  refused.
- Pure: the candidate links are given; :func:`ipv6._interfaces.resolve_destination`
  reads them from this host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ._address import canonical, needs_zone
from ._errors import BadInput
from ._interfaceref import InterfaceRef

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AmbiguousScope(BadInput):
    """A scoped address with no zone on a host with several links."""


@dataclass(frozen=True)
class Destination:
    address: IPAddress
    interface: InterfaceRef | None  # None: not scoped
    note: str = ""  # what was chosen for the user, when a choice was made

    @property
    def scope_id(self) -> int:
        return self.interface.index if self.interface else 0

    def __str__(self) -> str:
        zone = f"%{self.interface.name}" if self.interface else ""
        return canonical(self.address) + zone

    def sockaddr(self, port: int = 0) -> tuple[str, int] | tuple[str, int, int, int]:
        """For bind, connect and sendto: (address, port, flowinfo, scope_id) for IPv6."""
        if isinstance(self.address, ipaddress.IPv4Address):
            return (str(self.address), port)
        return (self.address.compressed, port, 0, self.scope_id)


def choose_zone(
    address: IPAddress,
    zone: str | None,
    links: list[InterfaceRef],
    *,
    how: str = "add %INTERFACE to the address",
) -> Destination:
    """The destination ``address`` (with ``zone``) means among these ``links``."""
    if not needs_zone(address):
        if zone is not None:
            raise BadInput(f"{canonical(address)} is not scoped, so it takes no zone (%{zone})")
        return Destination(address, None)
    if zone is not None:
        for link in links:
            if zone in (link.name, str(link.index)):
                return Destination(address, link)
        known = ", ".join(f"{link.name} ({link.index})" for link in links) or "none"
        raise BadInput(f"unknown zone {zone!r} for {canonical(address)} (links: {known})")
    if len(links) == 1:
        only = links[0]
        return Destination(address, only, f"no zone given: using {only.name}, the only link")
    if not links:
        raise BadInput(f"{canonical(address)} is scoped to a link, and this host has no link up")
    names = ", ".join(link.name for link in links)
    first = links[0].name
    raise AmbiguousScope(
        f"{canonical(address)} is scoped to a link and this host has {len(links)} "
        f"({names}): say which, e.g. {canonical(address)}%{first}, or {how}"
    )
