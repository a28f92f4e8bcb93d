"""``mcast pgm send|recv``: a file to a group, reliably (PGM, RFC 3208)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ipv6.cli import kit

DESCRIPTION = """\
Reliable multicast with PGM (RFC 3208), as the seeds' Windows sockets offer it
: the sender sends a file to a group at a chosen rate (as a byte stream,
SOCK_STREAM; or each line one message, SOCK_RDM, with --message-mode),
keeping a window of what it sent for repairs; each receiver asks for what it
missed with NAKs (or parity, with --fec) and hands the file over byte for byte,
or says at which offset data became unrecoverable (exit 5). Raw IP protocol
113 by default, as Windows speaks it; --udp PORT encapsulates in UDP, as
OpenPGM can. docs/multicast.md.
"""


def register(commands: Any) -> None:
    _, sub = kit.group(commands, "pgm", "reliable multicast (PGM): send and receive a file",
                       DESCRIPTION)  # fmt: skip
    send = kit.subcommand(sub, "send", cmd_send, "send a file (or standard input) to a group")
    send.add_argument("group", metavar="GROUP")
    send.add_argument("file", nargs="?", default="-", metavar="FILE", help="- : standard input")
    recv = kit.subcommand(sub, "recv", cmd_recv, "receive one session's data from a group")
    recv.add_argument("group", metavar="GROUP")
    send.add_argument("--interface", "-i", metavar="IF", required=True,
                      help="the interface to send by (RM_SET_SEND_IF)")  # fmt: skip
    recv.add_argument("--interface", "-i", metavar="IF", required=True, action="append",
                      help="an interface to receive on; again for more (RM_ADD_RECEIVE_IF: "
                      "a multihomed receiver)")  # fmt: skip
    for parser in (send, recv):
        parser.add_argument("--port", "-p", type=kit.port, required=True, help="the data port")
        parser.add_argument(
            "--udp", type=kit.port, metavar="PORT",
            help="UDP encapsulation on this port (default: raw IP protocol 113)",
        )  # fmt: skip
        kit.add_json(parser)
    send.add_argument(
        "--rate", default="10M", metavar="BITRATE",
        help="bits a second, k/M/G, over data, repairs and SPMs (default 10M)",
    )  # fmt: skip
    send.add_argument(
        "--window", default="4096", metavar="SIZE|SECs",
        help="packets kept for repair (4096), or seconds of the rate (30s)",
    )  # fmt: skip
    send.add_argument("--ttl", type=kit.integer(0, 255, "a TTL"), default=1)
    send.add_argument(
        "--window-advance", type=kit.integer(1, 50, "a share of the window in %"), default=15,
        metavar="PERCENT",
        help="a window in seconds moves on by this share of its span at a time, 1 to 50 "
        "(RM_SEND_WINDOW_ADV_RATE; default 15)",
    )  # fmt: skip
    send.add_argument(
        "--late-join", type=kit.integer(0, 75, "a share of the window in %"), metavar="PERCENT",
        help="late joiners may ask for this much of the window, 0 to 75 (RM_LATEJOIN; "
        "without it, the whole window)",
    )  # fmt: skip
    send.add_argument(
        "--message-mode", action="store_true",
        help="each line of the input is one message, whole at the receivers (SOCK_RDM); "
        "without it the input is a byte stream (SOCK_STREAM)",
    )  # fmt: skip
    send.add_argument(
        "--fec", metavar="K/N",
        help="forward error correction (RM_USE_FEC): parity over groups of K packets (2, 4 "
        "... 128), up to N-K parity packets a group (N at most 255); on demand unless only "
        "--proactive is given",
    )  # fmt: skip
    send.add_argument("--proactive", type=kit.integer(1, 253, "parity packets"), metavar="P",
                      help="with --fec: P parity packets after every group")  # fmt: skip
    send.add_argument("--ondemand", action="store_true",
                      help="with --fec: parity packets for receivers' parity NAKs")  # fmt: skip
    send.add_argument("--linger", type=float, default=2.0, metavar="SEC",
                      help="after the end, stay for repairs until no NAK came for this long "
                      "(default 2; at most 300 s in all; SIGINT or SIGTERM ends it)")  # fmt: skip
    recv.add_argument("--output", "-o", default="-", metavar="FILE", help="- : standard output")
    recv.add_argument(
        "--late-join", action="store_true",
        help="take a session already under way from what the sender's window still holds "
        "(without it, the session's beginning must still be there, or exit 5)",
    )  # fmt: skip
    recv.add_argument("--timeout", type=float, default=0.0, metavar="SEC",
                      help="give up if no session starts in this time (0: wait)")  # fmt: skip
    recv.add_argument(
        "--high-speed", action="store_true",
        help="NAK timers for a LAN of 100 Mbit/s and more (RM_HIGH_SPEED_INTRANET_OPT)",
    )  # fmt: skip
    recv.add_argument(
        "--expiry", type=float, default=300.0, metavar="SEC",
        help="a sender silent this long before its session's end is gone: what did not "
        "arrive is unrecoverable, exit 5 (default 300, as OpenPGM's peer expiry)",
    )  # fmt: skip


def _window(text: str, rate_bytes: float, max_tsdu: int) -> tuple[int, float | None]:
    from .._errors import McastBadInput

    try:
        number = float(text[:-1]) if text.endswith("s") else int(text)
    except ValueError:
        raise McastBadInput(f"--window {text!r}: a number of packets, or seconds as 30s") from None
    if text.endswith("s"):
        if number <= 0:
            raise McastBadInput(f"--window {text}: a window spans more than 0 seconds")
        return max(1, int(number * rate_bytes / max_tsdu)), float(number)
    packets = int(number)
    if packets < 1:
        raise McastBadInput(f"--window {packets}: a window holds at least one packet")
    return packets, None


def _fec(args: argparse.Namespace) -> Any:
    """RM_FEC_INFO from --fec K/N, --proactive and --ondemand (None: no FEC)."""
    from .._errors import McastBadInput
    from ..pgm._pgmfec import FecConfig

    if args.fec is None:
        if args.proactive is not None or args.ondemand:
            raise McastBadInput("--proactive and --ondemand go with --fec K/N")
        return None
    k, slash, n = args.fec.partition("/")
    if not slash or not k.isdigit() or not n.isdigit():
        raise McastBadInput(f"--fec {args.fec}: K/N, as 8/16 (groups of 8, 8 parity at most)")
    ondemand = args.ondemand or args.proactive is None
    try:
        return FecConfig(int(k), int(n), args.proactive or 0, ondemand)
    except ValueError as exc:
        raise McastBadInput(f"--fec {args.fec}: {exc}") from None


def cmd_send(args: argparse.Namespace) -> int:
    import signal

    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput
    from ..membership._groups import parse_group
    from ..pgm._pgmfiles import send_file, send_messages
    from ..pgm._pgmsession import SenderOptions
    from ..streams._pacing import parse_rate

    group = parse_group(args.group)
    try:
        bits = parse_rate(args.rate)
    except ValueError as exc:
        raise McastBadInput(f"--rate: {exc}") from None
    if bits < 8:
        raise McastBadInput(f"--rate {args.rate}: PGM sends at a rate of at least 8 bits a second")
    window, seconds = _window(args.window, bits / 8, 1400)
    options = SenderOptions(rate=int(bits / 8), window=window, window_seconds=seconds,
                            ttl=args.ttl, udp_port=args.udp, late_join=args.late_join,
                            advance=args.window_advance, fec=_fec(args),
                            mode="message" if args.message_mode else "stream")  # fmt: skip
    interface = resolve_interface(args.interface)
    source = sys.stdin.buffer if args.file == "-" else kit.open_file(args.file, "rb")
    total = _size_of(source)
    live = kit.LiveLine(enabled=not args.json)

    def progress(done: int, s: Any) -> None:
        live.show(f"sent {kit.amount(done, 'bytes', total, live.elapsed())}; "
                  f"{_repairs(s)}")  # fmt: skip

    async def main() -> Any:
        # Once the data is out, SIGINT or SIGTERM ends the wait for repairs (not the
        # command): the source goes, and its statistics are printed. Before, they
        # interrupt it.
        stop = trio.Event()
        lingering = False
        async with trio.open_nursery() as nursery:

            async def signals() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                    async for number in received:
                        if not lingering:
                            raise KeyboardInterrupt(signal.Signals(number).name)
                        stop.set()

            async def repairs_line() -> None:
                while True:
                    s = sender_statistics[0]
                    live.show(f"staying for repairs: {_repairs(s)}")
                    await trio.sleep(live.every)

            sender_statistics: list[Any] = []

            def sent(s: Any) -> None:
                nonlocal lingering
                lingering = True
                sender_statistics.append(s)
                live.close()
                print(f"data sent; staying for repairs until no NAK for {args.linger:g} s "
                      "(SIGINT or SIGTERM: go now)", file=sys.stderr, flush=True)  # fmt: skip
                nursery.start_soon(repairs_line)

            nursery.start_soon(signals)
            how = dict(options=options, linger=args.linger, stop=stop, progress=progress,
                       sent=sent)  # fmt: skip
            if args.message_mode:
                statistics = await send_messages(group, args.port, interface, source, **how)
            else:
                statistics = await send_file(group, args.port, interface, source, **how)
            nursery.cancel_scope.cancel()
        return statistics

    try:
        statistics = trio.run(main)
    finally:
        live.close()
        if source is not sys.stdin.buffer:
            source.close()
    if args.json:
        kit.print_json(statistics)
    else:
        print(f"sent {statistics.bytes_sent} octets in {statistics.data_sent} packets; "
              f"{_repairs(statistics)}", file=sys.stderr)  # fmt: skip
    return 0


def _repairs(s: Any) -> str:
    """What a source did for its receivers, in words."""
    line = f"{s.naks_received} NAKs, {s.repairs_sent} repairs"
    if s.parity_naks_received or s.parity_sent or s.parity_repairs_sent:
        line += (f"; {s.parity_sent} parity packets sent with their groups, "
                 f"{s.parity_repairs_sent} for {s.parity_naks_received} asked")  # fmt: skip
    return line


def cmd_recv(args: argparse.Namespace) -> int:
    import trio

    from ipv6 import resolve_interface

    from .._errors import McastBadInput
    from ..membership._groups import parse_group
    from ..pgm._pgmfiles import receive_messages
    from ..pgm._pgmsession import PgmUnrecoverable

    group = parse_group(args.group)
    if not args.expiry > 0 or not args.timeout >= 0:
        raise McastBadInput("--expiry is more than 0 seconds, --timeout 0 (wait) or more")
    interfaces = [resolve_interface(name) for name in args.interface]
    out = sys.stdout.buffer if args.output == "-" else kit.open_file(args.output, "wb")
    live = kit.LiveLine(enabled=not args.json)

    def progress(s: Any) -> None:
        got = kit.amount(s.bytes_delivered, "bytes", None, live.elapsed())
        live.show(f"received {got}; {_received(s)}")

    async def main() -> Any:
        return await receive_messages(
            group, args.port, interfaces, out.write, timeout=args.timeout or None,
            udp_port=args.udp, late_join=args.late_join, expiry=args.expiry,
            high_speed=args.high_speed, progress=progress,
        )  # fmt: skip

    try:
        statistics = trio.run(main)
    except PgmUnrecoverable as exc:
        if args.json and exc.statistics is not None:
            kit.print_json(exc.statistics)
        raise
    finally:
        live.close()
        if out is not sys.stdout.buffer:
            out.close()
    if args.json:
        kit.print_json(statistics)
    else:
        print(f"received {statistics.bytes_delivered} octets; {_received(statistics)}",
              file=sys.stderr)  # fmt: skip
    return 0


def _received(s: Any) -> str:
    line = f"{s.naks_sent} NAKs, {s.repairs_received} repairs"
    if s.parity_received or s.parity_naks_sent:
        line += (f"; {s.fec_rebuilt} packets rebuilt from {s.parity_received} parity "
                 f"packets, {s.parity_naks_sent} asked")  # fmt: skip
    return line


def _size_of(source: Any) -> int | None:
    """How many bytes a file to send holds, when it is a regular file (a pipe: None)."""
    import os
    import stat

    try:
        info = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
