"""The seeds' session statistics (RM_SENDER_STATISTICS, RM_RECEIVER_STATISTICS),
under the names of the structures Windows fills (RM_SENDER_STATS,
RM_RECEIVER_STATS), as the pure machines count them.

Rules of this module:
- Pure: the machines (:mod:`._pgmsource`, :mod:`._pgmreceiver`) feed a
  :class:`RateMeter` the octets they send or take in, with the time they are
  given; no clock is read here.
- Sequence numbers are the 32-bit ones of the wire; a window not yet known is 0.
- Rates are kilobits a second: over the session so far (``Overall``), and over
  the last whole second (``Last``); what the session has not had yet is 0.
- Parity NAKs are 0 until FEC is used (issue 34's next step): the field is there
  so that a reader of the JSON need not change when it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipv6 import Result


@dataclass
class RateMeter:
    """Octets over time: the whole session's rate and the last whole second's."""

    started: float | None = None
    total: int = 0
    second: int = 0  # the whole second (since the start) the current count is of
    this_second: int = 0
    last_second: int = 0  # octets in the last whole second before ``second``

    def add(self, now: float, octets: int) -> None:
        self._roll(now)
        self.total += octets
        self.this_second += octets

    def overall_kbits(self, now: float) -> int:
        if self.started is None or now <= self.started:
            return 0
        return int(self.total * 8 / 1000 / (now - self.started))

    def last_kbits(self, now: float) -> int:
        self._roll(now)
        return self.last_second * 8 // 1000

    def _roll(self, now: float) -> None:
        if self.started is None:
            self.started = now
        second = int(now - self.started)
        if second == self.second:
            return
        self.last_second = self.this_second if second == self.second + 1 else 0
        self.second, self.this_second = second, 0


@dataclass
class RmSenderStats(Result):
    """RM_SENDER_STATISTICS: a PGM source's session, as Windows' RM_SENDER_STATS."""

    DataBytesSent: int  # APDU octets in ODATA
    TotalBytesSent: int  # every packet of the session, with its IP header
    NaksReceived: int  # sequence numbers NAKed
    NaksReceivedTooLate: int  # NAKed after they left the window
    NumOutstandingNaks: int  # NAKed, confirmed, repair not yet sent
    NumNaksAfterRData: int  # NAKed again after their repair went
    RepairPacketsSent: int
    BufferSpaceAvailable: int  # octets the send queue still takes
    TrailingEdgeSeqId: int
    LeadingEdgeSeqId: int
    RateKBitsPerSecOverall: int
    RateKBitsPerSecLast: int
    TotalODataPacketsSent: int


@dataclass
class RmReceiverStats(Result):
    """RM_RECEIVER_STATISTICS: one received session, as Windows' RM_RECEIVER_STATS."""

    NumODataPacketsReceived: int
    NumRDataPacketsReceived: int
    NumDuplicateDataPackets: int
    DataBytesReceived: int  # data octets of the packets taken (ODATA and RDATA)
    TotalBytesReceived: int  # every packet of the session, PGM header on
    RateKBitsPerSecOverall: int
    RateKBitsPerSecLast: int
    TrailingEdgeSeqId: int  # the next to deliver
    LeadingEdgeSeqId: int  # the highest known to exist
    AverageSequencesInWindow: int
    MinSequencesInWindow: int
    MaxSequencesInWindow: int
    FirstNakSequenceNumber: int  # the oldest sequence number missing (0: none)
    NumPendingNaks: int  # missing, NAK not yet sent (back-off)
    NumOutstandingNaks: int  # NAKed, waiting for the NCF or the repair
    NumDataPacketsBuffered: int  # taken out of order, waiting for the gap before them
    TotalSelectiveNaksSent: int  # sequence numbers NAKed
    TotalParityNaksSent: int
