"""A sans-IO sync session between two replicas (DESIGN §5; the h11 model).

The session never touches storage, sockets or clocks. The caller (a link adapter)::

    session = SyncSession(config, have=store_vector, now=t)
    write(session.send(Start()))
    while not session.finished:
        for event in session.receive(read(), now):
            match event:
                case PeerGreeted() if session.state is State.HELLO_RECEIVED:
                    write(session.send(Start()))  # a responder greets back
                case RecordsRequested():  # the peer wants these; fetch them from the store
                    write(session.send(SendRecords(event.request, store.wires(event.ranges))))
                case RecordsReceived():  # validate (accept_batch), commit durably, then:
                    write(session.send(RecordsStored(event.request, store_vector)))
        write(session.data_to_send())

The protocol is symmetric. Each side sends HELLO with a digest of its version vector;
equal digests end the session at once (an idle round is two small messages). Otherwise
each side sends its vector in SUMMARY pages, asks for what it lacks with WANT (one batch
each, at most ``max_outstanding_batches`` in flight, one in flight per (origin, stream)),
receives RECORDS in priority order, and acknowledges each batch with ACK only after the
caller reports it durably stored. When a side has all it wanted it sends BYE(done); the
session is DONE once both have. Every state change goes through ``states.TRANSITIONS``.

Resuming needs no session state: the caller's vector is the checkpoint. A new session
asks again from the durably stored heads, so at most the unacknowledged batches are sent
twice, and a duplicate record is a no-op (``accept_batch``).

A peer that advertises records it then does not deliver (or delivers invalid ones) makes
no progress on that (origin, stream); the session stops asking for it, so a lying summary
cannot keep a session alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shelterkit.errors import ProtocolError
from shelterkit.model.keys import PUBLIC_KEY_BYTES
from shelterkit.model.kinds import Stream
from shelterkit.model.record import MAX_RECORD_BYTES
from shelterkit.sync.limits import (
    MAX_BYE_DETAIL_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_OUTSTANDING_BATCHES,
    MAX_RANGES_PER_WANT,
    MAX_VECTOR_ENTRIES,
    MIN_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    RADIO_BATCH_RECORDS,
    RADIO_IDLE_TIMEOUT_S,
    RADIO_MAX_MESSAGE_BYTES,
    SESSION_IDLE_TIMEOUT_S,
    SYNC_BATCH_RECORDS,
)
from shelterkit.sync.messages import (
    Ack,
    Bye,
    ByeReason,
    FrameBuffer,
    Hello,
    Message,
    Records,
    Role,
    Summary,
    Want,
    bstr_item_bytes,
    decode_payload,
    encode_frame,
    records_overhead_bytes,
)
from shelterkit.sync.states import TERMINAL, State, Trigger, next_state
from shelterkit.sync.vector import Key, SeqRange, VersionVector, sync_order

ALL_STREAMS: frozenset[Stream] = frozenset(Stream)
# What a radio link carries by default (DESIGN §5): no message board, everything else.
RADIO_STREAMS: frozenset[Stream] = frozenset(
    {Stream.ALERTS, Stream.NOTICES, Stream.ANPI, Stream.STATUS, Stream.CONTROL}
)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One end's settings for one link. Both ends of a link should name the same streams."""

    node_key: bytes
    roles: Role = Role.NODE
    streams: frozenset[Stream] = ALL_STREAMS
    max_message_bytes: int = MAX_MESSAGE_BYTES
    batch_records: int = SYNC_BATCH_RECORDS
    max_outstanding_batches: int = MAX_OUTSTANDING_BATCHES
    idle_timeout_s: float = SESSION_IDLE_TIMEOUT_S
    expected_peer: bytes | None = None  # if set, any other peer key is refused
    # Further keys this end signs with besides ``node_key`` (a hub's authority key): the
    # peer's heads for them are reported in ``PeerSummarized`` too.
    own_keys: frozenset[bytes] = frozenset()

    def __post_init__(self) -> None:
        if len(self.node_key) != PUBLIC_KEY_BYTES:
            raise ValueError("node_key is a 32-byte public key")
        if any(len(key) != PUBLIC_KEY_BYTES for key in self.own_keys):
            raise ValueError("own_keys are 32-byte public keys")
        if not MIN_MESSAGE_BYTES <= self.max_message_bytes <= MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes outside {MIN_MESSAGE_BYTES}..{MAX_MESSAGE_BYTES}")
        if not 1 <= self.batch_records <= SYNC_BATCH_RECORDS:
            raise ValueError(f"batch_records outside 1..{SYNC_BATCH_RECORDS}")
        if not 1 <= self.max_outstanding_batches <= MAX_OUTSTANDING_BATCHES:
            raise ValueError(f"max_outstanding_batches outside 1..{MAX_OUTSTANDING_BATCHES}")
        if self.idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s must be positive")

    @classmethod
    def radio(cls, node_key: bytes, *, roles: Role = Role.NODE) -> SessionConfig:
        """A radio link: no board, small messages and batches, one batch in flight."""
        return cls(
            node_key,
            roles=roles,
            streams=RADIO_STREAMS,
            max_message_bytes=RADIO_MAX_MESSAGE_BYTES,
            batch_records=RADIO_BATCH_RECORDS,
            max_outstanding_batches=1,
            idle_timeout_s=RADIO_IDLE_TIMEOUT_S,
        )


