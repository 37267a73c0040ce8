"""The fake transport shipped with the library: in-memory replicas joined by a pipe.

``MemoryReplica`` is a complete replica without a disk (records, vector, trust, clock,
rejection tally); ``MemoryReplica.drive`` is the reference driver loop a real link adapter
follows; ``sync_pair`` runs two sessions over a perfect in-memory pipe until both end.
Tests and benchmarks build faulty networks out of the same pieces.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shelterkit.errors import ProtocolError
from shelterkit.model.hlc import HybridClock
from shelterkit.model.keys import Identity
from shelterkit.model.kinds import STREAM_OF, AnyBody, Kind
from shelterkit.model.record import Record, sign_record
from shelterkit.model.redaction import Placeholder, Slot, Target, make_placeholder, targets
from shelterkit.model.trust import TrustPolicy
from shelterkit.sync.accept import BatchResult, RejectionTally, accept_batch
from shelterkit.sync.session import (
    Event,
    PeerGreeted,
    RecordsReceived,
    RecordsRequested,
    RecordsStored,
    SendRecords,
    SessionConfig,
    Start,
    SyncSession,
)
from shelterkit.sync.states import State
from shelterkit.sync.vector import Key, SeqRange, VersionVector

# A pair that has not finished after this many exchanges is stuck (a bug, not a slow link).
MAX_PAIR_STEPS = 100_000


@dataclass(slots=True)
class MemoryReplica:
    """A replica's durable state, held in memory: "stored" means appended here."""

    trust: TrustPolicy
    # index = seq - 1; a redacted slot holds its placeholder (model.redaction)
    logs: dict[Key, list[Record | Placeholder]] = field(default_factory=dict)
    ids: set[bytes] = field(default_factory=set)
    clock: HybridClock = field(default_factory=HybridClock)
    tally: RejectionTally = field(default_factory=RejectionTally)
    redactions: dict[Slot, tuple[Target, Record]] = field(default_factory=dict)
    _vector: VersionVector | None = None

    # -- what the session needs ------------------------------------------------------------

    def have(self) -> VersionVector:
        """Heads of everything held, minus revoked origins (not offered, not wanted)."""
        if self._vector is None:
            heads = {key: len(log) for key, log in self.logs.items()}
            self._vector = VersionVector(heads).without_origins(self.trust.revoked)
        return self._vector

    def wires_for(
        self, ranges: Sequence[SeqRange], max_records: int, max_bytes: int
    ) -> list[bytes]:
        """Record wires of ``ranges`` in the order given, within both limits."""
        out: list[bytes] = []
        size = 0
        for r in ranges:
            log = self.logs.get(r.key, [])
            for record in log[r.first - 1 : r.last]:
                if len(out) >= max_records or size + len(record.wire) > max_bytes:
                    return out
                out.append(record.wire)
                size += len(record.wire)
        return out

    def store(self, wires: Sequence[bytes], wall_ms: int) -> BatchResult:
        """Validate and "commit" a received batch; learn enrolments and revocations."""
        result = accept_batch(wires, self.trust, self.have(), tally=self.tally)
        slots: list[Record | Placeholder] = [*result.accepted, *result.placeholders]
        for item in sorted(slots, key=lambda r: (r.origin, r.stream, r.seq)):
            self._append(item)
            if isinstance(item, Record):
                self.trust.learn(item)
                self.clock.observe(item.hlc, wall_ms)  # refuses to follow far-future clocks
        if slots:
            self._vector = None
        return result

    # -- local writes ----------------------------------------------------------------------

    def write(self, identity: Identity, body: AnyBody, wall_ms: int) -> Record:
        """Sign and store a new record of ``identity`` (this replica's own key)."""
        stream = STREAM_OF[body.KIND]
        seq = len(self.logs.get((identity.public, stream), [])) + 1
        record = sign_record(identity, seq, self.clock.now(wall_ms), body)
        self._append(record)
        self.trust.learn(record)
        self._vector = None
        return record

    def _append(self, record: Record | Placeholder) -> None:
        log = self.logs.setdefault((record.origin, record.stream), [])
        assert record.seq == len(log) + 1, "the store only ever grows contiguously"
        log.append(record)
        self.ids.add(record.id)
        if isinstance(record, Record):
            self._apply_redactions(record)

    def _apply_redactions(self, record: Record) -> None:
        """As the store does: a redaction wipes what it names, now or when it arrives."""
        with_redaction: list[tuple[Target, Record]] = []
        if record.kind is Kind.REDACT:
            for target in targets(record):
                self.redactions.setdefault(target.slot, (target, record))
                with_redaction.append((target, record))
        covering = self.redactions.get((record.origin, record.stream, record.seq))
        if covering is not None:
            with_redaction.append(covering)
        for target, redaction in with_redaction:
            log = self.logs.get((target.origin, target.stream), [])
            held = log[target.seq - 1] if target.seq <= len(log) else None
            if isinstance(held, Record) and held.id == target.record_id:
                with contextlib.suppress(ProtocolError):  # not redactable: stays
                    log[target.seq - 1] = make_placeholder(held, redaction)

    def records(self) -> Iterable[Record]:
        """Every record held (placeholders left out)."""
        for log in self.logs.values():
            yield from (r for r in log if isinstance(r, Record))

    # -- the driver loop -------------------------------------------------------------------

    def drive(self, session: SyncSession, events: Sequence[Event], wall_ms: int) -> bytes:
        """Answer a session's events; return the bytes to write to the peer."""
        out: list[bytes] = []
        for event in events:
            if isinstance(event, PeerGreeted) and session.state is State.HELLO_RECEIVED:
                out.append(session.send(Start()))  # we are the responder: greet back
            elif isinstance(event, RecordsRequested):
                wires = self.wires_for(event.ranges, event.max_records, event.max_bytes)
                out.append(session.send(SendRecords(event.request, wires)))
            elif isinstance(event, RecordsReceived):
                self.store(event.records, wall_ms)
                out.append(session.send(RecordsStored(event.request, self.have())))
        out.append(session.data_to_send())
        return b"".join(out)


