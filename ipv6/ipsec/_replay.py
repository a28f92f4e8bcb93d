"""The anti-replay window of an inbound SA (RFC 4302 3.4.3), as a pure object.

A sequence number is first checked (:meth:`ReplayWindow.check`), then, once
its packet's ICV is verified, accepted (:meth:`ReplayWindow.accept`): a forged
packet must not move the window. Numbers start at 1; 0 is never valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReplayWindow:
    size: int = 64  # RFC 4302: at least 32, 64 recommended
    highest: int = 0  # the highest sequence number accepted
    _seen: int = field(default=0, repr=False)  # bit i: highest - i was accepted

    def check(self, sequence: int) -> str | None:
        """None when ``sequence`` may be new; else why it is refused."""
        if sequence == 0:
            return "sequence number 0"
        if sequence > self.highest:
            return None
        behind = self.highest - sequence
        if behind >= self.size:
            return "behind the replay window"
        if self._seen >> behind & 1:
            return "replayed"
        return None

    def accept(self, sequence: int) -> None:
        """Mark ``sequence`` (already checked, its ICV verified) as received."""
        if sequence > self.highest:
            shift = sequence - self.highest
            self._seen = (self._seen << shift | 1) & ((1 << self.size) - 1)
            self.highest = sequence
        else:
            self._seen |= 1 << (self.highest - sequence)
