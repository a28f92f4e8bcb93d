"""Reading a lab file: TOML text in, a checked :class:`~._config.LabConfig` out.

Rules of this module:
- Pure: text in, :class:`LabConfig` out, or one :class:`LabConfigError` that
  names the file, the key and the problem. Nothing here touches the system,
  so a bad file never leaves anything behind.
- Every table has a fixed set of keys; an unknown key is an error, not
  silently ignored (a typo in ``dad`` must not leave DAD on).
- Names that become kernel names are checked against the kernel's rules
  (an interface name is at most 15 bytes) before anything is made.

Past 400 lines as one concept: one reader for one file format, a check per key,
mostly the rules the lab format documents.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import LabConfigError
from . import _sysctl
from ._checks import AnyKey
from ._config import (
    HOST_NAME_MAX,
    IFNAMSIZ,
    IPV6_MIN_MTU,
    LAB_NAME_MAX,
    RESERVED_IFNAMES,
    ROUTE_TABLES,
    ROUTE_TYPES,
    Endpoint,
    Host,
    IPAddress,
    IPInterface,
    IPNetwork,
    LabConfig,
    Link,
    Route,
    Setting,
    endpoints_on,
)
from ._configmcast import MulticastKeys

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


_TWICE = re.compile(r"Cannot declare \('hosts', '([^']*)'\) twice")


def parse_config(
    text: str, *, source: str = "<lab>", default_name: str = "lab", name: str | None = None
) -> LabConfig:
    """Parse TOML text into a checked :class:`LabConfig` or raise :class:`LabConfigError`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        twice = _TWICE.search(str(exc))
        if twice:
            raise LabConfigError(
                source, f"hosts.{twice.group(1)}", f"host {twice.group(1)!r} is defined twice"
            ) from None
        raise LabConfigError(source, "", f"not valid TOML: {exc}") from None
    return _Reader(source).lab(doc, default_name=default_name, name=name)


