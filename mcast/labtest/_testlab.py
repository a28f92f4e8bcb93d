"""A lab for a test: built under a name no other test uses, its hosts ready to
run the program under test, and taken down with everything it started, even
when the test fails or is interrupted.

Two faces over one lab: :class:`Lab` for plain tests (each call waits and
returns), and ``_asynclab``'s :class:`AsyncLab` for Trio tests. The pytest plugin
(``_plugin``) picks the face by the test function; scripts use
:func:`open_lab_for_test` (synchronous) directly.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ipv6 import LabError
from ipv6.lab import LabConfig, LabRecord, load_config
from ipv6.lab import down as lab_down

from ._support import READY, stop_process, wait_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mcast import PingReport

    from ._pieces import Nat64Gateway, StreamResult, Tunnel

T = TypeVar("T")
Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface

_names = itertools.count()
_up: dict[str, LabRecord] = {}  # labs this process brought up and has not taken down
_lock = threading.Lock()


PREFIX_ENV = "TOOLKIT_LAB_PREFIX"  # what the plugin's lab names start with (default "t")
_PREFIX = re.compile(r"[a-z][a-z0-9]{0,5}\Z")


def lab_prefix() -> str:
    """The start of the plugin's lab names: ``$TOOLKIT_LAB_PREFIX`` (a letter and up
    to 5 letters or digits, to tell one suite's labs from another's), else ``t``."""
    prefix = os.environ.get(PREFIX_ENV, "t")
    if not _PREFIX.match(prefix):
        raise LabError(f"{PREFIX_ENV}={prefix!r}: a lowercase letter, then up to 5 letters "
                       "or digits")  # fmt: skip
    return prefix


def unique_name(prefix: str | None = None) -> str:
    """A lab name no other test of any run uses: the prefix, the process (and xdist
    worker) and a counter (at most 16 characters, as lab names are)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "").replace("gw", "w")
    start = lab_prefix() if prefix is None else prefix
    return f"{start}{os.getpid() % 100000}{worker}-{next(_names)}"[:16]


def _down_everything_left() -> None:
    """At exit (an interrupted run): take down the labs not yet taken down."""
    for name in list(_up):
        with contextlib.suppress(Exception):
            lab_down(name)
        _up.pop(name, None)


atexit.register(_down_everything_left)


def resolve_config(what: str | Path | LabConfig, name: str, near: Path | None = None) -> LabConfig:
    """A lab config: a shipped lab's name, a file (relative to ``near``, the test's
    directory, when it is there), or a LabConfig; named ``name``."""
    if isinstance(what, LabConfig):
        from dataclasses import replace

        return replace(what, name=name)
    from ipv6.lab import builtin_lab, builtin_labs

    text = str(what)
    if near is not None and (near / text).is_file():
        text = str(near / text)
    elif not Path(text).is_file():
        shipped = builtin_lab(text)
        if shipped is None:
            names = ", ".join(sorted(builtin_labs()))
            raise LabError(f"{text}: no such lab file, nor a shipped lab ({names})")
        text = str(shipped)
    return load_config(text, name=name)


