"""Which sysctl files a lab setting means, as data.

Rules of this module:
- A lab names a setting either by a short name from :data:`FRIENDLY` or by its
  full dotted name under ``net.`` (the only tree that belongs to a network
  namespace; anything else would change the whole machine, so it is refused).
- A per-interface setting (``net.ipv6.conf.X.accept_ra``) is written to
  ``all`` and ``default`` before the host's links exist, so every interface
  made later inherits it, and to each interface once it exists, because many
  IPv6 settings written to ``all`` do not reach existing interfaces.
- Values are integers; ``true``/``false`` are 1/0.

No I/O here: :func:`resolve` turns a name into :class:`SysctlTarget` data and
the executor writes the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import BadInput


@dataclass(frozen=True)
class SysctlTarget:
    """One setting: a global path, or a per-interface template with ``{if}``."""

    template: str

    @property
    def per_interface(self) -> bool:
        return "{if}" in self.template

    def path(self, interface: str | None = None) -> str:
        """The path below /proc/sys; ``interface`` fills ``{if}`` (default ``all``).

        Dots separate the levels of the name, while an interface name keeps its
        own dots, so the template is split before the interface is put in.
        """
        parts = [(interface or "all") if p == "{if}" else p for p in self.template.split(".")]
        return "/".join(parts)

    @property
    def interface(self) -> str | None:
        """The interface a dotted ``net.*.conf.IF.key`` name addresses, if any."""
        match = None if self.per_interface else _CONF.match(self.template)
        return match.group(2) if match else None


def _conf(family: str, key: str) -> SysctlTarget:
    return SysctlTarget(f"net.{family}.conf.{{if}}.{key}")


# Short names a lab file may use, and the settings each one means.
FRIENDLY: dict[str, tuple[SysctlTarget, ...]] = {
    "forwarding": (_conf("ipv4", "forwarding"), _conf("ipv6", "forwarding")),
    "ipv4_forwarding": (_conf("ipv4", "forwarding"),),
    "ipv6_forwarding": (_conf("ipv6", "forwarding"),),
    "accept_ra": (_conf("ipv6", "accept_ra"),),
    "accept_dad": (_conf("ipv6", "accept_dad"),),
    "autoconf": (_conf("ipv6", "autoconf"),),
    "disable_ipv6": (_conf("ipv6", "disable_ipv6"),),
    "force_igmp_version": (_conf("ipv4", "force_igmp_version"),),
    "force_mld_version": (_conf("ipv6", "force_mld_version"),),
    "rp_filter": (_conf("ipv4", "rp_filter"),),
    "mc_forwarding": (_conf("ipv4", "mc_forwarding"),),
    "bindv6only": (SysctlTarget("net.ipv6.bindv6only"),),
    "igmp_max_memberships": (SysctlTarget("net.ipv4.igmp_max_memberships"),),
    "igmp_max_msf": (SysctlTarget("net.ipv4.igmp_max_msf"),),
    "mld_max_msf": (SysctlTarget("net.ipv6.mld_max_msf"),),
    "ping_group_range": (SysctlTarget("net.ipv4.ping_group_range"),),
}

_DOTTED = re.compile(r"^net(\.[A-Za-z0-9_\-]+)+$")
_CONF = re.compile(r"^net\.(ipv4|ipv6)\.conf\.([^.]+)\.([A-Za-z0-9_\-]+)$")


class BadSysctlValue(BadInput, ValueError):
    """A value no sysctl can hold."""


class UnknownSysctl(BadInput, ValueError):
    """The name is neither a short name nor a dotted ``net.`` name."""


def resolve(name: str) -> tuple[SysctlTarget, ...]:
    """The settings ``name`` means; raises :class:`UnknownSysctl` with the reason."""
    if name in FRIENDLY:
        return FRIENDLY[name]
    if "." not in name:
        known = ", ".join(sorted(FRIENDLY))
        raise UnknownSysctl(f"unknown setting {name!r}; use one of {known}, or a dotted net.* name")
    if not _DOTTED.match(name):
        raise UnknownSysctl(
            f"{name!r} is not a network-namespace sysctl: only names under net. belong to a "
            "lab host (others would change the whole machine)"
        )
    return (SysctlTarget(name),)


def render_value(value: object) -> str:
    """The text written to the file; raises ValueError for a value no sysctl takes."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value and "\n" not in value:
        return value
    raise BadSysctlValue(
        f"{value!r} is not a sysctl value (use an integer, true/false or a string)"
    )
