"""Which interface a user means: by name, index or one of its addresses.

Thin over the kernel: socket.if_nametoindex / if_indextoname for names and
indexes, psutil for the addresses (portable). A full inventory of
interfaces belongs to ``ipv6 interfaces``; this is the lookup every command
that takes ``--interface`` shares.
"""

from __future__ import annotations

import ipaddress
import socket

from ._errors import BadInput
from ._interfaceref import InterfaceRef

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._zones import Destination


class UnknownInterface(BadInput):
    """No interface has that name, index or address."""


def interface_present(ref: InterfaceRef) -> bool:
    """Whether the interface still exists (by index: a rename keeps it)."""
    try:
        socket.if_indextoname(ref.index)
    except OSError:
        return False
    return True


def interface_names() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


def _unknown(spec: object) -> UnknownInterface:
    known = ", ".join(interface_names()) or "none"
    return UnknownInterface(f"no interface {spec!s} on this host (interfaces: {known})")


def resolve_interface(spec: str | int) -> InterfaceRef:
    """The interface named, numbered or addressed by ``spec``."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        try:
            return InterfaceRef(index, socket.if_indextoname(index))
        except OSError:
            raise _unknown(spec) from None
    try:
        return InterfaceRef(socket.if_nametoindex(spec), spec)
    except OSError:
        pass
    try:
        address = ipaddress.ip_address(spec.split("%", 1)[0])
    except ValueError:
        raise _unknown(spec) from None
    owner = interface_of_address(address)
    if owner is None:
        raise UnknownInterface(f"no interface of this host has the address {address}")
    return owner


def interface_of_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> InterfaceRef | None:
    """The interface holding ``address``, if any."""
    import psutil

    for name, entries in psutil.net_if_addrs().items():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                if ipaddress.ip_address(entry.address.split("%", 1)[0]) == address:
                    return InterfaceRef(socket.if_nametoindex(name), name)
            except (ValueError, OSError):
                continue
    return None


def addresses_of(
    interface: InterfaceRef, version: int
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The interface's addresses of one IP version."""
    import psutil

    family = socket.AF_INET if version == 4 else socket.AF_INET6
    return [
        ipaddress.ip_address(entry.address.split("%", 1)[0])
        for entry in psutil.net_if_addrs().get(interface.name, [])
        if entry.family == family
    ]


def candidate_links() -> list[InterfaceRef]:
    """The links a scoped address could mean here: up, IPv6-enabled, not loopback."""
    import psutil

    stats = psutil.net_if_stats()
    addresses = psutil.net_if_addrs()
    links = []
    for index, name in socket.if_nameindex():
        stat = stats.get(name)
        if stat is None or not stat.isup or name == "lo" or "loopback" in (stat.flags or ""):
            continue
        if any(e.family == socket.AF_INET6 for e in addresses.get(name, [])):
            links.append(InterfaceRef(index, name))
    return links


def resolve_destination(text: str, interface: str | None = None) -> Destination:
    """``DEST[%ZONE]`` as a user types it (``interface`` is a -I option's value)."""
    from ._address import split_zone
    from ._zones import choose_zone

    address, zone = split_zone(text)
    if interface is not None and zone is not None and zone != interface:
        raise BadInput(f"{text} names zone {zone} but -I says {interface}: give one")
    return choose_zone(address, zone or interface, candidate_links(), how="use -I INTERFACE")