@dataclass
class Host:
    """One host of a test's lab, for plain (synchronous) tests."""

    lab: Lab
    name: str
    namespace: str
    addresses: dict[str, list[Address]] = field(default_factory=dict)  # interface -> addresses

    def __repr__(self) -> str:
        return f"<Host {self.lab.name}:{self.name}>"

    def address(self, family: int = 4, interface: str | None = None) -> str:
        """The host's first address of a family (4 or 6) from the lab file, as text."""
        for ifname, found in self.addresses.items():
            if interface is not None and ifname != interface:
                continue
            for address in found:
                if address.version == family:
                    return str(address.ip)
        where = f" on {interface}" if interface else ""
        raise LabError(f"host {self.name} has no IPv{family} address{where} in the lab file")

    def argv(self, command: Sequence[str]) -> list[str]:
        """The command line that runs ``command`` in this host, from any process."""
        from ipv6.lab import exec_argv

        return exec_argv(self.lab.record, self.name, list(command))

    def run(
        self, command: Sequence[str], *, check: bool = False, timeout: float | None = 60,
        input: str | bytes | None = None, text: bool = True, env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[Any]:  # fmt: skip
        """Run ``command`` in this host and wait for it: the finished process, its
        ``returncode``, ``stdout`` and ``stderr`` (text unless ``text=False``)."""
        argv = self.argv(_with_env(command, env))
        data = input.encode() if isinstance(input, str) and not text else input
        return subprocess.run(
            argv, capture_output=True, text=text, timeout=timeout, check=check, input=data
        )

    def spawn(
        self, command: Sequence[str], *, env: dict[str, str] | None = None, text: bool = True,
        stdout: Any = subprocess.PIPE, stderr: Any = subprocess.PIPE,
    ) -> subprocess.Popen[Any]:  # fmt: skip
        """Start ``command`` in this host; it is stopped (SIGTERM, then SIGKILL) when the
        lab is taken down, if it has not ended by then."""
        process = subprocess.Popen(
            self.argv(_with_env(command, env)), stdout=stdout, stderr=stderr, text=text,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.lab.processes.append(process)
        return process

    def socket(
        self, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM, proto: int = 0
    ) -> socket.socket:
        """A socket that lives in this host's network namespace."""
        with self.inside():
            return socket.socket(family, type, proto)

    def inside(self) -> contextlib.AbstractContextManager[None]:
        """``with host.inside():`` this thread is in the host until the block ends."""
        from ipv6.lab import inside_namespace

        return inside_namespace(self.namespace)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call a function with this thread inside the host."""
        with self.inside():
            return fn(*args)

    def listening(self, port: int, protocol: str = "tcp", family: int | None = None) -> bool:
        """Whether a socket in this host listens on ``port`` (TCP) or is bound to it
        (``protocol="udp"``), any address, of ``family`` (4 or 6; None: either)."""
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"protocol is tcp or udp, not {protocol!r}")
        wanted = f":{port:04X} "
        tables = {4: [protocol], 6: [f"{protocol}6"]}.get(family or 0, [protocol, f"{protocol}6"])
        with self.inside():  # /proc/thread-self/net is this thread's namespace's
            for table in tables:
                with open(f"/proc/thread-self/net/{table}", encoding="ascii") as rows:
                    next(rows)
                    for row in rows:
                        local, state = row.split()[1], row.split()[3]
                        if (local + " ").endswith(wanted) and (protocol == "udp" or state == "0A"):
                            return True
        return False

    def udp_drops(self, port: int) -> int:
        """What the kernel dropped for the UDP sockets bound to ``port`` in this host
        (their receive queues were full), either family, as /proc/net/udp counts it."""
        total = 0
        wanted = f":{port:04X}"
        with self.inside():
            for table in ("udp", "udp6"):
                with open(f"/proc/thread-self/net/{table}", encoding="ascii") as rows:
                    next(rows)
                    for row in rows:
                        fields = row.split()
                        if fields[1].endswith(wanted):
                            total += int(fields[-1])
        return total

    def joined(self, group: str, interface: str | None = None) -> bool:
        """Whether a socket in this host has joined ``group`` (on ``interface``), as the
        kernel's membership tables say."""
        from ipv6 import read_host_joins

        wanted = ipaddress.ip_address(group)
        return any(
            j.group == wanted and interface in (None, j.interface)
            for j in self.call(read_host_joins)
        )

    def wait_listening(self, port: int, protocol: str = "tcp", timeout: float = READY) -> None:
        """Wait until :meth:`listening` (a server the test spawned is ready); LabError
        after ``timeout`` seconds."""
        wait_for(lambda: self.listening(port, protocol),
                 f"{self.name} to listen on {protocol} port {port}", timeout)  # fmt: skip

    def resolver(self, nameserver: str, search: Sequence[str] = ()) -> None:
        """Commands run in this host (``run``, ``spawn``) resolve names through
        ``nameserver`` (their /etc/resolv.conf is the host's own, as ``ip netns exec``
        gives it); code in :meth:`inside` still uses the machine's."""
        from ipv6.lab import ETC_NETNS

        ipaddress.ip_address(nameserver)
        directory = Path(ETC_NETNS) / self.namespace
        if not directory.exists():
            directory.mkdir(parents=True)
            self.lab.etc.append(directory)
        lines = [f"nameserver {nameserver}"]
        if search:
            lines.append("search " + " ".join(search))
        (directory / "resolv.conf").write_text("\n".join(lines) + "\n", encoding="ascii")

    def toolkit(self, *words: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A toolkit command in this host (``ipv6 ...``, ``mcast ...``, ``netsh ...``),
        its state kept with the lab's; a failure is one line in the AssertionError."""
        modules = {"ipv6": "ipv6", "mcast": "mcast", "netsh": "ipv6.cli.netsh",
                   "ipsec6": "ipv6.cli.ipsec6"}  # fmt: skip
        command = [sys.executable, "-m", modules[words[0]], *words[1:]]
        done = self.run(command, env={"NETSH_STATE_DIR": str(self.lab.state / self.name)})
        if check and done.returncode != 0:
            raise AssertionError(f"{self.name}$ {' '.join(words)}: {done.stderr.strip()}")
        return done


def _with_env(command: Sequence[str], env: dict[str, str] | None) -> list[str]:
    if not env:
        return list(command)
    return ["env", *(f"{k}={v}" for k, v in env.items()), *command]


class Lab:
    """A test's lab (plain tests): its hosts, the pieces it started, and the work to
    take it down."""

    def __init__(self, record: LabRecord, config: LabConfig) -> None:
        self.record = record
        self.name = record.name
        self.config = config
        self.processes: list[subprocess.Popen[Any]] = []
        self.state = Path(tempfile.mkdtemp(prefix=f"labtest-{self.name}-"))
        self.etc: list[Path] = []  # /etc/netns/NAMESPACE directories this lab made
        addresses: dict[str, dict[str, list[Address]]] = {h: {} for h in record.hosts}
        for link in config.links:
            for endpoint in link.endpoints:
                ifname = endpoint.ifname
                addresses[endpoint.host].setdefault(ifname, []).extend(endpoint.addresses)
        self.hosts = {
            h: Host(self, h, ns, addresses.get(h, {})) for h, ns in record.hosts.items()
        }  # fmt: skip

    def __repr__(self) -> str:
        return f"<Lab {self.name} hosts {', '.join(self.hosts)}>"

    def host(self, name: str) -> Host:
        """The host of that name (``lab["h6"]`` too); LabError names the lab's hosts."""
        self.record.namespace_of(name)  # a clear error for an unknown host
        return self.hosts[name]

    def __getitem__(self, name: str) -> Host:
        return self.host(name)

    # The pieces a test commonly needs (``_pieces``), bound here for both faces.
    def nat64(self, gateway: str = "gw", **options: Any) -> Nat64Gateway:
        """A NAT64 and its DNS64 in ``gateway``: see :func:`mcast.labtest._pieces.start_nat64`
        (``prefix``, ``pool``, ``dns64``, ``zone``, ``origin``, ``listen``)."""
        from ._pieces import start_nat64

        return start_nat64(self, gateway, **options)

    def tunnel(self, a: str, b: str, **options: Any) -> Tunnel:
        """A 6in4 (``mode="6in4"``, ``prefix``) or 6to4 (``mode="6to4"``) tunnel between
        two hosts' IPv4 addresses, each end's inner IPv6 address in the result."""
        from ._pieces import start_tunnel

        return start_tunnel(self, a, b, **options)

    def stream(self, sender: str, receiver: str, **options: Any) -> StreamResult:
        """A multicast stream from ``sender``, measured in ``receiver`` (``group``,
        ``port``, ``count``, ``rate``, ``size``, ``interface``, ``source_specific``):
        loss, duplicates, reordering, jitter, first datagram after the join. With
        ``program``, a receiving program of yours (socat, say) gets it instead and
        what it wrote out is measured."""
        from ._pieces import measured_stream

        return measured_stream(self, sender, receiver, **options)

    def mping(self, client: str, responder: str, **options: Any) -> PingReport:
        """``mcast ping`` from ``client`` to a responder started in ``responder``
        (``count``, ``interval``, ``family``): the unicast and multicast paths' report."""
        from ._pieces import multicast_ping

        return multicast_ping(self, client, responder, **options)

    def assert_reaches(self, host: str, address: str, port: int, **options: Any) -> None:
        """That ``host`` opens a TCP connection to ``address``:``port`` (``through`` a
        Nat64Gateway for an IPv4 address; ``timeout``); else an AssertionError saying
        what the network did."""
        from ._pieces import assert_reaches

        assert_reaches(self, host, address, port, **options)

    def close(self) -> None:
        """Stop what the test started in the lab, take the lab down, and fail (LabError,
        naming them) when something still holds one of its namespaces."""
        for process in self.processes:
            stop_process(process)
        try:
            report = lab_down(self.name)
        finally:
            _up.pop(self.name, None)
            shutil.rmtree(self.state, ignore_errors=True)
            for made in self.etc:
                shutil.rmtree(made, ignore_errors=True)
        if report.missing:
            holders = _holders(report.missing)
            raise LabError(
                f"lab {self.name} could not be removed: namespace(s) "
                f"{', '.join(report.missing)} still held{holders}"
            )


def _holders(namespaces: list[str]) -> str:
    """What still runs in these namespaces: ' by PID (command), ...'."""
    import psutil

    from ipv6.lab import processes_in

    found = []
    for namespace in namespaces:
        for pid in processes_in(namespace):
            try:
                command = " ".join(psutil.Process(pid).cmdline()) or psutil.Process(pid).name()
            except psutil.Error:
                command = "?"
            found.append(f"{pid} ({command[:60]})")
    return f" by {', '.join(found)}" if found else " (no process in them: a mount or a socket)"


@contextlib.contextmanager
def open_lab_for_test(
    config: str | Path | LabConfig, *, near: Path | None = None, prefix: str | None = None
) -> Iterator[Lab]:
    """A lab under a unique name for the block; down afterwards, whatever happens."""
    from ipv6.lab import up

    name = unique_name(prefix)
    resolved = resolve_config(config, name, near)
    with _lock:
        _up[name] = LabRecord(name=name, tag="", source="", created=0.0)
    try:
        record = up(resolved)
    except BaseException:
        _up.pop(name, None)
        raise
    _up[name] = record
    lab = Lab(record, resolved)
    try:
        yield lab
    finally:
        lab.close()