# -- commands: what the caller passes to ``send`` -----------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Open the session (sends HELLO)."""


@dataclass(frozen=True, slots=True)
class SendRecords:
    """The answer to ``RecordsRequested``: record wires in the order the store gave them."""

    request: int
    records: Sequence[bytes]


@dataclass(frozen=True, slots=True)
class RecordsStored:
    """The batch of ``RecordsReceived`` is durably committed; ``have`` is the new vector."""

    request: int
    have: VersionVector


@dataclass(frozen=True, slots=True)
class Cancel:
    """Abandon the session (sends BYE with reason CANCELLED)."""

    detail: str = ""


Command = Start | SendRecords | RecordsStored | Cancel


# -- events: what ``receive`` returns -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerGreeted:
    node: bytes
    roles: Role
    streams: frozenset[Stream]


@dataclass(frozen=True, slots=True)
class RecordsRequested:
    """Fetch records of ``ranges`` in order (at most ``max_records``, ``max_bytes``)."""

    request: int
    ranges: tuple[SeqRange, ...]
    max_records: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class RecordsReceived:
    """Unverified record wires; validate with ``accept_batch``, commit, send RecordsStored."""

    request: int
    records: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PeerStored:
    """The peer durably stored our batch; ``heads`` are its heads for that batch's keys."""

    request: int
    heads: VersionVector


@dataclass(frozen=True, slots=True)
class PeerSummarized:
    """The peer's whole summary is in (or the digests were equal): ``own_heads`` are its
    heads for our own keys in ``streams``, the streams both ends sync. Our own records
    above what we hold mean we lost them (a card restored from an old image): the caller
    never signs at or below these numbers again (docs/durability.md)."""

    own_heads: VersionVector
    streams: frozenset[Stream]


@dataclass(frozen=True, slots=True)
class SyncCompleted:
    converged_on_hello: bool  # True: digests were equal, nothing was exchanged


@dataclass(frozen=True, slots=True)
class SyncFailed:
    reason: ByeReason
    detail: str
    by_peer: bool


Event = (
    PeerGreeted
    | PeerSummarized
    | RecordsRequested
    | RecordsReceived
    | PeerStored
    | SyncCompleted
    | SyncFailed
)


@dataclass(slots=True)
class _Pull:
    ranges: tuple[SeqRange, ...]
    received: bool = False


@dataclass(slots=True)
class _Counters:
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    records_sent: int = 0


