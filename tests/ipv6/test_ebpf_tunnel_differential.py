"""The tunnels' eBPF programs against the userspace plane's checks, packet by
packet (``BPF_PROG_TEST_RUN``, no network).

The reference is ``_rules.Flows``: RFC 3964's, RFC 4213's and RFC 5969's
checks, with the memory of the pairs already checked. The kernel's copy of
that memory (``ipv6.tunnel._ebpf``) is written as the Flows remembers.
- Where the kernel's program carries a packet (TC_ACT_REDIRECT), the
  reference must carry it too, with the same bytes. When encapsulating,
  those are the outer header ``_packets.ipv4_header`` makes (RFC 3056 5.2:
  DF clear, the raw socket's TTL) around the same inner packet, its
  identification the program's counter. When decapsulating, they are the
  inner packet.
- Every packet it does not carry, it leaves untouched to the userspace
  plane.
- Every RFC 3964 spoof vector of tests/ipv6/test_tunnel_rules.py is left
  to the plane, which drops it by name.

The encapsulation runs in a scratch network namespace with a route to
follow (the program looks the IPv4 route up), in a child process.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipv6.tunnel._ebpf import DECAP, ENCAP_ETH, TTL, KernelTunnel
from ipv6.tunnel._packets import ipv4_header
from ipv6.tunnel._rules import Deliver, Flows, Send
from tests import scratch
from tests.ipv6.test_tunnel_rules import (
    DECAP as SPOOFED,
)
from tests.ipv6.test_tunnel_rules import (
    ENCAP as REFUSED,
)
from tests.ipv6.test_tunnel_rules import (
    GW1,
    GW2,
    NATIVE,
    PASSES,
    RELAY,
    SITE1,
    SITE2,
    gateway,
    packet,
    v4,
)

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_feature("ebpf_tc")]

TC_ACT_REDIRECT, TC_ACT_UNSPEC, TC_ACT_OK = 7, 0xFFFFFFFF, 0
ETH4 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
ETH6 = ETH4[:12] + b"\x86\xdd"
FIXTURE = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelTunnel]:
    tunnel = KernelTunnel.load(ifindex=42)
    try:
        yield tunnel
    finally:
        tunnel.close()


def outer(src4: int, dst4: int, inner: bytes, **changes: Any) -> bytes:
    return ipv4_header(src4, dst4, len(inner), **changes) + inner


def decap_both(kernel: KernelTunnel, flows: Flows, frame_inner: tuple[int, int, bytes],
               data: bytes | None = None) -> tuple[bytes | None, bytes | None]:  # fmt: skip
    """(what the reference delivers from its memory, what the program delivers):
    the outer packet ``data`` (made from src4, dst4, inner when None)."""
    src4, dst4, inner = frame_inner
    raw = data if data is not None else outer(src4, dst4, inner)
    kernel.mirror(flows)
    flows.observer = None
    run = kernel.loaded.test_run(DECAP, ETH4 + raw)
    if run.retval == TC_ACT_REDIRECT:
        assert run.data[12:14] == b"\x86\xdd", "the frame's type follows"
        theirs: bytes | None = run.data[14:]
    else:
        assert run.retval == TC_ACT_UNSPEC, run.retval
        assert run.data == ETH4 + raw, "a packet left to the plane must be untouched"
        theirs = None
    # The reference: a packet whose outer header the raw socket hands over whole.
    mine = None
    if raw[0] == 0x45 and not (raw[6] & 0x3F or raw[7]):
        total = int.from_bytes(raw[2:4], "big")
        if total == len(raw):
            key_inner = raw[20:total]
            if (src4, dst4, bytes(key_inner[8:40])) in flows.remembered()[1]:
                verdict = flows.decapsulate(src4, dst4, key_inner)
                if isinstance(verdict, Deliver):
                    mine = bytes(verdict.packet)
    return mine, theirs


@pytest.mark.parametrize(("reason", "vector"), SPOOFED, ids=[r for r, _ in SPOOFED])
def test_a_spoofed_packet_is_never_decapsulated_in_the_kernel(
    kernel: KernelTunnel, reason: str, vector: tuple[str, ...]
) -> None:
    """RFC 3964's drops: the plane drops each by name; the kernel never takes one,
    even with every good pair remembered."""
    flows = Flows(gateway())
    for _, good in PASSES:  # the memory holds the good pairs
        src4, dst4, src6, dst6 = good
        assert isinstance(flows.decapsulate(v4(src4), v4(dst4), packet(src6, dst6, 100)), Deliver)
    src4, dst4, src6, dst6 = vector
    inner = packet(src6, dst6, 100)
    mine, theirs = decap_both(kernel, flows, (v4(src4), v4(dst4), inner))
    assert theirs is None and mine is None
    assert flows.decapsulate(v4(src4), v4(dst4), inner).reason == reason  # type: ignore[union-attr]


@pytest.mark.parametrize(("what", "vector"), PASSES, ids=[w for w, _ in PASSES])
def test_a_remembered_pair_is_decapsulated_as_the_plane_would(
    kernel: KernelTunnel, what: str, vector: tuple[str, ...]
) -> None:
    flows = Flows(gateway())
    src4, dst4, src6, dst6 = vector
    first = packet(src6, dst6, 100)
    assert flows.decapsulate(v4(src4), v4(dst4), first) == Deliver(first)
    second = packet(src6, dst6, 900)
    mine, theirs = decap_both(kernel, flows, (v4(src4), v4(dst4), second))
    assert mine == theirs == second


@settings(max_examples=300, deadline=None, suppress_health_check=FIXTURE)
@given(
    size=st.integers(40, 1400),
    spoof=st.sampled_from([None, "outer_src", "inner_src", "inner_dst", "outer_dst"]),
    options=st.booleans(),
    fragment=st.sampled_from([0, 0, 0, 0x2000, 0x0001]),
    cut=st.integers(0, 2),
    extra=st.integers(0, 2),
    version=st.sampled_from([6, 6, 6, 4]),
)
def test_hypothesis_decapsulation(
    kernel: KernelTunnel, size: int, spoof: str | None, options: bool, fragment: int, cut: int,
    extra: int, version: int,
) -> None:  # fmt: skip
    flows = Flows(gateway())
    assert isinstance(flows.decapsulate(GW2, GW1, packet(SITE2, SITE1, 80)), Deliver)
    src4, dst4, src6, dst6 = GW2, GW1, SITE2, SITE1
    if spoof == "outer_src":
        src4 = v4("172.30.7.11")
    elif spoof == "outer_dst":
        dst4 = v4("172.31.42.238")
    elif spoof == "inner_src":
        src6 = "2002:ac1e:70b::1"
    elif spoof == "inner_dst":
        dst6 = NATIVE
    inner = bytearray(packet(src6, dst6, size))
    inner[0] = (version << 4) | (inner[0] & 0x0F)
    inner_bytes = bytes(inner[: len(inner) - cut]) + bytes(extra)
    header = bytearray(ipv4_header(src4, dst4, len(inner_bytes)))
    if options:  # an options field (NOPs and the end): the header grows to 24 bytes
        header[0] = 0x46
        header[2:4] = (len(header) + 4 + len(inner_bytes)).to_bytes(2, "big")
        header += b"\x01\x01\x01\x00"
    if fragment:
        header[6:8] = fragment.to_bytes(2, "big")
    mine, theirs = decap_both(kernel, flows, (src4, dst4, inner_bytes), bytes(header) + inner_bytes)
    if theirs is not None:
        assert mine == theirs


# -- encapsulation, in a scratch namespace with a route --


def in_scratch(work: Callable[[], Any]) -> Any:
    """``work()``'s result, run in a scratch namespace with an IPv4 route to
    follow (a veth, a default route)."""

    def routed() -> Any:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            ipr.link("add", ifname="v0", kind="veth", peer="v1")
            for name in ("v0", "v1"):
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
            index = ipr.link_lookup(ifname="v0")[0]
            ipr.addr("add", index=index, address="172.31.42.239", prefixlen=16)
            ipr.route("add", dst="0.0.0.0/0", gateway="172.31.0.1", oif=index)
        # A test run's packet comes from lo: the route is looked up as for a packet
        # that came in there (as on the tunnel's device, whose forwarding the plane
        # turns on).
        with open("/proc/sys/net/ipv4/conf/lo/forwarding", "w") as f:
            f.write("1")
        return work()

    return scratch.in_scratch(routed)


def encap_cases() -> list[tuple[str, bytes, int | None, bool]]:
    """(name, the IPv6 packet, where the reference sends it or None, remembered first)."""
    policy = gateway(own=frozenset({GW1, v4("172.16.0.5")}))
    cases: list[tuple[str, bytes, int | None, bool]] = []
    for reason, (src6, dst6) in REFUSED:
        cases.append((reason, packet(src6, dst6, 100), None, False))
    for name, (src6, dst6), dst in (
        ("6to4", (SITE1, SITE2), GW2), ("native via the relay", (SITE1, NATIVE), RELAY),
    ):  # fmt: skip
        cases.append((f"{name}: remembered", packet(src6, dst6, 700), dst, True))
        cases.append((f"{name}: not yet", packet(src6, dst6, 700), dst, False))
        cases.append((f"{name}: too big", packet(src6, dst6, 1300), None, True))
        cases.append((f"{name}: length lies", packet(src6, dst6, 700)[:-1], None, True))
    del policy
    return cases


def test_encapsulation_gives_the_planes_bytes_and_leaves_the_rest() -> None:
    cases = encap_cases()

    def work() -> list[Any]:
        kernel = KernelTunnel.load(ifindex=42)
        out = []
        try:
            kernel.configure(GW1, 1280)
            for _name, data, _dst, remember in cases:
                flows = Flows(gateway(own=frozenset({GW1, v4("172.16.0.5")})))
                if remember:  # the pair went through the plane once before
                    flows.encapsulate(packet(*_pair(data), 100))
                kernel.mirror(flows)
                kernel.set_ident(7)
                run = kernel.loaded.test_run(ENCAP_ETH, ETH6 + data)
                out.append([run.retval, run.data.hex()])
        finally:
            kernel.close()
        return out

    results = in_scratch(work)
    carried = 0
    for (name, data, dst, remember), (retval, hexdata) in zip(cases, results, strict=True):
        got = bytes.fromhex(hexdata)
        flows = Flows(gateway(own=frozenset({GW1, v4("172.16.0.5")})))
        if remember:
            flows.encapsulate(packet(*_pair(data), 100))
        verdict = flows.encapsulate(data)
        if retval == TC_ACT_REDIRECT:
            carried += 1
            assert isinstance(verdict, Send) and verdict.dst == dst, name
            assert got == ETH4 + outer(GW1, dst, data, ttl=TTL, ident=8), name
        else:
            assert retval == TC_ACT_OK, (name, retval)
            assert got == ETH6 + data, f"{name}: left to the plane untouched"
            if dst is not None and remember and len(data) <= 1280:
                pytest.fail(f"{name}: a remembered pair the plane sends was not carried")
    assert carried == 2  # the two remembered pairs that fit


def _pair(data: bytes) -> tuple[str, str]:
    from ipaddress import IPv6Address

    return str(IPv6Address(data[8:24])), str(IPv6Address(data[24:40]))


def test_the_tunnel_maps_are_what_python_packs(kernel: KernelTunnel) -> None:
    maps = kernel.loaded.maps
    assert maps["out4"].definition.key_size == 32
    assert maps["in6"].definition.key_size == 40
    assert maps["counters"].definition.max_entries == len(kernel.counters())
    assert struct.calcsize("<4s4xQQ") == maps["out4"].definition.value_size


def test_a_gso_packet_is_carried_only_if_its_segments_fit() -> None:
    """A TCP super-packet bigger than the tunnel's MTU is the kernel's only if each
    segment (its headers and the segment size) fits: else the plane's, which cuts
    and checks it. (A test run's packet has no GSO type, so the kernel refuses the
    room the program asks for: that it asked is what shows it took the packet.)"""
    from ipaddress import IPv6Address

    from ipv6.tunnel._packets import ipv6_packet

    tcp = bytes(12) + bytes([0x50]) + bytes(7)  # a 20-byte TCP header
    src, dst = int(IPv6Address(SITE1)), int(IPv6Address(SITE2))
    fits = 1280 - 40 - 20

    def work() -> list[list[int]]:
        kernel = KernelTunnel.load(ifindex=42)
        out = []
        try:
            flows = Flows(gateway())
            assert isinstance(flows.encapsulate(packet(SITE1, SITE2, 100)), Send)
            kernel.configure(GW1, 1280)
            kernel.mirror(flows)
            for segment in (fits, fits + 1):
                big = ipv6_packet(src, dst, 6, tcp + bytes(2 * segment))  # a test run: a page
                before = kernel.counters()
                run = kernel.loaded.test_run(ENCAP_ETH, ETH6 + big, gso=(2, segment))
                after = kernel.counters()
                untouched = run.retval == TC_ACT_OK and run.data == ETH6 + big
                out.append([int(untouched), after["room_refused"] - before["room_refused"],
                            after["no_route"] - before["no_route"]])  # fmt: skip
        finally:
            kernel.close()
        return out

    fitting, too_big = in_scratch(work)
    assert fitting == [1, 1, 0], fitting  # tried (and refused: no GSO type here)
    assert too_big == [1, 0, 0], too_big  # left to the plane before anything


# -- the plane that runs when the programs cannot --


def test_auto_falls_back_to_userspace_when_the_programs_cannot_load(tmp_path: Path) -> None:
    """A tunnel on ``auto`` (which chose eBPF) whose programs the kernel refuses,
    or whose object is broken, runs on the userspace plane, and its status says
    so and why; one asked for with ``--plane ebpf`` does not start, and says why."""
    broken = tmp_path / "tunnel.o"
    broken.write_bytes(b"not ELF")

    def work() -> list[Any]:
        import trio
        from pyroute2 import IPRoute

        from ipv6.plane._service import Service, _tunnel_status
        from ipv6.tunnel import _ebpf
        from ipv6.tunnel._registry import TunnelSpec

        with IPRoute() as ipr:
            ipr.link("add", ifname="up0", kind="veth", peer="up1")
            index = ipr.link_lookup(ifname="up0")[0]
            ipr.link("set", index=index, state="up")
            ipr.addr("add", index=index, address="172.31.42.239", prefixlen=16)
        real, _ebpf.OBJECT = _ebpf.OBJECT, broken
        out: list[Any] = []

        async def main() -> None:
            from ipv6.ebpf import tcx_programs

            service = Service()
            async with trio.open_nursery() as nursery:
                service.nursery = nursery
                # The programs as they load: held as tcx links, gone with the service.
                _ebpf.OBJECT = real
                spec = TunnelSpec(name="t6to4", mode="6to4", local="172.31.42.239",
                                  plane="ebpf", plane_auto=True)  # fmt: skip
                service._start(spec)
                kernel = service.running["t6to4"].kernel
                out.append([[a.kind for a in kernel.hooked], tcx_programs(index, egress=False)])
                service._stop("t6to4")
                out.append(tcx_programs(index, egress=False))
                _ebpf.OBJECT = broken
                for auto in (True, False):
                    spec = TunnelSpec(name="t6to4", mode="6to4", local="172.31.42.239",
                                      plane="ebpf", plane_auto=auto)  # fmt: skip
                    service._start(spec)
                    running = service.running.get("t6to4")
                    row = _tunnel_status(running) if running else None
                    out.append([row and row.get("plane_running"), row and row.get("plane_reason"),
                                service.errors.get("t6to4")])  # fmt: skip
                    if running:
                        service._stop("t6to4")
                nursery.cancel_scope.cancel()

        trio.run(main)
        return out

    hooked, stopped, auto, asked = scratch.in_scratch(work)  # no other address: up0 holds it
    assert hooked == [["tcx", "tcx"], 1] and stopped == 0
    (auto_plane, auto_reason, auto_error), (asked_plane, _, asked_error) = auto, asked
    assert auto_plane == "userspace" and auto_error is None
    assert auto_reason == f"userspace: {broken}: not an ELF file"
    assert asked_plane is None and asked_error == f"--plane ebpf: {broken}: not an ELF file"
