"""A PGM receiver for one session (one TSI), RFC 3208 sections 5.3 and 6.3,
as a pure state machine.

Rules of this module:
- Sans-IO: the driver feeds it the session's packets (:meth:`Receiver.receive`)
  and the time (:meth:`Receiver.tick`); it answers with :class:`SendNak`
  (a NAK for the source's path address), :class:`Deliver` (an APDU, in order,
  whole) and :class:`Unrecoverable` (data that will never come: where, and
  why). :meth:`Receiver.next_deadline` says when to call it next. The random
  NAK back-off comes from a function the driver gives (a seeded one in tests).
- Where the session starts: at OPT_SYN when the first packet carries it;
  otherwise, with late join, at the trailing edge the first packet or SPM
  gives (what the window still holds is asked for), or at its OPT_JOIN when
  the source limits late joiners (RM_LATEJOIN); without it, at the first
  packet received. An SPM whose window is empty (leading edge one before the
  trailing edge) before any data says the session starts at that trailing
  edge. With ``need_syn``, the first packet delivered must be the session's
  first (OPT_SYN, or the start such an SPM gave; OpenPGM sends no OPT_SYN): a
  receiver that joined after the beginning left the window says so
  (:class:`Unrecoverable` at offset 0) and takes no more.
- Loss: a gap before a packet, or below an SPM's leading edge. Each missing
  sequence number goes through BACK_OFF (a random wait up to ``nak_bo_ivl``),
  a NAK (several due together go in one, with OPT_NAK_LIST), WAIT_NCF
  (``nak_rpt_ivl``), then WAIT_DATA (``nak_rdata_ivl``) once an NCF confirms
  it; an NCF heard in BACK_OFF suppresses this receiver's NAK. Timeouts go
  back to BACK_OFF, at most ``ncf_retries`` and ``data_retries`` times.
- Unrecoverable: when the source's trailing edge passes a missing packet, or
  its retries run out. The APDU it belonged to is dropped whole, never handed
  over in part; delivery goes on after it. ``Unrecoverable.offset`` is how many
  octets were delivered before it.
- Bounded: at most ``max_missing`` sequence numbers are chased at once (a
  jump further ahead is loss beyond the window, said at once), and at most
  ``max_buffered`` packets wait for an earlier one.
- NAKs need the source's address, which only an SPM gives (RFC 3208 9.6): until
  one arrives, they wait.
- A source that falls silent (no SPM or data for ``peer_expiry`` seconds, OpenPGM's
  PGM_PEER_EXPIRY) before the session's end is gone: what was not delivered is
  :class:`Unrecoverable`, and the receiver takes no more.
- FEC: the receiver follows the source's OPT_PARITY_PRM (its SPMs), unasked, as
  the seeds say receivers do. It keeps each transmission group's packets and
  parity packets until delivery has passed the group, and rebuilds what is
  missing once it holds ``k`` of them. With on-demand parity, loss in a group the
  source has sent whole is asked for with one parity NAK per group (how many
  packets are still wanted, less one, in the group's low bits; RFC 3208 11.3),
  so that one parity packet repairs different losses at different receivers;
  loss in a group not yet whole, in one whose parity would not rebuild, or in
  one whose parity did not come after PARITY_TRIES parity NAKs (a source whose
  parity is lost or broken: Debian's OpenPGM sends parity with bad checksums),
  is asked for selectively. Parity that cannot be is counted (``fec_failures``),
  groups given up on parity too (``parity_timeouts``).

Past 400 lines as one concept: one RFC 3208 receiver state machine (sequence
tracking, NAK timers, delivery) whose states read each other.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._pgm import Address, Data, Header, Nak, Options, ParityPrm, PgmPacket, PgmType, Spm
from ._pgmfec import FecError, group_of, group_size_ok, parity_number, rebuild
from ._pgmsource import SQN_MASK, after
from ._pgmstats import RateMeter, RmReceiverStats

MAX_NAK_LIST = 62
PARITY_TRIES = 3  # parity NAKs for a group before its loss is asked for selectively
BEGINNING_GONE = (
    "the session's beginning has left the sender's window (it began before this "
    "receiver joined, or its first packets could not be repaired)"
)


class Phase(Enum):
    BACK_OFF = "back-off"
    WAIT_NCF = "wait-ncf"
    WAIT_DATA = "wait-data"


@dataclass
class ReceiverConfig:
    group: Address
    dport: int
    nak_bo_ivl: float = 0.05
    nak_rpt_ivl: float = 0.2
    nak_rdata_ivl: float = 0.2
    ncf_retries: int = 50  # as OpenPGM's examples: a lossy link loses NCFs and repairs too
    data_retries: int = 50
    late_join: bool = False
    need_syn: bool = False  # the session must be had from its first data (OPT_SYN) on
    max_missing: int = 65536
    max_buffered: int = 65536
    nak_sport: int = 0  # the port NAKs come from (0: the session's data port)
    peer_expiry: float = 300.0  # seconds of silence after which the source is gone
    group_wait: float = 1.0  # FEC on demand: how long a loss waits for its group to be sent


# RM_HIGH_SPEED_INTRANET_OPT: on a LAN of 100 Mbit/s and more, NAKs go sooner and
# are repeated sooner (the defaults suit wide-area paths with longer round trips).
HIGH_SPEED: dict[str, Any] = {"nak_bo_ivl": 0.01, "nak_rpt_ivl": 0.05, "nak_rdata_ivl": 0.05}


@dataclass(frozen=True)
class SendNak:
    packet: Nak
    to: Address


@dataclass(frozen=True)
class Deliver:
    apdu: bytes


@dataclass(frozen=True)
class Unrecoverable:
    first: int  # the first sequence number lost
    last: int
    offset: int  # octets delivered before the loss
    why: str


Action = SendNak | Deliver | Unrecoverable


@dataclass
class ReceiverStatistics:
    """As RM_RECEIVER_STATISTICS counts them."""

    data_received: int = 0  # ODATA and RDATA, each once
    data_delivered: int = 0  # packets handed on in order
    repairs_received: int = 0  # RDATA that filled a gap
    duplicates: int = 0
    naks_sent: int = 0
    ncfs_received: int = 0
    lost_unrecoverable: int = 0  # sequence numbers
    apdus_delivered: int = 0
    bytes_delivered: int = 0
    buffer_full: int = 0  # packets dropped because too many waited
    odata_received: int = 0  # of data_received: original transmissions
    rdata_received: int = 0  # and repairs
    data_bytes_received: int = 0  # their data octets
    total_bytes_received: int = 0  # every packet of the session, PGM header on
    nak_sqns_sent: int = 0  # sequence numbers the NAKs asked for
    parity_received: int = 0  # parity packets (proactive and on demand) kept
    parity_naks_sent: int = 0  # packets parity NAKs asked for
    fec_rebuilt: int = 0  # data packets rebuilt from parity
    fec_failures: int = 0  # groups whose parity could not rebuild them
    parity_unusable: int = 0  # parity before the source's FEC was known, or past use
    parity_timeouts: int = 0  # groups whose parity never came: asked for selectively


@dataclass
class _Missing:
    phase: Phase
    deadline: float
    ncf_tries: int = 0
    data_tries: int = 0
    since: float = 0.0  # when it was found missing


@dataclass
class Receiver:
    config: ReceiverConfig
    tsi: tuple[bytes, int]
    random: Callable[[], float]
    statistics: ReceiverStatistics = field(default_factory=ReceiverStatistics)

    def __post_init__(self) -> None:
        self.next: int | None = None  # the next sequence number to deliver
        self.lead: int | None = None  # the highest known to exist
        self.source: Address | None = None  # where NAKs go (an SPM's path NLA)
        self.buffer: dict[int, Data] = {}
        self.missing: collections.OrderedDict[int, _Missing] = collections.OrderedDict()
        self.apdu: list[Data] = []  # the fragments of the APDU being put together
        self.dropping = False  # the rest of an APDU whose beginning was lost is passed over
        self.holes: list[tuple[int, int]] = []  # lost ranges ahead of delivery, to jump
        self.finished = False  # OPT_FIN delivered
        self.refused = False  # need_syn, and the first data was not the session's first
        self.start_known = False  # an SPM of an empty window came first: nothing was sent before
        self.fin_lead: int | None = None  # an SPM said the session ends after this one
        self.heard: float | None = None  # when the source was last heard
        self.expired = False  # the source fell silent before the end
        self.meter = RateMeter()
        self.window_samples = [0, 0, 0, 0]  # count, sum, min, max of sequences in window
        self.fec: ParityPrm | None = None  # the source's FEC, from its SPMs
        self.groups: dict[int, dict[int, Data]] = {}  # a group's packets, by index, kept
        self.parity: dict[int, dict[int, Data]] = {}  # and its parity packets, by h
        self.no_fec: set[int] = set()  # groups repaired selectively (parity failed)
        self.parity_tries: dict[int, int] = {}  # parity NAKs sent for each group

    @property
    def stopped(self) -> bool:
        """Nothing more will be taken: refused, or the source is gone."""
        return self.refused or self.expired

    # -- the driver's calls --

    def receive(self, packet: PgmPacket, now: float, size: int = 0) -> list[Action]:
        """A packet of this session (``size``: its octets, for the statistics)."""
        if packet.header.tsi != self.tsi or self.stopped:
            return []
        self.statistics.total_bytes_received += size
        self.meter.add(now, size)
        if not (isinstance(packet, Nak) and packet.kind == PgmType.NAK):
            self.heard = now  # the source's own packets (another receiver's NAK is not)
        out: list[Action] = []
        if isinstance(packet, Spm):
            self.source = packet.path
            self._fec(packet.options.parity_prm)
            if packet.options.fin:  # the session ends with its leading edge (RFC 3208 9.7)
                self.fin_lead = packet.lead
            self._start(packet.trail, (packet.lead + 1) & SQN_MASK, packet.options, from_spm=True)
            if self.next is not None:
                out += self._trail(packet.trail)
                self._known(packet.lead, now)
        elif isinstance(packet, Data) and packet.header.parity:
            out += self._parity(packet, now)
        elif isinstance(packet, Data):
            out += self._data(packet, now)
        elif isinstance(packet, Nak) and packet.kind == PgmType.NCF:
            self.statistics.ncfs_received += 1
            for sqn in self._confirmed(packet):
                state = self.missing.get(sqn)
                if state is not None and state.phase != Phase.WAIT_DATA:
                    state.phase, state.deadline = Phase.WAIT_DATA, now + self.config.nak_rdata_ivl
        out += self._deliver()
        if isinstance(packet, Data | Spm):
            self._sample_window()
        return out

    def rm_statistics(self, now: float) -> RmReceiverStats:
        """RM_RECEIVER_STATISTICS at ``now``, under the seeds' names."""
        s = self.statistics
        phases = collections.Counter(m.phase for m in self.missing.values())
        count, total, least, most = self.window_samples
        return RmReceiverStats(
            NumODataPacketsReceived=s.odata_received, NumRDataPacketsReceived=s.rdata_received,
            NumDuplicateDataPackets=s.duplicates, DataBytesReceived=s.data_bytes_received,
            TotalBytesReceived=s.total_bytes_received,
            RateKBitsPerSecOverall=self.meter.overall_kbits(now),
            RateKBitsPerSecLast=self.meter.last_kbits(now),
            TrailingEdgeSeqId=self.next or 0, LeadingEdgeSeqId=self.lead or 0,
            AverageSequencesInWindow=total // count if count else 0,
            MinSequencesInWindow=least, MaxSequencesInWindow=most,
            FirstNakSequenceNumber=self._oldest_missing(),
            NumPendingNaks=phases[Phase.BACK_OFF],
            NumOutstandingNaks=phases[Phase.WAIT_NCF] + phases[Phase.WAIT_DATA],
            NumDataPacketsBuffered=len(self.buffer), TotalSelectiveNaksSent=s.nak_sqns_sent,
            TotalParityNaksSent=s.parity_naks_sent,
        )  # fmt: skip

    def _oldest_missing(self) -> int:
        first = self.next
        if not self.missing or first is None:
            return 0
        return min(self.missing, key=lambda sqn: (sqn - first) & SQN_MASK)

    def _sample_window(self) -> None:
        if self.next is None or self.lead is None:
            return
        size = ((self.lead - self.next) & SQN_MASK) + 1
        if size > SQN_MASK // 2:  # the leading edge is behind the next to deliver: empty
            size = 0
        count, total, least, most = self.window_samples
        self.window_samples = [count + 1, total + size, size if not count else min(least, size),
                               max(most, size)]  # fmt: skip

    def tick(self, now: float) -> list[Action]:
        if self.stopped:
            return []
        if self._silent_since(now):
            return self._expire(now)
        out: list[Action] = []
        due = [sqn for sqn, m in self.missing.items() if m.deadline <= now]
        naks: list[int] = []
        for sqn in due:
            state = self.missing[sqn]
            if state.phase == Phase.BACK_OFF:
                if self.source is None:
                    state.deadline = now + self.config.nak_rpt_ivl  # no SPM yet: wait
                    continue
                if self._group_coming(sqn, state, now):
                    state.deadline = now + self.config.nak_bo_ivl  # one parity NAK, later
                    continue
                naks.append(sqn)
                state.phase, state.deadline = Phase.WAIT_NCF, now + self.config.nak_rpt_ivl
            elif state.phase == Phase.WAIT_NCF:
                state.ncf_tries += 1
                if state.ncf_tries > self.config.ncf_retries:
                    out += self._give_up(sqn, "no NCF confirmed the NAKs")
                else:
                    self._back_off(state, now)
            else:
                state.data_tries += 1
                if state.data_tries > self.config.data_retries:
                    out += self._give_up(sqn, "the repair never came")
                else:
                    self._back_off(state, now)
        naks = self._parity_naks(naks, now, out)
        for at in range(0, len(naks), MAX_NAK_LIST + 1):
            batch = naks[at : at + MAX_NAK_LIST + 1]
            out.append(self._nak(batch))
        out += self._deliver()
        return out

    def next_deadline(self) -> float | None:
        if self.stopped:
            return None
        deadlines = [m.deadline for m in self.missing.values()]
        if self.heard is not None and not (self.finished and not self.missing):
            deadlines.append(self.heard + self.config.peer_expiry)
        return min(deadlines, default=None)

    def _silent_since(self, now: float) -> bool:
        return (self.heard is not None and not (self.finished and not self.missing)
                and now >= self.heard + self.config.peer_expiry)  # fmt: skip

    def _expire(self, now: float) -> list[Action]:
        """The source is gone: all from the next to deliver to the highest known."""
        self.expired = True
        self.missing.clear()
        first = self.next if self.next is not None else 0
        last = (first - 1) & SQN_MASK  # none known past the delivered
        if self.lead is not None and self.next is not None and not after(first, self.lead):
            last = self.lead
            self.statistics.lost_unrecoverable += ((last - first) & SQN_MASK) + 1
        silent = now - (self.heard if self.heard is not None else now)
        why = f"the source fell silent for {silent:.0f} s before the session's end"
        return [Unrecoverable(first, last, self.statistics.bytes_delivered, why)]

    # -- inside --

    def _start(self, trail: int, first: int, options: Options, *, from_spm: bool = False
               ) -> None:  # fmt: skip
        """Where delivery begins, at the session's first packet (or SPM)."""
        if self.next is not None:
            return
        if from_spm and first == trail:  # lead + 1 == trail: the source has sent nothing yet
            self.next, self.start_known = trail, True
        elif options.syn:
            self.next = first
        elif self.config.late_join:  # what the window holds, or what OPT_JOIN allows of it
            join = options.join
            self.next = join if join is not None and after(join, trail) else trail
        elif from_spm:
            return  # without late join, the first data packet decides
        else:
            self.next = first
        self.lead = (self.next - 1) & SQN_MASK

    def _data(self, packet: Data, now: float, *, rebuilt: bool = False) -> list[Action]:
        self._start(packet.trail, packet.sqn, packet.options)
        assert self.next is not None
        out = self._trail(packet.trail)
        sqn = packet.sqn
        if sqn in self.buffer or after(self.next, sqn):
            self.statistics.duplicates += 1
            return out
        self.statistics.data_received += 1
        if rebuilt:
            self.statistics.fec_rebuilt += 1
        elif packet.repair:
            self.statistics.rdata_received += 1
        else:
            self.statistics.odata_received += 1
        if not rebuilt:
            self.statistics.data_bytes_received += len(packet.payload)
        if sqn in self.missing:
            del self.missing[sqn]
            self.statistics.repairs_received += packet.repair
        if len(self.buffer) >= self.config.max_buffered:
            self.statistics.buffer_full += 1
            return out
        out += self._known((sqn - 1) & SQN_MASK, now)
        self.buffer[sqn] = packet
        if self.lead is None or after(sqn, self.lead):
            self.lead = sqn
        if self.fec is not None and not rebuilt:
            k = self.fec.group_size
            group = group_of(sqn, k)
            self.groups.setdefault(group, {})[sqn - group & SQN_MASK] = packet
            if group in self.parity:
                out += self._rebuild(group, now)
        return out

    # -- FEC --

    def _fec(self, announced: ParityPrm | None) -> None:
        """The source's FEC as its SPM says (a size OpenPGM would refuse is ignored)."""
        if announced is None or not (announced.proactive or announced.ondemand):
            return
        if group_size_ok(announced.group_size) and self.fec is None:
            self.fec = announced

    def _parity(self, packet: Data, now: float) -> list[Action]:
        if self.fec is None or self.next is None:
            self.statistics.parity_unusable += 1
            return []
        k = self.fec.group_size
        group = group_of(packet.sqn, k)
        last = (group + k - 1) & SQN_MASK
        out = self._trail(packet.trail)
        whole = len(self.groups.get(group, {})) == k
        if after(self.next, last) or group in self.no_fec or whole:
            self.statistics.parity_unusable += 1  # passed, failed, or nothing to rebuild
            return out
        h = parity_number(packet, k)
        if h >= 255 - k:  # no code of k packets (a block holds 255 at most) has this row
            self.statistics.parity_unusable += 1
            return out
        kept = self.parity.setdefault(group, {})
        if h in kept:
            self.statistics.duplicates += 1
            return out
        if sum(len(p) for p in self.parity.values()) >= self.config.max_buffered:
            self.statistics.buffer_full += 1
            return out
        kept[h] = packet
        self.statistics.parity_received += 1
        out += self._known(last, now)  # parity says the whole group was sent
        return out + self._rebuild(group, now)

    def _rebuild(self, group: int, now: float) -> list[Action]:
        assert self.fec is not None
        k = self.fec.group_size
        have, parity = self.groups.get(group, {}), self.parity.get(group, {})
        if len(have) == k or len(have) + len(parity) < k or group in self.no_fec:
            return []
        try:
            packets = rebuild(k, 255, have, parity)
        except FecError:
            self.statistics.fec_failures += 1
            self.no_fec.add(group)  # selective repair from here on
            return []
        out: list[Action] = []
        for packet in packets:
            self.groups.setdefault(group, {})[packet.sqn - group & SQN_MASK] = packet
            out += self._data(packet, now, rebuilt=True)
        return out

    def _forget_groups(self) -> None:
        """Groups delivery has passed are no longer kept."""
        if self.fec is None or self.next is None:
            return
        k = self.fec.group_size
        for store in (self.groups, self.parity):
            while store:  # kept in the order groups came, which is mostly theirs
                group = next(iter(store))
                if not after(self.next, (group + k - 1) & SQN_MASK):
                    break
                del store[group]
        if self.no_fec:
            self.no_fec = {g for g in self.no_fec if not after(self.next, (g + k - 1) & SQN_MASK)}
        if self.parity_tries:
            self.parity_tries = {g: n for g, n in self.parity_tries.items()
                                 if not after(self.next, (g + k - 1) & SQN_MASK)}  # fmt: skip

    def _group_coming(self, sqn: int, state: _Missing, now: float) -> bool:
        """With on-demand parity, a loss in a group the source has not sent whole yet
        waits for the rest of the group (for at most ``group_wait`` seconds, and not
        in the session's last group): then one parity NAK asks for the group's losses,
        where selective NAKs would ask for each now."""
        fec = self.fec
        if fec is None or not fec.ondemand or self.lead is None:
            return False
        group = group_of(sqn, fec.group_size)
        last = (group + fec.group_size - 1) & SQN_MASK
        if not after(last, self.lead) or group in self.no_fec:
            return False  # whole already (the parity NAK goes now), or parity failed
        if self.fin_lead is not None and not after(group, self.fin_lead):
            return False  # the session ends in this group: it will never be whole
        return now - state.since < self.config.group_wait

    def _confirmed(self, ncf: Nak) -> list[int]:
        """What an NCF confirms: its sequence numbers, or a parity NCF's whole group."""
        if not ncf.header.parity:
            return [ncf.sqn, *ncf.options.nak_list]
        if self.fec is None:
            return []
        k = self.fec.group_size
        groups = {group_of(sqn, k) for sqn in (ncf.sqn, *ncf.options.nak_list)}
        return [sqn for sqn in self.missing if group_of(sqn, k) in groups]

    def _parity_naks(self, due: list[int], now: float, out: list[Action]) -> list[int]:
        """Of the sequence numbers due a NAK, those in whole groups are asked for with a
        parity NAK per group (appended to ``out``); the rest are returned."""
        fec = self.fec
        if fec is None or not fec.ondemand or not due or self.lead is None:
            return due
        k = fec.group_size
        selective: list[int] = []
        groups: dict[int, None] = {}
        for sqn in due:
            group = group_of(sqn, k)
            whole = not after((group + k - 1) & SQN_MASK, self.lead)
            if whole and group not in self.no_fec:
                groups[group] = None
            else:
                selective.append(sqn)
        if not groups:
            return due
        wanted = collections.Counter(group_of(sqn, k) for sqn in self.missing)
        for group in groups:
            count = wanted[group] - len(self.parity.get(group, {}))
            tries = self.parity_tries.get(group, 0)
            if tries >= PARITY_TRIES:
                self.statistics.parity_timeouts += 1
                self.no_fec.add(group)
            if count <= 0 or tries >= PARITY_TRIES:  # parity did not do it: ask selectively
                selective += [s for s in due if group_of(s, k) == group]
                continue
            self.parity_tries[group] = tries + 1
            for sqn, state in self.missing.items():
                if group_of(sqn, k) == group and state.phase == Phase.BACK_OFF:
                    state.phase, state.deadline = Phase.WAIT_NCF, now + self.config.nak_rpt_ivl
            out.append(self._nak([group | (min(count, k) - 1)], parity=True))
            self.statistics.parity_naks_sent += min(count, k)
        return selective

    def _known(self, lead: int, now: float) -> list[Action]:
        """Everything up to ``lead`` exists: what has not come is missing."""
        if self.lead is None or self.next is None or not after(lead, self.lead):
            return []
        gap = (lead - self.lead) & SQN_MASK
        if gap > self.config.max_missing:
            first = (self.lead + 1) & SQN_MASK
            last = (lead - self.config.max_missing) & SQN_MASK
            out = self._lost(first, last, "more went missing at once than can be chased")
            self.lead = last
            return out + self._known(lead, now)
        sqn = (self.lead + 1) & SQN_MASK
        while True:
            if sqn not in self.buffer and sqn not in self.missing:
                state = _Missing(Phase.BACK_OFF, now, since=now)
                self._back_off(state, now)
                self.missing[sqn] = state
            if sqn == lead:
                break
            sqn = (sqn + 1) & SQN_MASK
        self.lead = lead
        return []

    def _trail(self, trail: int) -> list[Action]:
        """The source no longer holds what is before ``trail``."""
        out: list[Action] = []
        while self.missing:  # in ascending order: they are added so, and never again
            sqn = next(iter(self.missing))
            if not after(trail, sqn):
                break
            out += self._give_up(sqn, "the source's window moved past it")
        return out

    def _back_off(self, state: _Missing, now: float) -> None:
        state.phase = Phase.BACK_OFF
        state.deadline = now + self.random() * self.config.nak_bo_ivl

    def _nak(self, sqns: list[int], *, parity: bool = False) -> SendNak:
        assert self.source is not None
        gsi, sport = self.tsi
        header = Header(self.config.nak_sport or self.config.dport, sport, gsi, parity=parity)
        nak = Nak(header, PgmType.NAK, sqns[0], self.source, self.config.group,
                  Options(nak_list=tuple(sqns[1:])))  # fmt: skip
        self.statistics.naks_sent += 1
        if not parity:
            self.statistics.nak_sqns_sent += len(sqns)
        return SendNak(nak, self.source)

    def _give_up(self, sqn: int, why: str) -> list[Action]:
        self.missing.pop(sqn, None)
        return self._lost(sqn, sqn, why)

    def _lost(self, first: int, last: int, why: str) -> list[Action]:
        """Sequence numbers ``first`` to ``last`` will never come."""
        count = ((last - first) & SQN_MASK) + 1
        self.statistics.lost_unrecoverable += count
        if self.config.need_syn and not self.statistics.data_delivered:
            self.refused = True  # whatever was lost, the session cannot be had from its start
            self.missing.clear()
            return [Unrecoverable(first, last, 0, BEGINNING_GONE)]
        for sqn in list(self.missing):
            if not after(first, sqn) and not after(sqn, last):
                del self.missing[sqn]
        out: list[Action] = [Unrecoverable(first, last, self.statistics.bytes_delivered, why)]
        self._skip(first, last)
        return out

    def _skip(self, first: int, last: int) -> None:
        """Delivery passes over ``first``..``last`` and the APDUs they cut."""
        if self.next is None:
            return
        if not after(first, self.next) and not after(self.next, (last + 1) & SQN_MASK):
            self.next = (last + 1) & SQN_MASK
            self.apdu = []
            self.dropping = True
        else:
            self.holes.append((first, last))

    def _deliver(self) -> list[Action]:
        out: list[Action] = []
        while self.next is not None:
            hole = next((h for h in self.holes if h[0] == self.next), None)
            if hole is not None:
                self.holes.remove(hole)
                self.next = (hole[1] + 1) & SQN_MASK
                self.apdu = []
                self.dropping = True
                continue
            packet = self.buffer.pop(self.next, None)
            if packet is None:
                if self.fin_lead is not None and self.next == (self.fin_lead + 1) & SQN_MASK:
                    self.finished = True  # everything up to the announced end was delivered
                break
            first = not self.statistics.data_delivered
            if first and self.config.need_syn and not (packet.options.syn or self.start_known):
                self.refused = True
                self.missing.clear()
                return [*out, Unrecoverable(packet.sqn, packet.sqn, 0, BEGINNING_GONE)]
            self.statistics.data_delivered += 1
            self.next = (self.next + 1) & SQN_MASK
            out += self._assemble(packet)
        self._forget_groups()
        return out

    def _assemble(self, packet: Data) -> list[Action]:
        fragment = packet.options.fragment
        if packet.options.fin:
            self.finished = True
        if fragment is None:
            self.dropping = False
            if packet.options.fin and not packet.payload:
                return []
            return [self._hand_over(packet.payload)]
        if fragment.offset == 0:
            self.apdu = []
            self.dropping = False
        if self.dropping:
            return []  # the rest of an APDU whose beginning was lost
        self.apdu.append(packet)
        have = sum(len(p.payload) for p in self.apdu)
        if have < fragment.total:
            return []
        apdu = b"".join(p.payload for p in self.apdu)
        self.apdu = []
        return [self._hand_over(apdu[: fragment.total])]

    def _hand_over(self, apdu: bytes) -> Deliver:
        self.statistics.apdus_delivered += 1
        self.statistics.bytes_delivered += len(apdu)
        return Deliver(apdu)