class SyncSession:
    """One sync exchange with one peer. Not thread-safe; one per connection."""

    def __init__(self, config: SessionConfig, have: VersionVector, now: float) -> None:
        self.config = config
        self.counters = _Counters()
        self._have = have
        self._state = State.START
        self._frames = FrameBuffer(config.max_message_bytes)
        self._outbox: list[bytes] = []
        self._pending: list[Event] = []
        self._last_activity = now
        self._hello: Hello | None = None
        self._peer: Hello | None = None
        self._shared: frozenset[Stream] = frozenset()
        self._peer_heads: dict[Key, int] = {}
        self._next_page = 0
        self._summary_done = False
        self._stalled: set[Key] = set()
        self._pulls: dict[int, _Pull] = {}
        self._next_request = 1
        self._fetching: dict[int, int] = {}  # peer request -> most records it may get
        self._unacked: set[int] = set()  # peer requests answered, not yet acknowledged
        self._peer_request_high = 0
        self._outcome: SyncCompleted | SyncFailed | None = None

    # -- public surface ---------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def finished(self) -> bool:
        return self._state in TERMINAL

    @property
    def outcome(self) -> SyncCompleted | SyncFailed | None:
        """How the session ended (None while it runs).

        The same event is also returned by ``receive``; when the session ends inside
        ``send`` (our last batch stored after the peer's BYE), it comes with the next
        ``receive`` call, so a loop that stops on ``finished`` should read this instead.
        """
        return self._outcome

    @property
    def peer_key(self) -> bytes | None:
        return self._peer.node if self._peer else None

    def send(self, command: Command) -> bytes:
        """Apply a command; return the bytes to write (including any queued replies)."""
        if isinstance(command, Start):
            self._send_hello()
        elif isinstance(command, SendRecords):
            self._send_records(command)
        elif isinstance(command, RecordsStored):
            self._records_stored(command)
        elif not self.finished:
            self._fail(ByeReason.CANCELLED, command.detail, self._pending)
        return self.data_to_send()

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes from the peer (``b""`` just checks the idle timeout).

        The idle timeout counts from the last complete message received from the peer.
        """
        events, self._pending = self._pending, []
        if self.finished:
            return events
        self.counters.bytes_received += len(data)
        try:
            for payload in self._frames.feed(data):
                self._last_activity = now
                self.counters.messages_received += 1
                message = decode_payload(payload, max_bytes=self.config.max_message_bytes)
                self._handle(message, events)
                if self.finished:
                    break
        except ProtocolError as exc:
            self._fail(ByeReason.PROTOCOL_ERROR, str(exc), events)
            return events
        if not self.finished and now - self._last_activity >= self.config.idle_timeout_s:
            self._fail(ByeReason.TIMEOUT, "no message from the peer in time", events)
        return events

    def data_to_send(self) -> bytes:
        """Bytes queued by ``receive`` (replies the protocol makes by itself)."""
        out = b"".join(self._outbox)
        self._outbox.clear()
        self.counters.bytes_sent += len(out)
        return out

    # -- state table ------------------------------------------------------------------------

    def _apply(self, trigger: Trigger) -> None:
        new = next_state(self._state, trigger)
        if new is None:
            raise ProtocolError(f"{trigger.value} is not allowed in state {self._state.value}")
        self._state = new

    def _queue(self, message: Message, trigger: Trigger) -> None:
        self._apply(trigger)
        self._outbox.append(encode_frame(message, max_bytes=self.config.max_message_bytes))
        self.counters.messages_sent += 1

    def _fail(
        self, reason: ByeReason, detail: str, events: list[Event], by_peer: bool = False
    ) -> None:
        if not by_peer:
            self._outbox.append(encode_frame(Bye(reason, detail[:MAX_BYE_DETAIL_CHARS])))
        self._apply(Trigger.FAIL)
        self._release()
        self._outcome = SyncFailed(reason, detail, by_peer)
        events.append(self._outcome)

    def _release(self) -> None:
        self._frames.clear()
        self._pulls.clear()
        self._fetching.clear()
        self._unacked.clear()
        self._peer_heads.clear()

    # -- sending ----------------------------------------------------------------------------

    def _send_hello(self) -> None:
        digest = self._have.restrict(self.config.streams).digest()
        self._hello = Hello(self.config.node_key, self.config.roles, self.config.streams, digest)
        self._queue(self._hello, Trigger.SEND_HELLO)
        if self._state is State.SYNCING:
            self._begin(self._pending)

    def _send_records(self, command: SendRecords) -> None:
        max_records = self._fetching.pop(command.request, None)
        if max_records is None:
            return  # the session ended or the peer withdrew: nothing to answer
        overhead = records_overhead_bytes(command.request)
        size, chosen = overhead, []
        for wire in command.records[:max_records]:
            if not isinstance(wire, bytes) or len(wire) > MAX_RECORD_BYTES:
                raise ProtocolError("a record wire must be bytes within the record size cap")
            size += bstr_item_bytes(len(wire))
            if size > self.config.max_message_bytes:
                break  # the rest is asked for again in the next WANT
            chosen.append(wire)
        self._unacked.add(command.request)
        self.counters.records_sent += len(chosen)
        self._queue(Records(command.request, tuple(chosen)), Trigger.SEND_RECORDS)

    def _records_stored(self, command: RecordsStored) -> None:
        if self.finished:
            return
        pull = self._pulls.get(command.request)
        if pull is None or not pull.received:
            raise ProtocolError(f"no received batch {command.request} to acknowledge")
        del self._pulls[command.request]
        self._have = command.have
        heads: dict[Key, int] = {}
        for r in pull.ranges:
            head = command.have.head(r.origin, r.stream)
            heads[r.key] = head
            if head < r.first:
                self._stalled.add(r.key)  # no progress: the peer cannot or will not deliver
        self._queue(Ack(command.request, VersionVector(heads)), Trigger.SEND_ACK)
        self._pull_more(self._pending)

    def _begin(self, events: list[Event]) -> None:
        """Both HELLOs are known: stop if converged, else send our summary."""
        assert self._hello is not None and self._peer is not None
        self._shared = self.config.streams & self._peer.streams
        if self._peer.streams == self.config.streams and self._peer.digest == self._hello.digest:
            self._apply(Trigger.DIGESTS_EQUAL)
            # equal vectors: the peer holds nothing of ours beyond what we hold
            events.append(PeerSummarized(VersionVector(), self._shared))
            self._outcome = SyncCompleted(converged_on_hello=True)
            events.append(self._outcome)
            return
        # Each page must leave room for the SUMMARY envelope around the vector.
        pages = self._have.restrict(self._shared).pages(self.config.max_message_bytes - 32)
        for number, page in enumerate(pages):
            self._queue(Summary(number, number == len(pages) - 1, page), Trigger.SEND_SUMMARY)

    def _pull_more(self, events: list[Event]) -> None:
        """Ask for what we lack, within the window; say BYE(done) when nothing is left."""
        if self._state not in (State.SYNCING, State.PEER_DONE):
            return
        busy = {r.key for pull in self._pulls.values() for r in pull.ranges}
        wanted = [
            (key, head)
            for key, head in self._peer_heads.items()
            if head > self._have.head(*key) and key not in busy and key not in self._stalled
        ]
        wanted.sort(key=lambda item: sync_order(item[0][0], item[0][1]))
        index = 0
        while index < len(wanted) and len(self._pulls) < self.config.max_outstanding_batches:
            ranges: list[SeqRange] = []
            budget = self.config.batch_records
            while index < len(wanted) and budget > 0 and len(ranges) < MAX_RANGES_PER_WANT:
                (origin, stream), peer_head = wanted[index]
                first = self._have.head(origin, stream) + 1
                last = min(peer_head, first + budget - 1)
                ranges.append(SeqRange(origin, stream, first, last))
                budget -= last - first + 1
                index += 1
            request = self._next_request
            self._next_request += 1
            self._pulls[request] = _Pull(tuple(ranges))
            self._queue(Want(request, tuple(ranges)), Trigger.SEND_WANT)
        if self._summary_done and not self._pulls:
            self._queue(Bye(ByeReason.DONE), Trigger.SEND_BYE_DONE)
            if self.finished:  # the peer had already said BYE(done)
                self._release()
                self._outcome = SyncCompleted(converged_on_hello=False)
                events.append(self._outcome)

    # -- receiving --------------------------------------------------------------------------

    def _handle(self, message: Message, events: list[Event]) -> None:
        if isinstance(message, Hello):
            self._on_hello(message, events)
        elif isinstance(message, Summary):
            self._on_summary(message, events)
        elif isinstance(message, Want):
            self._on_want(message, events)
        elif isinstance(message, Records):
            self._on_records(message, events)
        elif isinstance(message, Ack):
            self._on_ack(message, events)
        else:
            self._on_bye(message, events)

    def _on_hello(self, hello: Hello, events: list[Event]) -> None:
        if self._peer is not None:
            self._apply(Trigger.RECV_HELLO)
            if hello != self._peer:
                raise ProtocolError("a second, different HELLO")
            return
        if hello.version != PROTOCOL_VERSION:
            self._fail(ByeReason.INCOMPATIBLE, f"protocol version {hello.version}", events)
            return
        if hello.node == self.config.node_key:
            self._fail(ByeReason.REFUSED, "the peer uses our own key", events)
            return
        if self.config.expected_peer is not None and hello.node != self.config.expected_peer:
            self._fail(ByeReason.REFUSED, "not the expected peer", events)
            return
        self._apply(Trigger.RECV_HELLO)
        self._peer = hello
        events.append(PeerGreeted(hello.node, hello.roles, hello.streams))
        if self._state is State.SYNCING:
            self._begin(events)

    def _on_summary(self, summary: Summary, events: list[Event]) -> None:
        self._apply(Trigger.RECV_SUMMARY)
        if self._summary_done or summary.page < self._next_page:
            return  # a repeated page
        if summary.page != self._next_page:
            raise ProtocolError(f"SUMMARY page {summary.page} before page {self._next_page}")
        self._next_page += 1
        for (origin, stream), head in summary.vector.items():
            if stream in self._shared:
                self._peer_heads[(origin, stream)] = head
        if len(self._peer_heads) > MAX_VECTOR_ENTRIES:
            raise ProtocolError("the peer's summary exceeds the vector cap")
        self._summary_done = summary.last
        if summary.last:
            own = self.config.own_keys | {self.config.node_key}
            heads = {key: head for key, head in self._peer_heads.items() if key[0] in own}
            events.append(PeerSummarized(VersionVector(heads), self._shared))
        self._pull_more(events)

    def _on_want(self, want: Want, events: list[Event]) -> None:
        self._apply(Trigger.RECV_WANT)
        if want.request <= self._peer_request_high:
            return  # a repeated request
        if self._state is State.PEER_DONE:
            raise ProtocolError("WANT after BYE")
        if len(self._fetching) + len(self._unacked) >= self.config.max_outstanding_batches:
            raise ProtocolError("the peer exceeded the outstanding batch window")
        self._peer_request_high = want.request
        ranges, budget = [], self.config.batch_records
        for r in sorted(want.ranges, key=lambda r: sync_order(r.origin, r.stream)):
            if r.stream not in self._shared or budget <= 0:
                continue
            last = min(r.last, r.first + budget - 1)
            ranges.append(SeqRange(r.origin, r.stream, r.first, last))
            budget -= last - r.first + 1
        max_records = self.config.batch_records - budget
        self._fetching[want.request] = max_records
        if not ranges:
            self._send_records(SendRecords(want.request, ()))
            return
        max_bytes = self.config.max_message_bytes - records_overhead_bytes(want.request)
        events.append(RecordsRequested(want.request, tuple(ranges), max_records, max_bytes))

    def _on_records(self, records: Records, events: list[Event]) -> None:
        self._apply(Trigger.RECV_RECORDS)
        pull = self._pulls.get(records.request)
        if pull is None or pull.received:
            return  # a repeated or stale batch
        if len(records.records) > sum(r.count for r in pull.ranges):
            raise ProtocolError("RECORDS carries more records than were asked for")
        pull.received = True
        events.append(RecordsReceived(records.request, records.records))

    def _on_ack(self, ack: Ack, events: list[Event]) -> None:
        self._apply(Trigger.RECV_ACK)
        if ack.request in self._unacked:
            self._unacked.discard(ack.request)
            events.append(PeerStored(ack.request, ack.heads))

    def _on_bye(self, bye: Bye, events: list[Event]) -> None:
        if bye.reason is not ByeReason.DONE:
            self._fail(bye.reason, bye.detail, events, by_peer=True)
            return
        self._apply(Trigger.RECV_BYE_DONE)
        self._fetching.clear()
        self._unacked.clear()
        if self._state is State.DONE:
            self._release()
            self._outcome = SyncCompleted(converged_on_hello=False)
            events.append(self._outcome)
