"""The echo service's accept loop, without a network: running out of descriptors."""

from __future__ import annotations

import pytest
import trio


async def test_out_of_descriptors_pauses_accepting_and_resumes(autojump_clock) -> None:
    """EMFILE/ENFILE from accept(): wait ACCEPT_PAUSE and accept again, as trio's
    serve_listeners does; a connection aborted in the queue is counted, not fatal."""
    import errno as errno_

    from ipv6.dualstack._echo import ACCEPT_PAUSE, EchoService

    accepted_at: list[float] = []
    failures = [errno_.EMFILE, errno_.ENFILE, errno_.ECONNABORTED, errno_.EMFILE]

    class Listener:
        async def accept(self) -> tuple[object, object]:
            await trio.lowlevel.checkpoint()
            if failures:
                raise OSError(failures.pop(0), "simulated")
            accepted_at.append(trio.current_time())
            await trio.sleep_forever()

    service = EchoService(0, lambda event: None)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service._accept_loop, Listener(), nursery)  # type: ignore[arg-type]
        await trio.sleep(10)  # time under test (Trio's virtual clock): the pauses after failures
        nursery.cancel_scope.cancel()
    counters = service.counters
    assert counters.accept_paused == 3 and counters.accept_failed == 1
    assert dict(counters.errors) == {"EMFILE": 2, "ENFILE": 1, "ECONNABORTED": 1}
    # Three pauses of ACCEPT_PAUSE each, then the accept that waits.
    assert accepted_at == [pytest.approx(start + 3 * ACCEPT_PAUSE)]
