"""The capture filter of the IGMP/MLD observer: a classic BPF program, as data.

Rules of this module:
- Pure: the program is a table of (code, jt, jf, k) rows, one per
  instruction, and :func:`encode` turns it into the bytes of the kernel's
  ``struct sock_filter`` array. No socket here: the observer attaches it.
- The filter only saves work; it decides nothing. What it passes is decoded
  by :mod:`mcast.wire._frames`, which trusts nothing. It passes IPv4 protocol 2
  (IGMP), IPv6 whose first next header is Hop-by-Hop (MLD's Router Alert
  rides there) or ICMPv6 (MLD sent without it, which the decoder reports),
  and 802.1Q-tagged frames (the decoder looks inside), and drops the rest in
  the kernel, so a flood of data on the link never reaches Python.
"""

from __future__ import annotations

import struct

# Instruction classes and modes (linux/filter.h, linux/bpf_common.h).
LD_H_ABS = 0x28  # BPF_LD | BPF_H | BPF_ABS: A = halfword at k
LD_B_ABS = 0x30  # BPF_LD | BPF_B | BPF_ABS: A = byte at k
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: pc += (A == k) ? jt : jf
RET_K = 0x06  # BPF_RET | BPF_K: accept k bytes (0 drops)

ETH_TYPE, IPV4_PROTOCOL, IPV6_NEXT_HEADER = 12, 23, 20  # offsets in the Ethernet frame
ACCEPT, DROP = 0x40000, 0

# (code, jump if true, jump if false, k); jumps count the instructions skipped.
PROGRAM: tuple[tuple[int, int, int, int], ...] = (
    (LD_H_ABS, 0, 0, ETH_TYPE),  # 0
    (JEQ_K, 0, 2, 0x0800),  # 1: IPv4 -> 2, else 4
    (LD_B_ABS, 0, 0, IPV4_PROTOCOL),  # 2
    (JEQ_K, 5, 6, 2),  # 3: IGMP -> accept (9), else drop (10)
    (JEQ_K, 0, 3, 0x86DD),  # 4: IPv6 -> 5, else 8
    (LD_B_ABS, 0, 0, IPV6_NEXT_HEADER),  # 5
    (JEQ_K, 2, 0, 0),  # 6: Hop-by-Hop -> accept (9), else 7
    (JEQ_K, 1, 2, 58),  # 7: ICMPv6 -> accept (9), else drop (10)
    (JEQ_K, 0, 1, 0x8100),  # 8: 802.1Q -> accept (9), else drop (10)
    (RET_K, 0, 0, ACCEPT),  # 9
    (RET_K, 0, 0, DROP),  # 10
)

_INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter


def encode(program: tuple[tuple[int, int, int, int], ...] = PROGRAM) -> bytes:
    """The program as the kernel's array of ``struct sock_filter``."""
    return b"".join(_INSTRUCTION.pack(*row) for row in program)
