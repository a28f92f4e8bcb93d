"""From a checked lab to the ordered steps that build it, as data.

Rules of this module:
- Pure: a :class:`~ipv6.lab._config.LabConfig` and a tag in, a :class:`Plan`
  out. The executor (``_kernel``) carries the steps out; tests read them.
- Everything a lab makes lives in network namespaces the lab owns: veth
  pairs are created with each end directly in its namespace and bridges sit
  in a namespace of their own, so nothing ever appears in the root namespace
  and taking the lab down is removing its namespaces.
- Every namespace name starts with the lab's tag (``NAME-XXXX``), so two labs,
  or two test runs of one file, never collide.
- Order matters and is fixed here: settings meant for every interface go to
  ``all``/``default`` before links exist (new interfaces inherit them, and a
  link-local address is made with the right DAD setting); per-interface
  settings and addresses come before the link is up; routes come after it.
  What the hosts run (static multicast routes, a proxy) starts last, once
  every address is ready.
- A host's programs are the toolkit's own commands, run by module name
  (``python -m mcast ...``) inside the host: the lab starts them as programs
  and never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._kernelops import AddAddress, AddRoute, KernelOp, SetLinkState, WriteSysctl
from ._config import LabConfig, Route, Setting

BRIDGE_IFNAME = "br0"


@dataclass(frozen=True)
class CreateNamespace:
    namespace: str
    role: str  # "host" or "bridge"
    owner: str  # the host's or link's name in the lab

    def describe(self) -> str:
        return f"create namespace {self.namespace} for {self.role} {self.owner}"


@dataclass(frozen=True)
class CreateBridge:
    namespace: str
    ifname: str
    mtu: int | None
    snooping: bool
    querier: bool = False

    def describe(self) -> str:
        return f"create bridge {self.ifname} in {self.namespace}"


@dataclass(frozen=True)
class SetRouterPort:
    """Make a bridge port a permanent multicast router port (it gets every group)."""

    namespace: str
    port: str

    def describe(self) -> str:
        return f"make {self.port} a multicast router port in {self.namespace}"


@dataclass(frozen=True)
class RunInHost:
    """Run a toolkit command (``python -m MODULE ARGS``) in a host, to completion."""

    namespace: str
    argv: tuple[str, ...]  # the module and its arguments
    stdin: str
    text: str

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class StartInHost:
    """Start a toolkit command that runs until the lab goes down; its output goes
    to ``log`` (a file name in the labs' state directory). It has started when
    a line of its output begins with ``ready``."""

    namespace: str
    argv: tuple[str, ...]
    ready: str
    log: str
    text: str

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class CreateVeth:
    namespace: str
    ifname: str
    peer_namespace: str
    peer_ifname: str
    mtu: int | None
    mac: str | None
    peer_mac: str | None

    def describe(self) -> str:
        return (
            f"create veth {self.namespace}:{self.ifname} <-> "
            f"{self.peer_namespace}:{self.peer_ifname}"
        )


@dataclass(frozen=True)
class AttachToBridge:
    namespace: str
    ifname: str
    bridge: str

    def describe(self) -> str:
        return f"attach {self.ifname} to {self.bridge} in {self.namespace}"


@dataclass(frozen=True)
class WaitForAddresses:
    """Wait until no address in these namespaces is still tentative (DAD)."""

    namespaces: tuple[str, ...]

    def describe(self) -> str:
        return "wait for duplicate address detection to finish"


@dataclass(frozen=True)
class InNamespace:
    """One of the shared kernel operations (:mod:`ipv6._kernelops`: a sysctl, an
    address, a link brought up, a route), carried out inside a lab namespace."""

    namespace: str
    op: KernelOp
    text: str  # what the step does, in the lab's words
    setting: str = ""  # for a sysctl: the lab file's name for it

    def describe(self) -> str:
        return self.text


Step = (
    CreateNamespace
    | CreateBridge
    | CreateVeth
    | AttachToBridge
    | InNamespace
    | WaitForAddresses
    | SetRouterPort
    | RunInHost
    | StartInHost
)


def write_sysctl(namespace: str, path: str, value: str, setting: str) -> InNamespace:
    dotted = path.replace("/", ".")
    return InNamespace(
        namespace, WriteSysctl(path, value), f"set {dotted}={value} in {namespace}", setting
    )


def add_address(namespace: str, op: AddAddress) -> InNamespace:
    nodad = "" if op.dad or op.address.version == 4 else " (no DAD)"
    text = f"add address {op.address} to {namespace}:{op.interface}{nodad}"
    return InNamespace(namespace, op, text)


def link_up(namespace: str, ifname: str) -> InNamespace:
    return InNamespace(namespace, SetLinkState(ifname), f"bring {namespace}:{ifname} up")


def add_route(namespace: str, route: Route) -> InNamespace:
    op = AddRoute(
        route.to,
        route.dev,
        route.via,
        route.metric,
        table=route.table,
        kind=route.type,
        source=route.src,
    )
    return InNamespace(namespace, op, f"add route {route.describe()} in {namespace}")


@dataclass(frozen=True)
class Plan:
    lab: str
    tag: str
    hosts: dict[str, str]  # host name -> namespace
    bridges: dict[str, str]  # link name -> namespace
    steps: tuple[Step, ...]

    @property
    def namespaces(self) -> list[str]:
        """Every namespace the plan makes, in the order it makes them."""
        return [s.namespace for s in self.steps if isinstance(s, CreateNamespace)]


def host_namespace(tag: str, host: str) -> str:
    return f"{tag}-{host}"


def plan_up(config: LabConfig, tag: str) -> Plan:
    """The steps that build ``config`` with names tagged ``tag``."""
    hosts = {h.name: host_namespace(tag, h.name) for h in config.hosts}
    bridges = {
        link.name: host_namespace(tag, link.name) for link in config.links if link.kind == "bridge"
    }
    steps: list[Step] = []

    for host in config.hosts:
        ns = hosts[host.name]
        steps.append(CreateNamespace(ns, "host", host.name))
        steps += _early_settings(ns, host.settings)
        steps.append(link_up(ns, "lo"))

    for link in config.links:
        if link.kind != "bridge":
            continue
        ns = bridges[link.name]
        steps.append(CreateNamespace(ns, "bridge", link.name))
        # The switch itself must stay silent: no IPv6 on its ports means no
        # MLD reports or neighbour discovery of its own on the lab's links.
        for where in ("all", "default"):
            steps.append(
                write_sysctl(ns, f"net/ipv6/conf/{where}/disable_ipv6", "1", "disable_ipv6")
            )
        steps.append(link_up(ns, "lo"))
        steps.append(CreateBridge(ns, BRIDGE_IFNAME, link.mtu, link.snooping, link.querier))

    for link in config.links:
        if link.kind == "veth":
            a, b = link.endpoints
            steps.append(
                CreateVeth(hosts[a.host], a.ifname, hosts[b.host], b.ifname, link.mtu, a.mac, b.mac)
            )
            continue
        ns = bridges[link.name]
        for ep in link.endpoints:
            steps.append(CreateVeth(hosts[ep.host], ep.ifname, ns, ep.host, link.mtu, ep.mac, None))
            steps.append(AttachToBridge(ns, ep.host, BRIDGE_IFNAME))
            if ep.host in link.router_ports:
                steps.append(SetRouterPort(ns, ep.host))
            steps.append(link_up(ns, ep.host))
        steps.append(link_up(ns, BRIDGE_IFNAME))

    for host in config.hosts:
        ns = hosts[host.name]
        for _link, ep in config.endpoints_of(host.name):
            steps += _interface_settings(ns, ep.ifname, host.settings)
            steps += _interface_settings(ns, ep.ifname, ep.settings)
            if not ep.dad:
                steps.append(
                    write_sysctl(ns, f"net/ipv6/conf/{ep.ifname}/accept_dad", "0", "dad = false")
                )
        steps += _named_interface_settings(ns, host.settings)
        for _link, ep in config.endpoints_of(host.name):
            steps += [
                add_address(ns, AddAddress(ep.ifname, addr, dad=ep.dad, broadcast=True))
                for addr in ep.addresses
            ]
        for _link, ep in config.endpoints_of(host.name):
            steps.append(link_up(ns, ep.ifname))

    for host in config.hosts:
        steps += [add_route(hosts[host.name], route) for route in host.routes]

    steps.append(WaitForAddresses(tuple(hosts.values())))

    for host in config.hosts:
        ns = hosts[host.name]
        if host.multicast_routes:
            lines = "".join(route.line() + "\n" for route in host.multicast_routes)
            steps.append(RunInHost(ns, ("mcast", "route", "load", "-"), lines,
                                   f"install {len(host.multicast_routes)} static multicast "
                                   f"route(s) in {ns}"))  # fmt: skip
        if host.proxy is not None:
            steps.append(StartInHost(ns, ("mcast", "proxy", *host.proxy.arguments()),
                                     "proxy: upstream", f"{ns}-proxy.log",
                                     f"start the IGMP/MLD proxy in {ns} "
                                     f"({host.proxy.upstream} up, "
                                     f"{', '.join(host.proxy.downstream)} down)"))  # fmt: skip
    return Plan(config.name, tag, hosts, bridges, tuple(steps))


def _early_settings(ns: str, settings: tuple[Setting, ...]) -> list[Step]:
    """Settings written when the namespace is new: globals and all/default."""
    out: list[Step] = []
    for s in settings:
        if s.target.per_interface:
            out += [write_sysctl(ns, s.target.path(w), s.value, s.name) for w in ("all", "default")]
        elif s.target.interface in (None, "all", "default"):
            out.append(write_sysctl(ns, s.target.path(), s.value, s.name))
    return out


def _interface_settings(ns: str, ifname: str, settings: tuple[Setting, ...]) -> list[Step]:
    """Per-interface settings, written to one interface once it exists."""
    return [
        write_sysctl(ns, s.target.path(ifname), s.value, s.name)
        for s in settings
        if s.target.per_interface
    ]


def _named_interface_settings(ns: str, settings: tuple[Setting, ...]) -> list[Step]:
    """Dotted settings that name one interface (``net.ipv6.conf.eth0.x``)."""
    return [
        write_sysctl(ns, s.target.path(), s.value, s.name)
        for s in settings
        if not s.target.per_interface and s.target.interface not in (None, "all", "default")
    ]