class _Reader(MulticastKeys):
    """Walks the parsed document, keeping the file name for every error."""

    # -- the document --

    def lab(self, doc: Mapping[str, Any], *, default_name: str, name: str | None) -> LabConfig:
        doc = self.table(doc, "", ("name", "description", "hosts", "links"))
        if name is not None:
            lab_name = self.name(name, "name", "lab", LAB_NAME_MAX)
        elif "name" in doc:
            lab_name = self.name(doc["name"], "name", "lab", LAB_NAME_MAX)
        else:
            lab_name = self.name(default_name, "name", "lab (from the file name)", LAB_NAME_MAX)
        description = self.string(doc.get("description", ""), "description")
        raw_hosts = self.table(doc.get("hosts", {}), "hosts", AnyKey())
        if not raw_hosts:
            raise self.fail("hosts", "a lab needs at least one host")
        host_names = [self.name(h, f"hosts.{h}", "host", HOST_NAME_MAX) for h in raw_hosts]
        links = self.links(doc.get("links", []), set(host_names))
        link_names = {link.name for link in links}
        for host_name in host_names:
            if host_name in link_names:
                raise self.fail(
                    f"hosts.{host_name}",
                    f"host {host_name!r} has the name of a link; give hosts and links different "
                    "names (each becomes a network namespace)",
                )
        ifnames = {h: {ep.ifname for _, ep in endpoints_on(links, h)} for h in host_names}
        hosts = tuple(self.host(raw_hosts[h], f"hosts.{h}", h, ifnames[h]) for h in host_names)
        self.check_addresses(links)
        return LabConfig(
            name=lab_name,
            hosts=hosts,
            links=tuple(links),
            description=description,
            source=self.source,
        )

    def host(
        self,
        raw: object,
        key: str,
        name: str,
        ifnames: set[str],
    ) -> Host:
        raw = self.table(
            raw, key, ("description", "sysctls", "routes", "multicast_routes", "proxy")
        )
        settings = self.settings(raw.get("sysctls", {}), f"{key}.sysctls", ifnames, host_level=True)
        routes = tuple(
            self.route(r, f"{key}.routes[{i}]", ifnames)
            for i, r in enumerate(self.array(raw.get("routes", []), f"{key}.routes"))
        )
        mroutes = tuple(
            self.multicast_route(r, f"{key}.multicast_routes[{i}]", ifnames)
            for i, r in enumerate(
                self.array(raw.get("multicast_routes", []), f"{key}.multicast_routes")
            )
        )
        proxy = self.proxy(raw["proxy"], f"{key}.proxy", ifnames) if "proxy" in raw else None
        if proxy is not None and mroutes:
            raise self.fail(
                f"{key}.proxy",
                "a host runs static multicast routes or a proxy, not both (each holds the "
                "host's multicast routing socket)",
            )
        return Host(
            name=name,
            settings=settings,
            routes=routes,
            description=self.string(raw.get("description", ""), f"{key}.description"),
            multicast_routes=mroutes,
            proxy=proxy,
        )

    def settings(
        self, raw: object, key: str, ifnames: set[str], *, host_level: bool
    ) -> tuple[Setting, ...]:
        table = self.table(raw, key, AnyKey())
        out: list[Setting] = []
        for setting_name, value in table.items():
            where = f"{key}.{setting_name}"
            if not host_level and "." not in setting_name:
                targets = _sysctl.FRIENDLY.get(setting_name)
                if targets is None or not all(t.per_interface for t in targets):
                    per_if = sorted(
                        n for n, ts in _sysctl.FRIENDLY.items() if all(t.per_interface for t in ts)
                    )
                    raise self.fail(
                        where,
                        f"{setting_name!r} is not a per-interface setting; use one of "
                        f"{', '.join(per_if)}, or ipv4.KEY / ipv6.KEY",
                    )
            elif not host_level:
                family, _, conf_key = setting_name.partition(".")
                if family not in ("ipv4", "ipv6") or not conf_key or "." in conf_key:
                    raise self.fail(
                        where, f"{setting_name!r}: an interface setting is ipv4.KEY or ipv6.KEY"
                    )
                targets = (_sysctl.SysctlTarget(f"net.{family}.conf.{{if}}.{conf_key}"),)
            else:
                try:
                    targets = _sysctl.resolve(setting_name)
                except _sysctl.UnknownSysctl as exc:
                    raise self.fail(where, str(exc)) from None
            try:
                text = _sysctl.render_value(value)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None
            for target in targets:
                iface = target.interface
                if iface is not None and iface not in ("all", "default") and iface not in ifnames:
                    raise self.fail(
                        where, f"names interface {iface!r}, which this host does not have"
                    )
                out.append(Setting(setting_name, target, text))
        return tuple(out)

    def links(self, raw: object, hosts: set[str]) -> list[Link]:
        links: list[Link] = []
        seen: set[str] = set()
        next_eth: dict[str, int] = {}
        taken: dict[str, set[str]] = {h: set() for h in hosts}
        for i, raw_link in enumerate(self.array(raw, "links")):
            key = f"links[{i}]"
            table = self.table(
                raw_link,
                key,
                ("name", "description", "mtu", "snooping", "querier", "router_ports", "endpoints"),
            )
            if "name" not in table:
                raise self.fail(key, "a link needs a name")
            name = self.name(table["name"], f"{key}.name", "link", IFNAMSIZ)
            key = f"links.{name}"
            if name in seen:
                raise self.fail(key, f"link {name!r} is defined twice")
            seen.add(name)
            mtu = None
            if "mtu" in table:
                mtu = self.integer(table["mtu"], f"{key}.mtu", 68, 65535)
            raw_eps = self.array(table.get("endpoints", []), f"{key}.endpoints")
            if len(raw_eps) < 2:
                raise self.fail(f"{key}.endpoints", "a link joins at least two hosts")
            endpoints: list[Endpoint] = []
            on_link: set[str] = set()
            for j, raw_ep in enumerate(raw_eps):
                ep_key = f"{key}.endpoints[{j}]"
                ep = self.endpoint(raw_ep, ep_key, hosts, next_eth, taken)
                if ep.host in on_link:
                    raise self.fail(
                        ep_key, f"host {ep.host!r} is on link {name!r} twice; use a second link"
                    )
                on_link.add(ep.host)
                endpoints.append(ep)
            if (
                mtu is not None
                and mtu < IPV6_MIN_MTU
                and any(a.version == 6 for ep in endpoints for a in ep.addresses)
            ):
                raise self.fail(
                    f"{key}.mtu", f"{mtu} is below {IPV6_MIN_MTU}, the least MTU IPv6 runs on"
                )
            snooping = self.boolean(table.get("snooping", False), f"{key}.snooping")
            if snooping and len(endpoints) == 2:
                raise self.fail(
                    f"{key}.snooping", "only a bridge (a link of three or more hosts) snoops"
                )
            querier = self.boolean(table.get("querier", False), f"{key}.querier")
            listed = self.array(table.get("router_ports", []), f"{key}.router_ports")
            router_ports = tuple(
                self.string(p, f"{key}.router_ports[{j}]") for j, p in enumerate(listed)
            )
            for option, given in (("querier", querier), ("router_ports", router_ports)):
                if given and not snooping:
                    raise self.fail(
                        f"{key}.{option}", "only a snooping bridge (snooping = true) has one"
                    )
            for port in router_ports:
                if port not in on_link:
                    raise self.fail(f"{key}.router_ports", f"host {port!r} is not on this link")
            links.append(
                Link(
                    name=name,
                    endpoints=tuple(endpoints),
                    mtu=mtu,
                    snooping=snooping,
                    querier=querier,
                    router_ports=router_ports,
                    description=self.string(table.get("description", ""), f"{key}.description"),
                )
            )
        return links

    def endpoint(
        self,
        raw: object,
        key: str,
        hosts: set[str],
        next_eth: dict[str, int],
        taken: dict[str, set[str]],
    ) -> Endpoint:
        table = self.table(raw, key, ("host", "ifname", "addresses", "dad", "mac", "sysctls"))
        if "host" not in table:
            raise self.fail(key, "an endpoint needs a host")
        host = self.string(table["host"], f"{key}.host")
        if host not in hosts:
            known = ", ".join(sorted(hosts))
            raise self.fail(f"{key}.host", f"host {host!r} is not defined (hosts: {known})")
        if "ifname" in table:
            ifname = self.ifname(table["ifname"], f"{key}.ifname")
        else:
            n = next_eth.get(host, 0)
            while f"eth{n}" in taken[host]:
                n += 1
            ifname = f"eth{n}"
            next_eth[host] = n + 1
        if ifname in taken[host]:
            raise self.fail(f"{key}.ifname", f"host {host!r} already has an interface {ifname!r}")
        taken[host].add(ifname)
        addresses = tuple(
            self.address(a, f"{key}.addresses[{k}]")
            for k, a in enumerate(self.array(table.get("addresses", []), f"{key}.addresses"))
        )
        mac = None
        if "mac" in table:
            mac = self.string(table["mac"], f"{key}.mac").lower()
            if not _MAC.match(mac):
                raise self.fail(
                    f"{key}.mac", f"{mac!r} is not a MAC address like 02:00:00:00:00:01"
                )
            if int(mac[:2], 16) & 1:
                raise self.fail(
                    f"{key}.mac", f"{mac} is a multicast MAC; an interface needs unicast"
                )
        return Endpoint(
            host=host,
            ifname=ifname,
            addresses=addresses,
            dad=self.boolean(table.get("dad", True), f"{key}.dad"),
            mac=mac,
            settings=self.settings(
                table.get("sysctls", {}), f"{key}.sysctls", set(), host_level=False
            ),
        )

    def ifname(self, value: object, key: str) -> str:
        text = self.string(value, key)
        size = len(text.encode("utf-8"))
        if size == 0:
            raise self.fail(key, "an interface name cannot be empty")
        if size > IFNAMSIZ:
            raise self.fail(
                key,
                f"interface name {text!r} is {size} bytes; the kernel allows at most {IFNAMSIZ}",
            )
        if text in (".", "..") or any(c in text for c in "/:\0") or any(c.isspace() for c in text):
            raise self.fail(key, f"interface name {text!r} may not contain '/', ':', NUL or spaces")
        if text in RESERVED_IFNAMES:
            raise self.fail(key, f"interface name {text!r} is reserved")
        return text

    def address(self, value: object, key: str) -> IPInterface:
        text = self.string(value, key)
        if "/" not in text:
            raise self.fail(
                key, f"{text!r} needs a prefix length, like 192.0.2.1/24 or 2001:db8::1/64"
            )
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError as exc:
            raise self.fail(key, f"invalid address or prefix: {exc}") from None
        if iface.ip.is_multicast or iface.ip.is_unspecified:
            raise self.fail(key, f"{iface.ip} cannot be an interface's address")
        return iface

    def route(self, raw: object, key: str, ifnames: set[str]) -> Route:
        table = self.table(raw, key, ("to", "via", "dev", "metric", "table", "src", "type"))
        if "to" not in table:
            raise self.fail(key, "a route needs 'to' (a prefix or \"default\")")
        to_text = self.string(table["to"], f"{key}.to")
        via = None
        if "via" in table:
            via = self.ip(table["via"], f"{key}.via")
        if to_text == "default":
            if via is None:
                raise self.fail(
                    f"{key}.to",
                    "a default route without via does not say its family: write 0.0.0.0/0 or ::/0",
                )
            to: IPNetwork = ipaddress.ip_network("0.0.0.0/0" if via.version == 4 else "::/0")
        else:
            try:
                to = ipaddress.ip_network(to_text)
            except ValueError as exc:
                raise self.fail(f"{key}.to", f"invalid prefix: {exc}") from None
        route_type = self.string(table.get("type", "unicast"), f"{key}.type")
        if route_type not in ROUTE_TYPES:
            raise self.fail(f"{key}.type", f"{route_type!r} is not one of {', '.join(ROUTE_TYPES)}")
        if via is not None and via.version != to.version:
            raise self.fail(f"{key}.via", f"next hop {via} is not of the family of {to}")
        dev = None
        if "dev" in table:
            dev = self.string(table["dev"], f"{key}.dev")
            if dev not in ifnames and dev != "lo":
                known = ", ".join(sorted(ifnames)) or "none"
                raise self.fail(f"{key}.dev", f"the host has no interface {dev!r} (it has {known})")
        if route_type in ("unicast", "multicast") and via is None and dev is None:
            raise self.fail(key, "a route needs 'via' or 'dev'")
        if via is not None and via.is_link_local and dev is None:
            raise self.fail(
                f"{key}.dev", f"a link-local next hop ({via}) needs 'dev' to say which link"
            )
        metric = None
        if "metric" in table:
            metric = self.integer(table["metric"], f"{key}.metric", 0, 2**32 - 1)
        table_id = None
        if "table" in table:
            raw_table = table["table"]
            if isinstance(raw_table, str):
                if raw_table not in ROUTE_TABLES:
                    raise self.fail(f"{key}.table", f"{raw_table!r}: use main, local or a number")
                table_id = ROUTE_TABLES[raw_table]
            else:
                table_id = self.integer(raw_table, f"{key}.table", 1, 2**32 - 1)
        src = None
        if "src" in table:
            src = self.ip(table["src"], f"{key}.src")
            if src.version != to.version:
                raise self.fail(f"{key}.src", f"source {src} is not of the family of {to}")
        return Route(
            to=to,
            via=via,
            dev=dev,
            metric=metric,
            table=table_id,
            src=src,
            type=route_type,
        )

    def check_addresses(self, links: Sequence[Link]) -> None:
        """An address may stand once in a lab; a link-local one once on its link."""
        seen: dict[IPAddress, str] = {}
        for link in links:
            link_local: dict[IPAddress, str] = {}
            for ep in link.endpoints:
                for addr in ep.addresses:
                    where = f"{ep.host}:{ep.ifname}"
                    scope = link_local if addr.ip.is_link_local else seen
                    if addr.ip in scope:
                        raise self.fail(
                            f"links.{link.name}",
                            f"address {addr.ip} is on both {scope[addr.ip]} and {where}",
                        )
                    scope[addr.ip] = where
