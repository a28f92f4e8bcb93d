"""The multicast keys of a lab file's host (``multicast_routes``, ``proxy``),
read and checked: a part of :mod:`._configread`'s reader, pure like it."""

from __future__ import annotations

import ipaddress

from ._checks import Checks
from ._config import IPAddress, MulticastProxy, MulticastRoute


class MulticastKeys(Checks):
    """Reads a host's static multicast routes and its IGMP/MLD proxy."""

    def multicast_route(self, raw: object, key: str, ifnames: set[str]) -> MulticastRoute:
        table = self.table(raw, key, ("group", "source", "in", "out"))
        for needed in ("group", "in", "out"):
            if needed not in table:
                raise self.fail(key, f"a multicast route needs {needed!r}")
        group = self.ip(table["group"], f"{key}.group")
        if not group.is_multicast:
            raise self.fail(f"{key}.group", f"{group} is not a multicast address")
        source = self.ip(table["source"], f"{key}.source") if "source" in table else None
        if source is not None and source.version != group.version:
            raise self.fail(f"{key}.source", f"{source} and {group} are not of one IP version")
        inbound = self.interface_of(table["in"], f"{key}.in", ifnames)
        outbound = []
        for j, text in enumerate(self.array(table["out"], f"{key}.out")):
            where = f"{key}.out[{j}]"
            name, _, ttl_text = self.string(text, where).partition(":")
            ttl = 1
            if ttl_text:
                if not ttl_text.isdigit() or not 1 <= int(ttl_text) <= 255:
                    raise self.fail(where, f"the TTL threshold {ttl_text!r} is not 1 to 255")
                ttl = int(ttl_text)
            outbound.append((self.interface_of(name, where, ifnames), ttl))
        if not outbound:
            raise self.fail(f"{key}.out", "a multicast route needs an outbound interface")
        if inbound in {n for n, _ in outbound}:
            raise self.fail(key, f"{inbound} is both the inbound and an outbound interface")
        return MulticastRoute(group, source, inbound, tuple(outbound))

    def proxy(self, raw: object, key: str, ifnames: set[str]) -> MulticastProxy:
        table = self.table(raw, key, ("upstream", "downstream", "igmp_version", "mld_version"))
        if "upstream" not in table or "downstream" not in table:
            raise self.fail(key, "a proxy needs an upstream and a downstream interface")
        upstream = self.interface_of(table["upstream"], f"{key}.upstream", ifnames)
        downstream = tuple(
            self.interface_of(d, f"{key}.downstream[{j}]", ifnames)
            for j, d in enumerate(self.array(table["downstream"], f"{key}.downstream"))
        )
        if not downstream:
            raise self.fail(f"{key}.downstream", "a proxy needs a downstream interface")
        if upstream in downstream:
            raise self.fail(key, f"{upstream} is both the upstream and a downstream interface")
        if len(set(downstream)) != len(downstream):
            raise self.fail(f"{key}.downstream", "an interface is named twice")
        igmp = table.get("igmp_version", 3)
        mld = table.get("mld_version", 2)
        if igmp not in (0, 2, 3) or isinstance(igmp, bool):
            raise self.fail(f"{key}.igmp_version", "the IGMP version is 2 or 3 (0: no IGMP)")
        if mld not in (0, 1, 2) or isinstance(mld, bool):
            raise self.fail(f"{key}.mld_version", "the MLD version is 1 or 2 (0: no MLD)")
        return MulticastProxy(upstream, downstream, igmp, mld)

    def interface_of(self, value: object, key: str, ifnames: set[str]) -> str:
        name = self.string(value, key)
        if name not in ifnames:
            have = ", ".join(sorted(ifnames)) or "none"
            raise self.fail(key, f"this host has no interface {name!r} (it has: {have})")
        return name

    def ip(self, value: object, key: str) -> IPAddress:
        text = self.string(value, key)
        try:
            return ipaddress.ip_address(text)
        except ValueError as exc:
            raise self.fail(key, f"invalid address: {exc}") from None
