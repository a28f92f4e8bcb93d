"""Work in a network namespace of its own, in a child process: for eBPF test
runs whose programs really send (a redirect, a clone) and must send only
there. The namespace goes with the child, and the state files the toolkit
keeps per namespace (a forwarder's lock, say) go to a directory of the
child's own, removed after it: nothing outside changes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any


def in_scratch(work: Callable[[], Any]) -> Any:
    """``work()``'s result (JSON-able), run in a child process in a network
    namespace of its own whose loopback is up; the child never returns into
    pytest, and its failure fails the test."""
    from ipv6._statefile import STATE_DIR_ENV

    state = tempfile.mkdtemp(prefix="scratch-state-")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        try:
            os.close(read)
            os.environ[STATE_DIR_ENV] = state
            from pyroute2 import IPRoute

            from ipv6.kernelprobe import enter_scratch_namespace

            assert enter_scratch_namespace() is not None
            with IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            result = work()
            with os.fdopen(write, "w") as f:
                json.dump(result, f)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            text = f.read()
        _, status = os.waitpid(pid, 0)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    assert status == 0, "the scratch namespace's child failed (its traceback is on stderr)"
    return json.loads(text)
