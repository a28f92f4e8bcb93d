"""A PGM source (RFC 3208 sections 5 and 6) as a pure state machine.

Rules of this module:
- Sans-IO, as the querier is: the driver hands it data to send
  (:meth:`Source.send`), what arrives (:meth:`Source.receive`) and the time
  (:meth:`Source.tick`); it answers with :class:`Transmit` actions (a packet
  for the group, or for one address) and says when to call it next
  (:meth:`Source.next_deadline`). No socket, no clock.
- Data leaves as ODATA, an APDU longer than one TPDU in fragments
  (OPT_FRAGMENT); the first ODATA carries OPT_SYN, the last one sent by
  :meth:`Source.close` OPT_FIN. Sequence numbers are 32 bits and wrap
  (serial arithmetic, RFC 1982).
- The transmit window keeps the last ``window`` packets sent, and none older
  than ``window_seconds`` when that is set; such a window advances with time in
  steps of ``advance`` % of its span (the seeds' RM_SEND_WINDOW_ADV_RATE, 15 %
  by default), held while a repair in the step is still to go: what left it
  cannot be repaired. Its trailing
  and leading edges go in every ODATA and SPM.
- One rate, in bytes a second, over ODATA, RDATA and SPM together (RFC 3208
  5.1's rate limit; the seeds' RM_RATE_WINDOW_SIZE), as a token bucket that
  holds ``burst`` seconds' worth. Repairs go before new data.
- SPMs: a heartbeat after data (intervals growing from 0.1 s to the ambient
  interval) and one every ambient interval (RFC 3208 6.1). The session's
  first ODATA (``EARLY_SPMS``) each come after an SPM too. A receiver NAKs
  only to a source whose SPM it has had, and takes the window to begin
  where the first SPM or ODATA it hears says; one that lost the first SPM
  and then data gives that data up at once (OpenPGM does), so the first SPM
  is not left alone until the heartbeat's.
- A NAK for data in the window is confirmed at once with an NCF to the group
  and repaired once with RDATA (further NAKs for it while the repair waits,
  or within ``nak_elimination`` seconds after it went, get an NCF only: the
  repair is on its way to them; ``naks_eliminated``); a NAK for data out of
  the window is counted and ignored;
  a NAK for another session, or malformed, is the driver's to count.
- Data not yet sent is bounded: :meth:`Source.send` refuses (returns False)
  when ``window`` TPDUs are already waiting, and the driver waits.
- FEC (``fec``, RM_USE_FEC; RFC 3208 11): SPMs carry OPT_PARITY_PRM; sequence
  numbers start at a transmission group's start. Proactive parity goes out as
  ODATA right after each whole group; a parity NAK (OPT_PARITY, the group with
  the count of packets wanted less one in its low bits) is confirmed with a
  parity NCF and answered with that many new parity packets as RDATA (a count
  already queued for the group is raised, never added to, as OpenPGM does;
  parity the group had within ``nak_elimination`` seconds counts as sent for it).
  Parity is made only of a group whose packets the window still holds whole;
  a partial group (the session's last) is repaired selectively.

Past 400 lines as one concept: one RFC 3208 source state machine whose parts
(the transmit window, the rate, SPMs, selective and parity repairs) all spend
the same rate and hold or free the same window.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field

from ._pgm import Address, Data, Fragment, Header, Nak, Options, PgmPacket, PgmType, Spm
from ._pgmfec import FecConfig, group_of, make_parity
from ._pgmstats import RateMeter, RmSenderStats

SQN_MASK = 0xFFFFFFFF
HEARTBEAT = (0.1, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)  # seconds after data, then ambient
EARLY_SPMS = 8  # the session's first ODATA each come after an SPM
IP_OVERHEAD = {4: 20, 6: 40}  # what the rate counts besides the PGM packet


def after(a: int, b: int) -> bool:
    """Whether sequence number ``a`` comes after ``b`` (RFC 1982 serial arithmetic)."""
    return a != b and (a - b) & SQN_MASK < 0x80000000


@dataclass
class SourceConfig:
    gsi: bytes  # 6 octets
    sport: int  # the session's source port (with the GSI, its TSI)
    dport: int  # the group's data port
    group: Address
    path: Address  # this source's address, which receivers send NAKs to
    max_tsdu: int = 1400  # data octets in one TPDU
    rate: int = 1_000_000  # bytes a second, ODATA + RDATA + SPM with their IP headers
    window: int = 4096  # packets kept for repair
    window_seconds: float | None = None  # and none older than this, when set
    # RM_SEND_WINDOW_ADV_RATE: a window that ages moves its trailing edge on in steps of
    # this share of its span, 1 to 50 % (15 by default), not a packet at a time
    advance: int = 15
    burst: float = 0.01  # the token bucket's depth, in seconds of the rate
    ambient_spm: float = 8.0
    first_sqn: int = 0
    # RM_LATEJOIN: the percentage of the window (0 to 75) a late joiner may ask for,
    # said in OPT_JOIN; None: no OPT_JOIN, so a late joiner may ask for the whole window
    late_join: int | None = None
    fec: FecConfig | None = None  # RM_USE_FEC
    # a NAK for what was repaired less than this ago gets an NCF only: the repair is on
    # its way (NAKs of several receivers for one loss come within their back-off)
    nak_elimination: float = 0.02

    def __post_init__(self) -> None:
        if self.fec is not None and self.first_sqn % self.fec.group_size:
            raise ValueError(
                f"with FEC the first sequence number begins a group of {self.fec.group_size}"
            )
        if self.rate <= 0:
            raise ValueError(f"a rate of {self.rate} bytes a second sends nothing")
        if self.window < 1:
            raise ValueError("the transmit window holds at least one packet")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise ValueError("the transmit window spans more than 0 seconds")
        if not 1 <= self.advance <= 50:
            raise ValueError(
                f"the window advances by 1 to 50 % of its span at a time, not {self.advance}"
            )
        if not 1 <= self.max_tsdu <= 65535:
            raise ValueError(f"a TPDU carries 1 to 65535 data octets, not {self.max_tsdu}")
        if self.late_join is not None and not 0 <= self.late_join <= 75:
            raise ValueError(
                f"late joiners may ask for 0 to 75 % of the window, not {self.late_join}"
            )


@dataclass(frozen=True)
class Transmit:
    """A packet to send: to the group when ``to`` is None, else to that address."""

    packet: PgmPacket
    to: Address | None = None


@dataclass
class SourceStatistics:
    """As RM_SENDER_STATISTICS counts them."""

    data_sent: int = 0  # ODATA packets
    bytes_sent: int = 0  # APDU octets in ODATA
    repairs_sent: int = 0  # RDATA packets
    spms_sent: int = 0
    naks_received: int = 0
    ncfs_sent: int = 0
    naks_outside_window: int = 0  # asked for what the window no longer holds
    apdus: int = 0
    naks_after_rdata: int = 0  # asked for again after its repair went
    naks_eliminated: int = 0  # asked for while its repair was on its way: NCF only
    total_bytes_sent: int = 0  # every packet, with its IP header
    parity_sent: int = 0  # proactive parity packets (ODATA)
    parity_repairs_sent: int = 0  # parity packets sent for parity NAKs (RDATA)
    parity_naks_received: int = 0  # packets asked for by parity NAKs
    parity_naks_refused: int = 0  # parity NAKs to a source without on-demand parity


@dataclass
class _Kept:
    packet: Data
    sent: float
    repaired: bool = False
    repaired_at: float = -1.0


@dataclass
class Source:
    config: SourceConfig
    now: float
    statistics: SourceStatistics = field(default_factory=SourceStatistics)

    def __post_init__(self) -> None:
        c = self.config
        self.header = Header(c.sport, c.dport, c.gsi)
        self.next_sqn = c.first_sqn & SQN_MASK  # the next ODATA's sequence number
        self.window: collections.OrderedDict[int, _Kept] = collections.OrderedDict()
        self.waiting: collections.deque[Data] = collections.deque()  # ODATA not yet sent
        self.repairs: collections.OrderedDict[int, None] = collections.OrderedDict()
        self.tokens = c.rate * c.burst
        self.last_fill = self.now
        self.spm_sqn = 0
        self.heartbeat = len(HEARTBEAT)  # past the heartbeat: ambient SPMs
        self.next_spm = self.now  # an SPM first, so receivers learn where to NAK
        self.syn_sent = False
        self.closing = False
        self.meter = RateMeter()
        self.step_to: float | None = None  # a step of the aging window not yet finished
        self.proactive: collections.deque[tuple[int, int]] = collections.deque()  # (group, h)
        self.wanted: collections.OrderedDict[int, int] = collections.OrderedDict()  # on demand
        self.parity_made: dict[int, int] = {}  # parity packets made of each group so far
        self.parity_times: dict[int, list[float]] = {}  # when each group's last parity went

    # -- the driver's calls --

    def send(self, apdu: bytes) -> bool:
        """Queue an APDU; False (nothing queued) while ``window`` TPDUs wait to go."""
        if self.closing:
            raise ValueError("the session is closed")
        if len(self.waiting) >= self.config.window:
            return False
        size = self.config.max_tsdu
        pieces = [apdu[i : i + size] for i in range(0, len(apdu), size)] or [b""]
        first = self.next_sqn
        for index, piece in enumerate(pieces):
            fragment = Fragment(first, index * size, len(apdu)) if len(pieces) > 1 else None
            options = Options(fragment=fragment, syn=not self.syn_sent)
            self.syn_sent = True
            self.waiting.append(Data(self.header, self.next_sqn, 0, piece, options=options))
            self.next_sqn = (self.next_sqn + 1) & SQN_MASK
        self.statistics.apdus += 1
        return True

    def close(self) -> None:
        """The session ends: an empty ODATA with OPT_FIN follows what waits."""
        if not self.closing:
            self.waiting.append(Data(self.header, self.next_sqn, 0, b"", options=Options(fin=True)))
            self.next_sqn = (self.next_sqn + 1) & SQN_MASK
            self.closing = True

    @property
    def idle(self) -> bool:
        """Nothing waits to be sent, and no repair."""
        return not self.waiting and not self.repairs and not self.wanted and not self.proactive

    def receive(self, packet: PgmPacket, now: float) -> list[Transmit]:
        """A packet for this session (a NAK, usually); what to send back at once."""
        self._advance(now)
        if not isinstance(packet, Nak) or packet.kind != PgmType.NAK:
            return []
        if (packet.header.gsi, packet.header.dport) != (self.config.gsi, self.config.sport):
            return []  # a NAK names the session by its GSI and, as destination port, its port
        if packet.header.parity:
            return self._parity_nak(packet, now)
        out = []
        for sqn in (packet.sqn, *packet.options.nak_list):
            self.statistics.naks_received += 1
            kept = self.window.get(sqn)
            if kept is None:
                self.statistics.naks_outside_window += 1
                continue
            if kept.repaired:
                self.statistics.naks_after_rdata += 1
            ncf = Nak(self.header, PgmType.NCF, sqn, self.config.path, self.config.group)
            out.append(Transmit(ncf))
            self._sent(ncf)
            self.statistics.ncfs_sent += 1
            if kept.repaired and now - kept.repaired_at < self.config.nak_elimination:
                self.statistics.naks_eliminated += 1
                continue
            self.repairs[sqn] = None
        return out

    def tick(self, now: float) -> list[Transmit]:
        """What to send now: repairs, then data, as the rate allows; SPMs when due."""
        self._advance(now)
        out: list[Transmit] = []
        if now >= self.next_spm:
            out.append(self._spm())
        while self.repairs:
            sqn = next(iter(self.repairs))
            kept = self.window.get(sqn)
            if kept is None:  # it left the window meanwhile
                del self.repairs[sqn]
                continue
            repair = Data(self.header, sqn, self._trail(), kept.packet.payload, repair=True,
                          options=kept.packet.options)  # fmt: skip
            if not self._spend(repair):
                return out
            del self.repairs[sqn]
            kept.repaired, kept.repaired_at = True, now
            out.append(Transmit(repair))
            self.statistics.repairs_sent += 1
        if not self._send_parity(out):
            return out
        while self.waiting:
            head = self.waiting[0]
            trail = self._trail(head.sqn)
            options = head.options
            if self.config.late_join is not None:
                options = dataclasses.replace(options, join=self._join(trail, head.sqn))
            data = Data(self.header, head.sqn, trail, head.payload, options=options)
            if not self._spend(data):
                return out
            if self.statistics.data_sent < EARLY_SPMS:
                out.append(self._spm())  # where the window begins, told again before it
            self.waiting.popleft()
            self.window[data.sqn] = _Kept(data, now)
            self._trim()
            out.append(Transmit(data))
            self.statistics.data_sent += 1
            self.statistics.bytes_sent += len(data.payload)
            self.heartbeat = 0  # data went: SPMs come quickly again
            self.next_spm = min(self.next_spm, now + HEARTBEAT[0])
            fec = self.config.fec
            if fec and fec.proactive and data.sqn % fec.group_size == fec.group_size - 1:
                group = group_of(data.sqn, fec.group_size)
                self.proactive.extend((group, h) for h in range(fec.proactive))
                if not self._send_parity(out):  # the group's parity before the next group
                    return out
        return out

    def next_deadline(self) -> float:
        """When :meth:`tick` has something to do."""
        deadline = self.next_spm
        if self.repairs or self.waiting or self.wanted or self.proactive:
            # At least an octet's time: a wait of less could round to no wait at all.
            deadline = min(deadline, self.now + max(1.0, -self.tokens) / self.config.rate)
        if self.config.window_seconds is not None and self.window:
            oldest = next(iter(self.window.values())).sent
            deadline = min(deadline, oldest + self.config.window_seconds)
        return deadline

    def rm_statistics(self, now: float) -> RmSenderStats:
        """RM_SENDER_STATISTICS at ``now``, under the seeds' names."""
        s = self.statistics
        return RmSenderStats(
            DataBytesSent=s.bytes_sent, TotalBytesSent=s.total_bytes_sent,
            NaksReceived=s.naks_received, NaksReceivedTooLate=s.naks_outside_window,
            NumOutstandingNaks=len(self.repairs), NumNaksAfterRData=s.naks_after_rdata,
            RepairPacketsSent=s.repairs_sent + s.parity_repairs_sent,
            BufferSpaceAvailable=max(0, self.config.window - len(self.waiting))
            * self.config.max_tsdu,
            TrailingEdgeSeqId=self._trail(), LeadingEdgeSeqId=self._lead(),
            RateKBitsPerSecOverall=self.meter.overall_kbits(now),
            RateKBitsPerSecLast=self.meter.last_kbits(now), TotalODataPacketsSent=s.data_sent,
        )  # fmt: skip

    # -- inside --

    def _parity_nak(self, packet: Nak, now: float) -> list[Transmit]:
        """A parity NAK: per group, the number of packets wanted (low bits, less one)."""
        fec = self.config.fec
        out: list[Transmit] = []
        for sqn in (packet.sqn, *packet.options.nak_list):
            if fec is None or not fec.ondemand:
                self.statistics.parity_naks_refused += 1
                continue
            k = fec.group_size
            group, count = group_of(sqn, k), (sqn & (k - 1)) + 1
            self.statistics.parity_naks_received += count
            if not self._whole(group):
                self.statistics.naks_outside_window += 1
                continue
            header = dataclasses.replace(self.header, parity=True)
            ncf = Nak(header, PgmType.NCF, sqn, self.config.path, self.config.group)
            out.append(Transmit(ncf))
            self._sent(ncf)
            self.statistics.ncfs_sent += 1
            went = self.parity_times.get(group, [])
            recent = sum(1 for at in went if now - at < self.config.nak_elimination)
            if count <= recent:
                self.statistics.naks_eliminated += 1
                continue
            self.wanted[group] = max(self.wanted.get(group, 0), count - recent)
        return out

    def _whole(self, group: int) -> bool:
        """The window holds every packet of the transmission group at ``group``."""
        assert self.config.fec is not None
        k = self.config.fec.group_size
        return all((group + i) & SQN_MASK in self.window for i in range(k))

    def _send_parity(self, out: list[Transmit]) -> bool:
        """Parity asked for (RDATA), then proactive parity (ODATA), as the rate allows;
        False when the rate stopped it."""
        fec = self.config.fec
        if fec is None:
            return True
        k, n = fec.group_size, fec.block_size
        while self.wanted or self.proactive:
            if self.wanted:
                group, count = next(iter(self.wanted.items()))
                h, repair = self.parity_made.get(group, 0) % (n - k), True
            else:
                (group, h), repair = self.proactive[0], False
            if not self._whole(group):  # the window let go of part of it meanwhile
                self._parity_done(group, repair)
                continue
            packets = [self.window[(group + i) & SQN_MASK].packet for i in range(k)]
            first = group_of(self.config.first_sqn & SQN_MASK, k)
            parity = make_parity(packets, h, n, repair=repair, trail=self._trail(),
                                 syn=group == first)  # fmt: skip
            if not self._spend(parity):
                return False
            out.append(Transmit(parity))
            self.parity_made[group] = self.parity_made.get(group, 0) + 1
            went = self.parity_times.setdefault(group, [])
            went.append(self.now)
            del went[:-k]  # the last few are all elimination looks at
            if repair:
                self.statistics.parity_repairs_sent += 1
                if count > 1:
                    self.wanted[group] = count - 1
                else:
                    del self.wanted[group]
            else:
                self.statistics.parity_sent += 1
                self.proactive.popleft()
        return True

    def _parity_done(self, group: int, repair: bool) -> None:
        if repair:
            del self.wanted[group]
        else:
            self.proactive.popleft()

    def _dropped(self, sqn: int) -> None:
        """``sqn`` left the window: its group can no longer be made parity of."""
        if self.config.fec is not None:
            group = group_of(sqn, self.config.fec.group_size)
            self.parity_made.pop(group, None)
            self.parity_times.pop(group, None)

    def _advance(self, now: float) -> None:
        c = self.config
        self.tokens = min(c.rate * c.burst, self.tokens + (now - self.last_fill) * c.rate)
        self.last_fill = self.now = max(self.now, now)
        if c.window_seconds is not None:
            self._age(now, c.window_seconds)

    def _age(self, now: float, span: float) -> None:
        """RM_SEND_WINDOW_ADV_RATE: once the oldest packet is ``span`` old, the trailing
        edge moves past every packet sent within ``advance`` % of the span after it, in
        one step; a packet whose repair is still to go holds it there until the repair
        has gone (the window advances partially as each repair is sent). The newest
        packet stays: an empty window's SPM says nothing was sent yet (how a receiver
        without OPT_SYN knows a session's start), never "all aged"."""
        while len(self.window) > 1:
            if self.step_to is None:
                oldest = next(iter(self.window.values()))
                if oldest.sent + span > now:
                    return
                self.step_to = oldest.sent + span * self.config.advance / 100
            while len(self.window) > 1:
                sqn, kept = next(iter(self.window.items()))
                if kept.sent > self.step_to:
                    break
                if sqn in self.repairs or self._parity_pending(sqn):
                    return  # the step waits for this repair, then goes on
                self.window.popitem(last=False)
                self._dropped(sqn)
            self.step_to = None

    def _spend(self, packet: PgmPacket) -> bool:
        """Take the packet's bytes from the bucket; False when it must wait."""
        if self.tokens < 0:
            return False
        size = self._size(packet)
        self.tokens -= size
        self._sent(packet)
        return True

    def _sent(self, packet: PgmPacket) -> None:
        size = self._size(packet)
        self.meter.add(self.now, size)
        self.statistics.total_bytes_sent += size

    def _size(self, packet: PgmPacket) -> int:
        payload = len(packet.payload) if isinstance(packet, Data) else 0
        return IP_OVERHEAD[self.config.group.version] + 16 + 8 + 24 + payload

    def _parity_pending(self, sqn: int) -> bool:
        fec = self.config.fec
        return fec is not None and group_of(sqn, fec.group_size) in self.wanted

    def _trim(self) -> None:
        while len(self.window) > self.config.window:
            sqn, _ = self.window.popitem(last=False)
            self._dropped(sqn)

    def _trail(self, lead: int | None = None) -> int:
        """The oldest sequence number the window holds; with nothing sent yet, the
        first one that will be (sequence numbers are given as data is queued)."""
        if self.window:
            return next(iter(self.window))
        if lead is not None:
            return lead
        return self.waiting[0].sqn if self.waiting else self.next_sqn

    def _join(self, trail: int, newest: int) -> int:
        """OPT_JOIN: the oldest a late joiner may ask for, ``late_join`` % of the window
        back from ``newest``, never before the trailing edge."""
        assert self.config.late_join is not None
        held = ((newest - trail) & SQN_MASK) + 1
        join = (newest - held * self.config.late_join // 100) & SQN_MASK
        return trail if after(trail, join) else join

    def _lead(self) -> int:
        """The last sequence number sent; the trailing edge less one before any."""
        if self.window:
            return next(reversed(self.window))
        return (self._trail() - 1) & SQN_MASK

    def _spm(self) -> Transmit:
        trail, lead = self._trail(), self._lead()
        join = None
        if self.config.late_join is not None and not after(trail, lead):
            join = self._join(trail, lead)
        fec = self.config.fec.announced if self.config.fec is not None else None
        spm = Spm(self.header, self.spm_sqn, trail, lead, self.config.path,
                  Options(fin=self.closing and self.idle, join=join, parity_prm=fec))  # fmt: skip
        self.spm_sqn = (self.spm_sqn + 1) & SQN_MASK
        self.tokens -= self._size(spm)
        self._sent(spm)
        self.statistics.spms_sent += 1
        if self.heartbeat < len(HEARTBEAT):
            self.next_spm = self.now + HEARTBEAT[self.heartbeat]
            self.heartbeat += 1
        else:
            self.next_spm = self.now + self.config.ambient_spm
        return Transmit(spm)
