"""The kernel plane (XFRM): its policies as iproute2 reads them back, its
transaction when the kernel refuses a state, and, where the kernel has AH,
Configuration 3 on it. On a kernel without AH, `ipsec6 a --plane kernel`
says so in one line and `--plane auto` takes the userspace plane."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipv6.ipsec._active import Active
from ipv6.ipsec._files import read_sad, read_spd
from tests.ipv6.test_ipsec_live import A, B, chains, configure, ipsec6
from tests.ipv6.test_ipsec_plane import HOST2, KEYS, SAD, SPD

pytestmark = pytest.mark.needs_root


def has_ah() -> bool:
    from ipv6.ipsec._xfrm import kernel_has_ah

    return kernel_has_ah()


def sync(old: Active, new: Active) -> str:
    """Runs inside a lab host: the change, and the error it raised (if any)."""
    from ipv6.ipsec._xfrm import XfrmError, sync

    try:
        sync(old, new)
    except XfrmError as exc:
        return str(exc)
    return ""


async def policies_shown(host) -> str:
    return str((await host.run(["ip", "xfrm", "policy", "list"])).stdout.decode())


async def test_policies_go_in_as_iproute2_reads_them_and_a_refusal_undoes(lab) -> None:
    spd = read_spd(SPD.replace("1 * * * * *", "1 * * * TCP 22"), "Test.spd")
    sas = read_sad(SAD, "Test.sad", spd, KEYS)
    async with lab("link-local") as running:
        a = running.host("a")
        policies_only = Active().add(spd, [])
        assert await a.run_sync(sync, Active(), policies_only) == ""
        shown = await policies_shown(a)
        # iproute2's words for what the toolkit sent: the seeds' order as priorities,
        # a template for APPLY, none for BYPASS, and multicast let through first.
        blocks = shown.strip().split("\nsrc ")
        assert len(blocks) == 6, shown
        assert f"src ::/0 dst {HOST2}/128" in shown and f"src {HOST2}/128" in shown
        assert "dir out priority 65534" in shown and "dir in priority 65534" in shown
        assert "proto tcp sport 22" in shown and "dir out priority 65535" in shown
        assert shown.count("proto ah reqid 0 mode transport") == 2
        assert "dst ff00::/8" in shown and "priority 1 " in shown
        everything = Active().add(spd, sas)
        if await a.run_sync(has_ah):
            assert await a.run_sync(sync, policies_only, everything) == ""
            await a.run_sync(sync, everything, Active())
        else:
            error = await a.run_sync(sync, policies_only, everything)
            assert "the kernel refused adding SA" in error
            assert "nothing is left half-applied" in error
            assert await policies_shown(a) == shown  # the policies are as they were
            assert await a.run_sync(sync, policies_only, Active()) == ""
        assert (await policies_shown(a)).strip() == ""


async def test_configuration_3_on_the_kernel_where_it_has_ah(lab, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with lab("link-local") as running:
        a, b = running.host("a"), running.host("b")
        base_a = await configure(a, state, tmp_path / "a", A, B)
        if not await a.run_sync(has_ah):
            refused = await ipsec6(a, state, "a", str(base_a), "--plane", "kernel", check=False)
            error = refused.stderr.decode()
            assert refused.returncode == 7 and "CONFIG_INET6_AH" in error, error
            assert "--plane userspace" in error
            assert error.count("\n") == 1
            shown = await ipsec6(a, state, "sp", "--json")
            assert b'"policies": []' in shown.stdout and "IPSEC6" not in await chains(a)
            return
        base_b = await configure(b, state, tmp_path / "b", B, A)
        for host, base in ((a, base_a), (b, base_b)):
            done = await ipsec6(host, state, "a", str(base), "--plane", "kernel")
            assert b"the kernel (XFRM)" in done.stdout
        ping = await a.run(["ping", "-c", "3", "-i", "0.2", f"{B}%eth0"], check=False)
        assert ping.returncode == 0, ping.stdout
        states = (await a.run(["ip", "xfrm", "state"])).stdout.decode()
        assert "proto ah spi 0x00000bb9" in states and "proto ah spi 0x00000bb8" in states
        for host in (a, b):
            for words in (("sa", "2"), ("sa", "1"), ("sp", "2")):
                await ipsec6(host, state, "d", f"type={words[0]}", words[1])
        assert (await a.run(["ip", "xfrm", "state"])).stdout.strip() == b""