class MemoryLink:
    """Two sessions between two replicas, and the chunks of bytes in flight each way.

    ``inbox[i]`` holds what side ``i`` has yet to receive. Tests take chunks out in any
    order, drop, repeat or damage them; ``run`` delivers everything in order.
    """

    def __init__(
        self,
        a: MemoryReplica,
        b: MemoryReplica,
        config_a: SessionConfig,
        config_b: SessionConfig,
        *,
        now: float = 0.0,
    ) -> None:
        self.replicas = (a, b)
        self.sessions = (SyncSession(config_a, a.have(), now), SyncSession(config_b, b.have(), now))
        self.inbox: tuple[deque[bytes], deque[bytes]] = (deque(), deque())
        self.bytes_sent = [0, 0]

    def start(self, side: int | None = None) -> None:
        """Send HELLO from one side, or from both."""
        for i in (0, 1) if side is None else (side,):
            self._post(1 - i, self.sessions[i].send(Start()))

    def deliver(self, side: int, data: bytes, now: float, wall_ms: int = 0) -> None:
        """Give ``data`` to side ``side`` and queue its answer for the other side."""
        session = self.sessions[side]
        events = session.receive(data, now)
        self._post(1 - side, self.replicas[side].drive(session, events, wall_ms))

    def tick(self, now: float) -> None:
        """Let both sessions notice a timeout."""
        for side in (0, 1):
            self.deliver(side, b"", now)

    def run(self, now: float = 0.0, wall_ms: int = 0) -> None:
        """Deliver everything in order, alternating sides, until nothing is in flight."""
        steps = 0
        while (self.inbox[0] or self.inbox[1]) and steps < MAX_PAIR_STEPS:
            steps += 1
            for side in (1, 0):
                if self.inbox[side]:
                    self.deliver(side, self.inbox[side].popleft(), now, wall_ms)

    @property
    def finished(self) -> bool:
        return self.sessions[0].finished and self.sessions[1].finished

    def _post(self, to_side: int, data: bytes) -> None:
        if data:
            self.inbox[to_side].append(data)
            self.bytes_sent[1 - to_side] += len(data)


@dataclass(frozen=True, slots=True)
class PairResult:
    a_state: State
    b_state: State
    bytes_a_to_b: int
    bytes_b_to_a: int


def sync_pair(
    a: MemoryReplica,
    b: MemoryReplica,
    config_a: SessionConfig,
    config_b: SessionConfig,
    *,
    now: float = 0.0,
    wall_ms: int = 0,
) -> PairResult:
    """Run one session between ``a`` and ``b`` over a perfect pipe until both end."""
    link = MemoryLink(a, b, config_a, config_b, now=now)
    link.start()
    link.run(now, wall_ms)
    return PairResult(
        link.sessions[0].state, link.sessions[1].state, link.bytes_sent[0], link.bytes_sent[1]
    )
