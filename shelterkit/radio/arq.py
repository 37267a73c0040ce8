"""Selective-repeat ARQ over frames, sans I/O.

A sender cuts each message into fragments and sends them in a burst whose last frame
carries the POLL flag; the receiver answers a poll (and a completed message) with an ACK
whose payload is the bitmap of fragments it holds. The sender then resends only what is
missing. With no ACK the burst is repeated after a timeout that doubles each time (with
jitter from the caller's ``rng``) until ``max_attempts`` bursts have gone unanswered.

Every method takes ``now`` (seconds); nothing sleeps, nothing reads a clock. The caller
asks ``next_frame(now)`` only when it may transmit (see ``RadioLink``), and calls
``tick(now)`` at ``next_wakeup()``.

Messages to ``BROADCAST_ID`` are sent once and never acknowledged.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass, field

from shelterkit.errors import LinkError
from shelterkit.radio.fragment import (
    MAX_REASSEMBLIES,
    MAX_REASSEMBLY_BYTES,
    REASSEMBLY_TIMEOUT_S,
    Added,
    MessageKey,
    ReassemblyTable,
    bitmap_from_bytes,
    bitmap_to_bytes,
    full_bitmap,
    split_payload,
)
from shelterkit.radio.framing import (
    BROADCAST_ID,
    E220_PACKET_BYTES,
    MAX_FRAGMENTS,
    MAX_SEQ,
    MAX_STATION_ID,
    Frame,
    FrameType,
    payload_bytes_for_packet,
)

# First wait for an ACK after a burst: the peer's 50 ms pause and an ACK of at most 24 B on
# the port (0.37 s at SF10/BW125, airtime.py) leave ample margin for the peer's own queue.
ACK_TIMEOUT_S = 6.0
BACKOFF_FACTOR = 2.0  # exponential backoff, doubling per unanswered burst
MAX_BACKOFF_S = 120.0  # a shelter link should retry at least every two minutes
BACKOFF_JITTER = 0.25  # up to +25 % so two stations that collided do not collide again
# After a POLL the sender keeps quiet this long so the peer can answer on the half-duplex
# channel: an ACK of 17–24 B on the port is 0.17–0.21 s at SF9, 0.33–0.37 s at SF10, plus
# the peer's carrier sense and pause. ``RadioLink`` derives it from the modulation.
POLL_WAIT_S = 1.0
MAX_ATTEMPTS = 6  # bursts before a message is given up (the sync layer will offer it again)
MAX_OUTGOING_MESSAGES = 64  # messages queued or in flight; sync batches are a few at a time
MAX_PENDING_ACKS = 64  # ACKs waiting to go out, one per message at most
DEDUPE_ENTRIES = 512  # delivered (source, seq) remembered to drop late duplicates
# Longer than a message's whole retry schedule (6+12+24+48+96 s, +25 %), so a duplicate
# of a delivered message cannot arrive after its entry expired.
DEDUPE_TTL_S = 1800.0


@dataclass(frozen=True, slots=True)
class ArqConfig:
    fragment_bytes: int = payload_bytes_for_packet(E220_PACKET_BYTES)
    ack_timeout_s: float = ACK_TIMEOUT_S
    poll_wait_s: float = POLL_WAIT_S
    backoff_factor: float = BACKOFF_FACTOR
    max_backoff_s: float = MAX_BACKOFF_S
    jitter: float = BACKOFF_JITTER
    max_attempts: int = MAX_ATTEMPTS
    max_outgoing: int = MAX_OUTGOING_MESSAGES
    dedupe_entries: int = DEDUPE_ENTRIES
    dedupe_ttl_s: float = DEDUPE_TTL_S
    max_reassemblies: int = MAX_REASSEMBLIES
    max_reassembly_bytes: int = MAX_REASSEMBLY_BYTES
    reassembly_timeout_s: float = REASSEMBLY_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.ack_timeout_s <= 0 or self.backoff_factor < 1:
            raise ValueError("ARQ needs at least one attempt and a growing, positive timeout")
        schedule = sum(
            min(self.ack_timeout_s * self.backoff_factor**i, self.max_backoff_s)
            for i in range(self.max_attempts)
        ) * (1.0 + self.jitter)
        if self.dedupe_ttl_s < schedule:
            raise ValueError(f"dedupe_ttl_s must cover the retry schedule of {schedule:.0f} s")

    def retry_delay_s(self, burst: int, rng: random.Random) -> float:
        """Wait for an ACK after burst number ``burst`` (1 for the first)."""
        base = min(self.ack_timeout_s * self.backoff_factor ** (burst - 1), self.max_backoff_s)
        return base * (1.0 + self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class Delivered:
    """A whole message arrived from ``src`` (once: duplicates are dropped)."""

    src: int
    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """``dst`` holds every fragment of message ``seq``."""

    dst: int
    seq: int


@dataclass(frozen=True, slots=True)
class SendFailed:
    """Message ``seq`` to ``dst`` was given up after ``attempts`` bursts."""

    dst: int
    seq: int
    attempts: int


LinkEvent = Delivered | Acknowledged | SendFailed


@dataclass(slots=True)
class ArqCounters:
    frames_sent: int = 0
    retransmissions: int = 0
    acks_sent: int = 0
    acks_received: int = 0
    stale_acks: int = 0
    delivered: int = 0
    duplicates: int = 0
    not_for_us: int = 0
    dropped_fragments: int = 0
    acknowledged: int = 0
    failed: int = 0


@dataclass(slots=True)
class _Outgoing:
    dst: int
    seq: int
    priority: int
    order: int
    pieces: list[bytes]
    acked: int = 0
    to_send: list[int] = field(default_factory=list)
    sent_once: int = 0  # bit i: fragment i has been on air (later sends are retransmissions)
    bursts: int = 0
    retry_at: float | None = None

    @property
    def missing(self) -> list[int]:
        return [i for i in range(len(self.pieces)) if not self.acked >> i & 1]


class ArqEndpoint:
    """One station's ARQ state towards all its peers on a shared link."""

    __slots__ = (
        "_ack_queue",
        "_delivered",
        "_next_seq",
        "_order",
        "_outgoing",
        "_quiet_until",
        "_reassembly",
        "config",
        "counters",
        "rng",
        "station_id",
    )

    def __init__(
        self, station_id: int, rng: random.Random, config: ArqConfig | None = None
    ) -> None:
        if not 0 <= station_id <= MAX_STATION_ID:
            raise ValueError(f"station id {station_id} out of range")
        self.station_id = station_id
        self.rng = rng
        self.config = config if config is not None else ArqConfig()
        self.counters = ArqCounters()
        # A random first seq: after a restart, new messages do not look like old duplicates.
        self._next_seq = rng.randrange(MAX_SEQ + 1)
        self._order = 0
        self._quiet_until = -math.inf  # no new DATA before this: a polled peer may answer
        self._outgoing: dict[MessageKey, _Outgoing] = {}
        self._ack_queue: OrderedDict[MessageKey, Frame] = OrderedDict()
        self._delivered: OrderedDict[MessageKey, float] = OrderedDict()
        self._reassembly = ReassemblyTable(
            self.config.max_reassemblies,
            self.config.max_reassembly_bytes,
            self.config.reassembly_timeout_s,
        )

    @property
    def max_message_bytes(self) -> int:
        return self.config.fragment_bytes * MAX_FRAGMENTS

    @property
    def outgoing(self) -> int:
        """Messages queued or awaiting acknowledgement."""
        return len(self._outgoing)

    @property
    def reassembling(self) -> int:
        return len(self._reassembly)

    def send(self, dst: int, payload: bytes, now: float, *, priority: int = 0) -> int:
        """Queue ``payload`` for ``dst``; lower ``priority`` goes first. Returns its seq."""
        if not 0 <= dst <= BROADCAST_ID or dst == self.station_id:
            raise LinkError(f"cannot send to station {dst}")
        if len(self._outgoing) >= self.config.max_outgoing:
            raise LinkError(f"{len(self._outgoing)} messages already queued")
        try:
            pieces = split_payload(payload, self.config.fragment_bytes)
        except ValueError as exc:
            raise LinkError(str(exc)) from exc
        seq = self._next_seq
        while (dst, seq) in self._outgoing:
            seq = (seq + 1) & MAX_SEQ
        self._next_seq = (seq + 1) & MAX_SEQ
        self._order += 1
        message = _Outgoing(dst, seq, priority, self._order, pieces)
        message.to_send = list(range(len(pieces)))
        message.bursts = 1
        self._outgoing[(dst, seq)] = message
        return seq

    def has_frames(self, now: float) -> bool:
        """Whether ``next_frame(now)`` would return a frame."""
        if self._ack_queue:
            return True
        return now >= self._quiet_until and any(m.to_send for m in self._outgoing.values())

    def next_frame(self, now: float) -> Frame | None:
        """The frame to transmit now, if any; its retry timer starts at ``now``."""
        if self._ack_queue:
            _key, ack = self._ack_queue.popitem(last=False)
            self.counters.acks_sent += 1
            self.counters.frames_sent += 1
            return ack
        ready = [m for m in self._outgoing.values() if m.to_send]
        if not ready or now < self._quiet_until:
            return None
        message = min(ready, key=lambda m: (m.priority, m.order))
        index = message.to_send.pop(0)
        unicast = message.dst != BROADCAST_ID
        frame = Frame(
            FrameType.DATA,
            self.station_id,
            message.dst,
            message.seq,
            index,
            len(message.pieces),
            message.pieces[index],
            poll=unicast and not message.to_send,
        )
        self.counters.frames_sent += 1
        if message.sent_once >> index & 1:
            self.counters.retransmissions += 1
        message.sent_once |= 1 << index
        if not message.to_send:
            if unicast:
                self._quiet_until = now + self.config.poll_wait_s
                message.retry_at = now + self.config.retry_delay_s(message.bursts, self.rng)
            else:
                del self._outgoing[(message.dst, message.seq)]
        return frame

    def receive(self, frame: Frame, now: float) -> list[LinkEvent]:
        """Take in one valid frame heard on the link."""
        if frame.src == self.station_id:
            return []
        if frame.dst not in (self.station_id, BROADCAST_ID):
            self.counters.not_for_us += 1
            return []
        if frame.type is FrameType.ACK:
            return self._on_ack(frame)
        return self._on_data(frame, now)

    def tick(self, now: float) -> list[LinkEvent]:
        """Run timers due at ``now``: retries, give-ups, reassembly expiry."""
        self._reassembly.expire(now)
        self._expire_delivered(now)
        events: list[LinkEvent] = []
        for key, message in list(self._outgoing.items()):
            if message.retry_at is None or message.retry_at > now:
                continue
            event = self._next_burst(key, message)
            if event is not None:
                events.append(event)
        return events

    def next_wakeup(self) -> float | None:
        """Earliest time a timer runs out or held frames may go (see also ``has_frames``)."""
        times = [m.retry_at for m in self._outgoing.values() if m.retry_at is not None]
        if any(m.to_send for m in self._outgoing.values()) and self._quiet_until > -math.inf:
            times.append(self._quiet_until)
        expiry = self._reassembly.next_expiry()
        if expiry is not None:
            times.append(expiry)
        return min(times) if times else None

    def _next_burst(self, key: MessageKey, message: _Outgoing) -> SendFailed | None:
        message.retry_at = None
        if message.bursts >= self.config.max_attempts:
            del self._outgoing[key]
            self.counters.failed += 1
            return SendFailed(message.dst, message.seq, message.bursts)
        message.bursts += 1
        message.to_send = message.missing
        return None

    def _on_ack(self, frame: Frame) -> list[LinkEvent]:
        self.counters.acks_received += 1
        key = (frame.src, frame.seq)
        message = self._outgoing.get(key)
        if message is None or len(message.pieces) != frame.count:
            self.counters.stale_acks += 1
            return []
        # The bitmap is the receiver's whole truth: if it lost a partial message (restart,
        # expiry), fragments it had acknowledged before are sent again.
        message.acked = bitmap_from_bytes(frame.payload, frame.count)
        self._quiet_until = -math.inf  # the peer answered: the channel is ours again
        if message.acked == full_bitmap(frame.count):
            del self._outgoing[key]
            self.counters.acknowledged += 1
            return [Acknowledged(message.dst, message.seq)]
        if message.to_send:  # mid-burst: skip what the peer already has
            message.to_send = [i for i in message.to_send if not message.acked >> i & 1]
            return []
        event = self._next_burst(key, message)  # the ACK names what is missing: resend now
        return [event] if event is not None else []

    def _on_data(self, frame: Frame, now: float) -> list[LinkEvent]:
        key = (frame.src, frame.seq)
        unicast = frame.dst != BROADCAST_ID
        if self._is_delivered(key, now):
            self.counters.duplicates += 1
            if frame.poll and unicast:
                self._queue_ack(key, frame.count, full_bitmap(frame.count))
            return []
        added, payload = self._reassembly.add(key, frame.index, frame.count, frame.payload, now)
        if added is Added.COMPLETE:
            self._remember_delivered(key, now)
            self.counters.delivered += 1
            if unicast:
                self._queue_ack(key, frame.count, full_bitmap(frame.count))
            return [Delivered(frame.src, frame.seq, payload)]
        if added is Added.DUPLICATE:
            self.counters.duplicates += 1
        elif added in (Added.MISMATCH, Added.REFUSED):
            self.counters.dropped_fragments += 1
            return []
        if frame.poll and unicast:
            self._queue_ack(key, frame.count, self._reassembly.bitmap(key))
        return []

    def _queue_ack(self, key: MessageKey, count: int, bits: int) -> None:
        src, seq = key
        ack = Frame(
            FrameType.ACK, self.station_id, src, seq, 0, count, bitmap_to_bytes(bits, count)
        )
        self._ack_queue.pop(key, None)
        self._ack_queue[key] = ack
        while len(self._ack_queue) > MAX_PENDING_ACKS:
            self._ack_queue.popitem(last=False)

    def _is_delivered(self, key: MessageKey, now: float) -> bool:
        seen = self._delivered.get(key)
        return seen is not None and now - seen < self.config.dedupe_ttl_s

    def _remember_delivered(self, key: MessageKey, now: float) -> None:
        self._delivered.pop(key, None)
        self._delivered[key] = now
        while len(self._delivered) > self.config.dedupe_entries:
            self._delivered.popitem(last=False)

    def _expire_delivered(self, now: float) -> None:
        while self._delivered:
            key, seen = next(iter(self._delivered.items()))
            if now - seen < self.config.dedupe_ttl_s:
                break
            del self._delivered[key]
