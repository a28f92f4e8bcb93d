"""Lab files and helpers shared by the multicast lab tests."""

from __future__ import annotations

from typing import Any

# Host a retransmits its unsolicited reports at once (10 ms), so each change's
# messages, robustness retransmissions included, are all on the wire before
# the next step; {v4} and {v6} force an IGMP and MLD version (0: the newest).
QUICK_REPORTS = """
[hosts.a]
sysctls = {{ force_igmp_version = {v4}, force_mld_version = {v6} }}
[hosts.b]
[[links]]
name = "l"
[[links.endpoints]]
host = "a"
addresses = ["10.0.0.1/24", "2001:db8::1/64"]
dad = false
[links.endpoints.sysctls]
"ipv4.igmpv3_unsolicited_report_interval" = 10
"ipv4.igmpv2_unsolicited_report_interval" = 10
"ipv6.mldv2_unsolicited_report_interval" = 10
"ipv6.mldv1_unsolicited_report_interval" = 10
[[links.endpoints]]
host = "b"
addresses = ["10.0.0.2/24", "2001:db8::2/64"]
dad = false
"""


async def output_while(host: Any, argv: list[str], during: Any, *, settle: float = 1.0) -> Any:
    """Run ``argv`` in lab ``host``; ``settle`` seconds later await ``during()``; then
    wait for ``argv`` to end. Its exit status and everything it printed on stdout."""
    import trio

    process = await trio.lowlevel.open_process(host.argv(argv), stdout=-1, stderr=-1)
    assert process.stdout is not None
    stdout = process.stdout
    out = b""
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            nonlocal out
            while chunk := await stdout.receive_some(65536):
                out += chunk

        nursery.start_soon(read)
        await trio.sleep(settle)
        await during()
        await process.wait()
    return process.returncode, out
