"""The probes of ``ipv6 capabilities``: each kernel feature tried, run as
``python -m ipv6.kernelprobe`` by :mod:`ipv6._probe`, which keeps what they
found.

The process first moves into a network namespace of its own (a new one; as
a user without privilege, a new user namespace with it), so that the
devices, states and rules it makes to find out are made where nobody else
is, and vanish with it. It prints one JSON list: each feature's name, state
(present, absent, unknown) and what was tried. It sits above every package
whose kernel interface it tries (TUN, XFRM, NFQUEUE), and nothing imports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .._features import ABSENT, BY_NAME, PRESENT, UNKNOWN

PROBE_TIMEOUT = 30.0
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
MRT_INIT = 200  # MRT6_INIT is the same number at the IPv6 level

Probe = Callable[[bool], tuple[str, str]]  # scratch namespace? -> (state, how)


# --- the probes, run in the child -------------------------------------------------------


def _mroute(family: int) -> Probe:
    def probe(scratch: bool) -> tuple[str, str]:
        if family == 4:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
            level, name = socket.IPPROTO_IP, "MRT_INIT"
        else:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            level, name = socket.IPPROTO_IPV6, "MRT6_INIT"
        with sock:
            try:
                sock.setsockopt(level, MRT_INIT, 1)
            except OSError as exc:
                if exc.errno == errno.ENOPROTOOPT:
                    return ABSENT, f"{name}: {exc.strerror}"
                if exc.errno == errno.EADDRINUSE:
                    return PRESENT, f"{name}: another router holds the routing socket"
                raise
        return PRESENT, f"{name} on a raw socket"

    return probe


def _packet(scratch: bool) -> tuple[str, str]:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0).close()
    except OSError as exc:
        if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            return ABSENT, f"an AF_PACKET socket: {exc.strerror}"
        raise
    return PRESENT, "an AF_PACKET socket"


def _link(kind: str, **extra: Any) -> Probe:
    def probe(scratch: bool) -> tuple[str, str]:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        if not scratch:
            return UNKNOWN, "not tried: making a device needs a namespace of the probe's own"
        with IPRoute() as ipr:
            try:
                if kind == "veth":
                    ipr.link("add", ifname="probe0", kind="veth", peer="probe1")
                else:
                    ipr.link("add", ifname="probe0", kind=kind, **extra)
            except NetlinkError as exc:
                if exc.code in (errno.EOPNOTSUPP, errno.ENODEV, errno.EPROTONOSUPPORT):
                    return ABSENT, f"a {kind} device: {os.strerror(exc.code)}"
                raise
            try:
                if "br_mcast_snooping" in extra:
                    (link,) = ipr.get_links(ifname="probe0")
                    info = link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
                    if not info or info.get_attr("IFLA_BR_MCAST_SNOOPING") != 1:
                        return ABSENT, "a bridge with snooping: the kernel has no snooping"
                    return PRESENT, "a bridge with multicast snooping on"
            finally:
                ipr.link("del", index=ipr.link_lookup(ifname="probe0")[0])
        return PRESENT, f"a {kind} device made and removed"

    return probe


def _tun(offload: bool) -> Probe:
    def probe(scratch: bool) -> tuple[str, str]:
        import fcntl

        from ..tunnel._tun import (
            IFF_NO_PI,
            IFF_TUN,
            IFF_VNET_HDR,
            TUN_F_CSUM,
            TUN_F_TSO6,
            TUNSETIFF,
            TUNSETOFFLOAD,
        )

        if not scratch:
            return UNKNOWN, "not tried: making a device needs a namespace of the probe's own"
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
                return ABSENT, f"/dev/net/tun: {exc.strerror}"
            raise
        try:
            flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", b"probetun", flags))
            if not offload:
                return PRESENT, "a TUN device made and removed"
            try:
                fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO6)
            except OSError as exc:
                return ABSENT, f"TUNSETOFFLOAD (checksum, TSO6): {exc.strerror}"
            return PRESENT, "TUNSETOFFLOAD (checksum, TSO6) on a TUN device with vnet headers"
        finally:
            os.close(fd)

    return probe


def _ah(scratch: bool) -> tuple[str, str]:
    """Add and remove an AH state (XFRM_MSG_NEWSA, DELSA)."""
    from ipaddress import IPv6Address

    from ..ipsec._files import Association
    from ..ipsec._xfrmmsg import NETLINK_XFRM, decode_untrusted, delete_sa, new_sa

    if not scratch:
        return UNKNOWN, "not tried: an XFRM state needs a namespace of the probe's own"
    probe = Association(0, 0xFFFFFF42, IPv6Address("::1"), "HMAC-MD5", bytes(16), "INBOUND", 0)
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
    except OSError as exc:
        return ABSENT, f"an XFRM netlink socket: {exc.strerror}"
    with sock:
        sock.settimeout(5)
        answers: list[int] = []
        for sequence, build in enumerate((new_sa, delete_sa), start=1):
            sock.send(build(probe, sequence))
            while len(answers) < sequence:
                answers += [a for a in decode_untrusted(sock.recv(65536)) if isinstance(a, int)]
            if answers[0]:
                return ABSENT, f"an AH state (XFRM_MSG_NEWSA): {os.strerror(answers[0])}"
    return PRESENT, "an AH state added and removed"


def _iptables(program: str, rule: list[str], what: str) -> Probe:
    def probe(scratch: bool) -> tuple[str, str]:
        if not scratch:
            return UNKNOWN, f"not tried: {what} needs a namespace of the probe's own"
        if shutil.which(program) is None:
            return UNKNOWN, f"not tried: {program} is not installed"
        done = subprocess.run([program, "-w", *rule], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, check=False)  # fmt: skip
        if done.returncode == 0:
            return PRESENT, f"{program} {' '.join(rule)}"
        said = (done.stderr.strip().splitlines() or ["no reason given"])[0]
        if "Permission denied" in said or "must be root" in said:
            return UNKNOWN, f"not tried: {program} needs privilege ({said})"
        return ABSENT, f"{program} {' '.join(rule)}: {said}"

    return probe


def _nfqueue(scratch: bool) -> tuple[str, str]:
    if not scratch:
        return UNKNOWN, "not tried: binding a queue needs a namespace of the probe's own"
    from .._nlwire import NLMSG_ERROR, error_of, messages
    from ..ipsec._nfqueue import NETLINK_NETFILTER, bind

    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    except OSError as exc:
        return ABSENT, f"a netfilter netlink socket: {exc.strerror}"
    with sock:
        sock.settimeout(5)
        for sequence, message in enumerate(bind(4242, 1), start=1):
            sock.send(message)
            for kind, seq, body, _ in messages(sock.recv(65536)):
                if kind == NLMSG_ERROR and seq == sequence and error_of(body):
                    return ABSENT, f"binding an NFQUEUE queue: {os.strerror(error_of(body))}"
    rule = _iptables("ip6tables", ["-A", "OUTPUT", "-j", "NFQUEUE", "--queue-num", "4242"],
                     "an NFQUEUE rule")(scratch)  # fmt: skip
    if rule[0] != PRESENT:
        return rule
    return PRESENT, "an NFQUEUE queue bound, and " + rule[1]


_PROG_SCHED_CLS, _PROG_LWT_XMIT = 3, 12
_RETURN_ZERO = bytes.fromhex("b7000000000000009500000000000000")  # r0 = 0; exit


def load_bpf(prog_type: int) -> int:
    """A loaded program that returns 0, as a descriptor (OSError when refused)."""
    from .._bpf import BpfError, load_program

    try:
        return load_program(_RETURN_ZERO, "GPL", "probe", prog_type)
    except BpfError as exc:
        raise OSError(exc.errno, os.strerror(exc.errno)) from None


def _bpf_tc(scratch: bool) -> tuple[str, str]:
    from pyroute2 import IPRoute

    try:
        fd = load_bpf(_PROG_SCHED_CLS)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return UNKNOWN, f"not tried: loading a program needs privilege ({exc.strerror})"
        return ABSENT, f"loading a tc (SCHED_CLS) program: {exc.strerror}"
    try:
        if not scratch:
            return UNKNOWN, "a tc program loads; attaching it needs a namespace of the probe's own"
        from .._kernelops import AttachTcProgram
        from .._netlink import Netlink

        with IPRoute() as ipr:
            ipr.link("add", ifname="probetc0", kind="veth", peer="probetc1")
            index = ipr.link_lookup(ifname="probetc0")[0]
            netlink = Netlink(ipr)
            try:
                netlink.apply(AttachTcProgram(index, fd, "probe", egress=False))
            except OSError as exc:
                return ABSENT, f"attaching a tc program: {exc.strerror}"
            finally:
                ipr.link("del", index=index)
        return PRESENT, "a SCHED_CLS program loaded and attached to clsact ingress (direct action)"
    finally:
        os.close(fd)


def _bpf_lwt(scratch: bool) -> tuple[str, str]:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        fd = load_bpf(_PROG_LWT_XMIT)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return UNKNOWN, f"not tried: loading a program needs privilege ({exc.strerror})"
        return ABSENT, f"loading an LWT_XMIT program: {exc.strerror}"
    try:
        if not scratch:
            return UNKNOWN, "an LWT program loads; a route needs a namespace of the probe's own"
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname="lo")[0]
            ipr.link("set", index=index, state="up")
            try:
                ipr.route("add", dst="192.0.2.0/24", oif=index,
                          encap={"type": "bpf", "xmit": {"fd": fd, "name": "probe"}})  # fmt: skip
            except NetlinkError as exc:
                if exc.code in (errno.EOPNOTSUPP, errno.EINVAL):
                    return ABSENT, f"a route with encap bpf xmit: {os.strerror(exc.code)}"
                raise
        return PRESENT, "a route with encap bpf xmit"
    finally:
        os.close(fd)


PROBES: dict[str, Probe] = {
    "ip_mroute": _mroute(4),
    "ip6_mroute": _mroute(6),
    "packet": _packet,
    "sit": _link("sit", sit_local="0.0.0.0"),
    "tun": _tun(offload=False),
    "tun_offload": _tun(offload=True),
    "xfrm_ah": _ah,
    "nfqueue": _nfqueue,
    "statistic": _iptables("iptables", ["-A", "INPUT", "-m", "statistic", "--mode", "random",
                                        "--probability", "0.5", "-j", "DROP"],
                           "an iptables rule"),
    "veth": _link("veth"),
    "bridge": _link("bridge"),
    "bridge_snooping": _link("bridge", br_mcast_snooping=1),
    "ebpf_tc": _bpf_tc,
    "lwtunnel_bpf": _bpf_lwt,
}  # fmt: skip
assert PROBES.keys() == BY_NAME.keys()


def _unshare(flags: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.unshare(flags) == 0)


def enter_scratch_namespace() -> str | None:
    """Move this process into a network namespace of its own; how, or None."""
    if _unshare(CLONE_NEWNET):
        return "a network namespace of its own"
    uid, gid = os.getuid(), os.getgid()
    if _unshare(CLONE_NEWUSER | CLONE_NEWNET):
        with contextlib.suppress(OSError):  # root inside: the namespace's own capabilities
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"0 {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"0 {gid} 1")
        return "a user and network namespace of its own"
    return None


def run_probes() -> list[dict[str, str]]:
    """Every probe, in a scratch namespace where one can be had (the child's work)."""
    scratch = enter_scratch_namespace()
    out = []
    for name, probe in PROBES.items():
        try:
            state, how = probe(scratch is not None)
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES):
                state, how = UNKNOWN, f"not tried: {exc.strerror} (run as root)"
            else:
                state, how = UNKNOWN, f"the probe failed: {exc.strerror or exc}"
        except Exception as exc:  # a probe must never stop the others
            state, how = UNKNOWN, f"the probe failed: {type(exc).__name__}: {exc}"
        out.append({"name": name, "state": state, "how": how})
    return out


# --- the parent: cache, overrides, questions ---------------------------------------------


def main() -> int:
    json.dump(run_probes(), sys.stdout)
    return 0
