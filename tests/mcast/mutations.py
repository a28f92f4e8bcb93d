"""Random mutations of wire messages, for the codecs' million-input fuzz tests."""

from __future__ import annotations

import random


def mutate(rng: random.Random, message: bytes, *, at_least: bytes = b"\0") -> bytes:
    """``message`` with one to four random changes: a byte overwritten (most
    often), the tail cut off (never to nothing: ``at_least`` then), or a few
    random bytes inserted."""
    data = bytearray(message)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.6:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.8:
            del data[rng.randrange(len(data)) :]
            if not data:
                data = bytearray(at_least)
        else:
            at = rng.randrange(len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)
