"""The userspace IPsec plane: one Trio process per network namespace that the
kernel's NFQUEUE hands the policies' packets to.

    python -m ipv6.ipsec._service      (started by ``ipsec6 a``)

It installs the rules of :mod:`._ruleset`, answers every queued packet with
the verdict of :mod:`._engine` (AH added on the way out, checked and removed
on the way in, or dropped), and counts. A protected packet that no longer
fits its link is sent as fragments from a raw socket whose packets carry the
rules' mark (so they are not queued again). SIGHUP re-reads the active
lists, SIGUSR1 writes the counters now, SIGTERM ends it; on every way out the
rules go.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import signal
import socket
import sys
import time
from ipaddress import IPv6Address
from typing import Any

import trio

from .. import _daemon
from .._errors import Ipv6Error
from .._statefile import StateWriteFailed
from ..sockopts import SO_RCVBUFFORCE
from . import _ruleset, _state
from ._active import Active
from ._engine import Accept, Drop, Engine, Split
from ._iptables import RulesError, install_rules, link_mtus, remove_rules
from ._nfqueue import (
    HOOK_LOCAL_IN,
    HOOK_LOCAL_OUT,
    NETLINK_NETFILTER,
    KernelAnswer,
    QueuedPacket,
    QueueMessageError,
    bind,
    decode_untrusted,
    unbind,
    verdict,
)

NAME = "ipsec6 service"
BATCH = 64
STATUS_INTERVAL = 0.2
MTU_REFRESH = 2.0
BIND_TIMEOUT = 3.0


class ServiceError(Ipv6Error):
    """The service cannot run: said in its status and its log."""


def queue_drops(queue: int) -> dict[str, int]:
    """What the kernel dropped for this queue: a full queue, a full socket."""
    try:
        with open("/proc/thread-self/net/netfilter/nfnetlink_queue", encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if fields and int(fields[0]) == queue:
                    return {"queue_full": int(fields[5]), "socket_full": int(fields[6])}
    except (OSError, ValueError, IndexError):
        pass
    return {}


class Service:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        if SO_RCVBUFFORCE is not None:
            with contextlib.suppress(OSError):  # past rmem_max, as root
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        self.engine = Engine([], [], identification=int.from_bytes(os.urandom(4), "big"))
        self.raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, _ruleset.MARK)
        self.raw.setblocking(False)
        self.mtus: dict[int, int] = {}
        self.active = Active()
        self.generation = 0
        self.error: str | None = None
        self.faults: collections.Counter[str] = collections.Counter()
        self.changed = trio.Event()

    async def bind_queue(self) -> None:
        for message in bind(_ruleset.QUEUE, 1):
            self.sock.send(message)
        answered = 0
        with trio.move_on_after(BIND_TIMEOUT):
            while answered < 3:
                await trio.lowlevel.wait_readable(self.sock)
                for answer in decode_untrusted(self.sock.recv(65536)):
                    if isinstance(answer, KernelAnswer):
                        if answer.error:
                            raise ServiceError(
                                f"the kernel refused queue {_ruleset.QUEUE}: "
                                f"{os.strerror(answer.error)} (is another program bound to it?)"
                            )
                        answered += 1
        if answered < 3:
            raise ServiceError("the kernel did not answer the queue's set-up (nfnetlink_queue?)")
        self.sock.setblocking(False)

    # -- configuration --

    async def reload(self) -> None:
        data = _state.load()
        active = Active.from_json(data)
        self.mtus = link_mtus()
        try:
            await trio.to_thread.run_sync(install_rules, active, self.mtus)
        except (RulesError, OSError) as exc:
            self.error = str(exc)
            _daemon.say(NAME, f"generation {data.get('generation')}: {exc}")
        else:
            self.error = None
            self.active = active
            self.engine.configure(list(active.policies), list(active.associations))
        self.generation = data.get("generation", 0)
        await _daemon.write_status(self)

    # -- packets --

    async def run_queue(self) -> None:
        sock, buffer = self.sock, bytearray(262144)
        while True:
            await trio.lowlevel.wait_readable(sock)
            for _ in range(BATCH):
                try:
                    size = sock.recv_into(buffer)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    self.faults["socket_overrun"] += 1  # the kernel counts the packets
                    continue
                try:
                    messages = decode_untrusted(bytes(buffer[:size]))
                except QueueMessageError:
                    self.faults["unreadable_message"] += 1
                    continue
                for message in messages:
                    if isinstance(message, KernelAnswer):
                        if message.error:
                            name = errno.errorcode.get(message.error, str(message.error))
                            self.faults[f"verdict_refused_{name}"] += 1
                        continue
                    self._answer(message)
            else:
                await trio.lowlevel.checkpoint()
            self.changed.set()

    def _answer(self, message: QueuedPacket) -> None:
        result: Accept | Split | Drop | None
        try:
            if message.hook == HOOK_LOCAL_OUT:
                result = self.engine.outbound(message.payload, self.mtus.get(message.outdev))
                if isinstance(result, Split):  # the original is dropped: its fragments go instead
                    self._send_fragments(result, message.outdev)
            elif message.hook == HOOK_LOCAL_IN:
                result = self.engine.inbound(message.payload)
            else:
                result = Accept(None, "other_hook")
        except Exception as exc:  # a bug must not let a packet through, nor end the service
            self.faults["internal_error"] += 1
            if self.faults["internal_error"] == 1:
                _daemon.say(NAME, f"internal error (packet dropped): {_daemon.reason(exc)}")
            result = None
        accept = isinstance(result, Accept)
        payload = result.packet if isinstance(result, Accept) else None
        try:
            self.sock.send(verdict(_ruleset.QUEUE, message.packet_id, accept, payload))
        except OSError:
            self.faults["verdict_send_failed"] += 1

    def _send_fragments(self, split: Split, outdev: int) -> None:
        destination = IPv6Address(split.fragments[0][24:40])
        scope = outdev if destination.is_link_local else 0
        for piece in split.fragments:
            try:
                self.raw.sendto(piece, (str(destination), 0, 0, scope))
            except OSError:
                self.faults["fragment_send_failed"] += 1

    async def watch_links(self) -> None:
        """Interfaces' MTUs change; so do the TCP MSS rules, at the next reload."""
        while True:
            await trio.sleep(MTU_REFRESH)
            mtus = await trio.to_thread.run_sync(link_mtus)
            if mtus != self.mtus:
                await self.reload()

    # -- reporting --

    def status(self) -> dict[str, Any]:
        return {
                "pid": os.getpid(),
                "generation": self.generation,
                "written": time.time(),
                "plane": "userspace",
                "error": self.error,
                "handled": dict(sorted(self.engine.handled.items())),
                "drops": dict(sorted(self.engine.drops.items())),
                "faults": dict(sorted(self.faults.items())),
                "kernel": queue_drops(_ruleset.QUEUE),
                "sas": {str(i): s.to_json() for i, s in self.engine.sas.items()},
                "mtus": {str(i): m for i, m in self.mtus.items()},
        }  # fmt: skip

    def save_status(self, data: dict[str, Any]) -> None:
        try:
            _state.write_status(data)
        except StateWriteFailed as exc:
            self.faults["status_write_failed"] += 1
            if self.faults["status_write_failed"] == 1:
                _daemon.say(NAME, str(exc))

    async def close(self) -> None:
        await trio.to_thread.run_sync(remove_rules)
        self.raw.close()
        with contextlib.suppress(OSError):
            self.sock.setblocking(True)
            self.sock.send(unbind(_ruleset.QUEUE, 9))
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


async def serve() -> int:
    service = Service()
    with _daemon.signal_receiver(signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:
                try:
                    await service.bind_queue()
                except ServiceError as exc:
                    service.error = str(exc)
                    service.generation = _state.load().get("generation", 0)
                    service.save_status(service.status())
                    raise
                await service.reload()
                nursery.start_soon(service.run_queue)
                nursery.start_soon(_daemon.report_changes, service, STATUS_INTERVAL)
                nursery.start_soon(service.watch_links)
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        await service.reload()
                    elif signum == signal.SIGUSR1:
                        await _daemon.write_status(service)
                    else:
                        break
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await service.close()
                service.save_status(service.status())
    return 0


def main() -> int:
    """Run until SIGTERM; why it stopped is the last line of its log."""
    return _daemon.run_daemon(NAME, lambda: trio.run(serve))


if __name__ == "__main__":
    sys.exit(main())
