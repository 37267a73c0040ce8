"""Sync over a radio (or a serial cable): sessions with every neighbour on one RadioLink.

Two layers, as for every transport (STYLE §1):

* ``RadioSync`` runs the node's side of every radio neighbourhood conversation with time
  passed in: beacons, one ``SyncSession`` per neighbour at a time, the compact bundles of
  ``radio.compact`` and the ``RadioLink`` (framing, ARQ, airtime governor). It never
  sleeps and never touches a port, so the emulated medium drives it on a virtual clock.
* ``RadioTransport`` is the short loop that runs a ``RadioSync`` against a serial driver
  (``links.serial``) in real time, and reconnects by itself when the port goes away.

Rounds. A converged link sends only beacons: every ``beacon_idle_s`` each station
broadcasts the 8-byte digest of what it holds (one 26-byte frame). A neighbour whose own
digest differs starts a session at once; a change here (a record stored) that changes the
digest sends a beacon promptly, and once more ``BEACON_REPEAT_S`` later in case the first
was lost. So a change travels one hop per beacon-and-session, and an idle hour costs a
few beacons.

Pushes. Some records do not wait for a round (docs/radio.md, "Pushes and routes"):

* a new alert is *flooded*: the station that stores it first broadcasts it at once
  (``PUSH``, ahead of everything else queued), and every station that stores it from a
  push broadcasts it once more after a random ``PUSH_SPREAD_S`` (neighbours that heard the
  same broadcast must not all answer in the same second). A station that hears a
  neighbour relay the record, or beacon what it holds, knows that neighbour has it; while
  a planned neighbour has not shown it, the broadcast is repeated after
  ``PUSH_REPEAT_S`` (at most ``PUSH_REPEATS`` times). Beacons and rounds remain the repair
  path for a station that missed every copy.
* with a planned route (``uplinks``: the neighbours one hop nearer city hall, best
  first) status and safety records travel *towards city hall only*: each station hands
  what it has not handed yet to its uplink as one acknowledged ``PUSH`` of many records,
  and that station does the same. On radio such records are then no longer part of
  beacons and rounds (``ROUTED_STREAMS``), so a status does not flood every shelter.
  An uplink that does not answer is left for the next one on the list. What was handed,
  what waits to be handed on and who handed it to us survive a power loss: they are
  written to the store (``model.handover``, ``Store.save_handovers``; received records
  are marked before they are stored) before the ARQ's acknowledgement of a push can go
  on air, and loaded before the first step, so a relay
  hands on after a restart what it had acknowledged, and a station does not send again
  what an uplink acknowledged.

Peers. There is no challenge-response on radio (docs/radio.md, "Peers on radio"): every
record is signed and checked by ``accept_batch`` against this node's trust, whoever relays
it, so an impostor can hand over nothing we would not accept from anyone; a revoked key is
refused at HELLO; the radio is a broadcast medium, so a handshake would hide nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from shelterkit.errors import ConfigError, LinkError, ProtocolError
from shelterkit.links.serial import DRIVERS, AtModemDriver, E220Config, E220Driver, SerialDriver
from shelterkit.model.handover import Handover, HandoverChange, HandoverKey, HandoverTable
from shelterkit.model.keys import short_id
from shelterkit.model.kinds import Stream
from shelterkit.model.record import MAX_SEQ, Record
from shelterkit.model.record import decode_record as decode_wire
from shelterkit.model.redaction import is_placeholder
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.arq import Acknowledged, Delivered, SendFailed
from shelterkit.radio.compact import (
    Beacon,
    BundleCodec,
    Push,
    SyncBundle,
    beacon_for,
    decode_bundle,
    encode_beacon,
    encode_bundle,
    encode_push,
)
from shelterkit.radio.framing import BROADCAST_ID, E220_PACKET_BYTES, MAX_STATION_ID
from shelterkit.radio.link import LinkOutput, RadioLink
from shelterkit.radio.profiles import profile_by_name
from shelterkit.service.node import Node
from shelterkit.service.replica import wires_for
from shelterkit.sync import (
    RADIO_STREAMS,
    Cancel,
    Event,
    PeerGreeted,
    PeerSummarized,
    RecordsReceived,
    RecordsRequested,
    RecordsStored,
    Role,
    SendRecords,
    SessionConfig,
    Start,
    State,
    SyncCompleted,
    SyncFailed,
    SyncSession,
)
from shelterkit.sync.limits import FRAME_HEADER_BYTES
from shelterkit.sync.messages import Hello, decode_payload

RadioForm = Callable[[Record], Record | None]
radio_form: RadioForm | None
try:
    from shelterkit.model.anpi import radio_form
except ImportError:  # pragma: no cover - safety registrations not in this model
    radio_form = None

log = logging.getLogger(__name__)

# A converged link beacons this often: at SF10/BW125 one beacon is 0.41 s on air, so four
# an hour are 1.6 s, 0.46 % of the 360 s hourly budget (target <= 1 %; bench/radio.py).
BEACON_IDLE_S = 900.0
# No two beacons closer than this, however often records change (a burst of posts).
BEACON_MIN_S = 20.0
# After a change, one more beacon this much later: a lost beacon must not cost 15 minutes.
BEACON_REPEAT_S = 120.0
# Idle beacons come up to 10 % late, at random, so that stations drift apart in time.
BEACON_JITTER = 0.1
# A change is announced within this many seconds, at random (two neighbours that changed
# in the same session would otherwise collide on air).
BEACON_SPREAD_S = 3.0
# A differing beacon starts a round only this long (plus up to BEACON_SPREAD_S) after it,
# if the neighbour has not started one meanwhile: a HELLO at SF9 is on air within a second.
BEACON_ANSWER_MIN_S = 1.5
# A neighbour whose beacon disagrees is not synced with more often than this after a round
# that moved nothing (a neighbour with another stream policy never agrees; this bounds what
# that costs). A round that moved records may be followed at once: news is still arriving.
MIN_ROUND_INTERVAL_S = 30.0
# Neighbours remembered per radio (a shelter hears a handful; beacons from more are noise).
MAX_NEIGHBOURS = 32
# Messages a session queues before the link takes them (a session emits a few per step).
MAX_SESSION_OUTBOX = 64
# Streams flooded by push: a new record is broadcast by every station that stores it.
FLOODED_STREAMS = frozenset({Stream.ALERTS})
# Streams that, with a planned route, travel towards city hall only (by push, not rounds).
ROUTED_STREAMS = frozenset({Stream.STATUS, Stream.ANPI})
# A station relaying a flooded record waits up to this long, at random, before its
# broadcast: the neighbours that heard the same copy answer one after another.
PUSH_SPREAD_S = 2.0
# A flooded record is broadcast again about this long after (0.5-1.5 times, at random;
# doubled after each repeat, up to 8 times as long) while a planned neighbour has not
# shown that it holds it, at most PUSH_REPEATS times; soon when such a neighbour beacons.
PUSH_REPEAT_S = 6.0
PUSH_REPEATS = 8
# After storing a new alert a station pushes nothing towards city hall for this long: the
# flood (a few seconds per hop, repeats included) has the channel to itself.
ALERT_HOLD_S = 180.0
# A record to push towards city hall waits up to this long, at random, for more.
PUSH_GATHER_S = 10.0
# Records per push (one ARQ message; the link's message size bounds it too).
MAX_PUSH_RECORDS = 48
# A push towards city hall is at most this many fragments: a long message on a busy
# channel loses some fragment to a hidden station in nearly every burst, and while its
# sender repeats them it jams its uplink for everyone else (measured: a relay next to
# city hall on air 943 s in an hour with pushes of 40 fragments). Short ones complete.
MAX_UPWARD_FRAGMENTS = 3
# After an uplink did not acknowledge a push, the next try (to the next uplink) waits this
# long, doubling with each failure in a row up to BEACON_MIN_S * 6.
PUSH_RETRY_S = 5.0
# Pushes go ahead of beacons and sessions (ARQ: lower goes first); alerts ahead of all.
PRIORITY_ALERT = -2
PRIORITY_UPWARD = -1
# Hearing nothing from a neighbour for this long makes it "not heard" in the status.
NEIGHBOUR_STALE_S = 3 * BEACON_IDLE_S


def radio_safe(wires: Sequence[bytes]) -> list[bytes]:
    """The records of ``wires`` that may cross a radio, up to the first that may not.

    A safety registration with a non-consenting person's name in clear must not go on air
    (DESIGN §10; ``model.anpi.radio_form``); a signed record cannot be trimmed, so it and
    what follows it in its sequence wait for an HTTP link (the peer sees no progress on
    that sequence and stops asking for it in this round).
    """
    if radio_form is None:  # pragma: no cover - a model without safety registrations
        return list(wires)
    out: list[bytes] = []
    for wire in wires:
        if is_placeholder(wire):  # a wiped record: no personal data left (model.redaction)
            out.append(wire)
            continue
        try:
            record = decode_wire(wire, verify_signature=False)  # read back from our store
        except ProtocolError:
            break
        if radio_form(record) is None:
            break
        out.append(wire)
    return out


def station_id_for(key: bytes) -> int:
    """A link-level id from a node key (config may set one explicitly instead)."""
    value = int.from_bytes(hashlib.blake2b(key, digest_size=2).digest(), "big")
    return value % MAX_STATION_ID + 1 if value > MAX_STATION_ID or value == 0 else value


@dataclass(slots=True)
class _Neighbour:
    station: int
    key: bytes | None = None
    last_heard: float | None = None
    digest: bytes = b""
    streams: frozenset[Stream] = frozenset()
    session: SyncSession | None = None
    codec: BundleCodec | None = None
    tag: int = -1
    initiator: bool = False
    heard_in_session: bool = False
    outbox: list[bytes] = field(default_factory=list)  # items waiting for the link
    in_flight: int | None = None  # ARQ seq of the bundle on its way
    next_round_at: float = 0.0
    retry_at: float | None = None  # after a failed round: try again then, if still apart
    failed_in_row: int = 0
    round_started: float = 0.0
    round_records: int = 0
    round_changes: int = 0  # node.changes when the round opened
    round_stored: int = 0  # records this round stored here
    round_sent: int = 0  # records this round sent to the peer
    rounds: int = 0
    failures: int = 0
    last_error: str = ""
    last_sync: float | None = None


@dataclass(frozen=True, slots=True)
class NeighbourStatus:
    station: int
    node: str  # short id of the node key, "" until a HELLO was heard
    last_heard_s: float | None  # seconds ago
    last_sync_s: float | None
    in_session: bool
    rounds: int
    failures: int
    last_error: str


@dataclass(frozen=True, slots=True)
class RadioStatus:
    """What health and the TUI show for one radio link."""

    driver: str
    port: str
    state: str  # "connecting", "up", "reconnecting"
    last_error: str
    reconnects: int
    station_id: int
    profile: str
    airtime_hour_s: float  # airtime spent in the profile's window ending now
    budget_fraction: float  # of the hourly budget (of the hour when the profile has none)
    queue_depth: int  # messages queued or unacknowledged in the ARQ
    last_contact_s: float | None  # seconds since anything valid was heard
    frames_received: int
    frames_corrupt: int
    frames_foreign: int
    beacons_sent: int
    rounds: int
    neighbours: tuple[NeighbourStatus, ...]


@dataclass(slots=True)
class RadioCounters:
    beacons_sent: int = 0
    beacons_heard: int = 0
    bundles_sent: int = 0
    bundles_received: int = 0
    stale_bundles: int = 0
    bad_bundles: int = 0
    rounds: int = 0
    records_received: int = 0
    pushes_sent: int = 0


class RadioSync:
    """Sync with every neighbour heard on ``link``; all time is passed in."""

    def __init__(
        self,
        node: Node,
        link: RadioLink,
        rng: random.Random,
        *,
        streams: frozenset[Stream] = RADIO_STREAMS,
        roles: Role = Role.NODE,
        beacon_idle_s: float = BEACON_IDLE_S,
        beacon_min_s: float = BEACON_MIN_S,
        peers: frozenset[int] | None = None,
        uplinks: Sequence[int] | None = None,
    ) -> None:
        self.node = node
        # None: no planned route, every stream in rounds; otherwise the stations one hop
        # nearer city hall, best first (empty at city hall itself)
        self.uplinks = None if uplinks is None else tuple(uplinks)
        # stations this radio syncs with (a planned topology); None: every station heard
        self.peers = peers
        self.link = link
        self.rng = rng
        self.streams = frozenset(streams)
        if self.uplinks is not None:
            self.streams -= ROUTED_STREAMS
        self._upward = frozenset(streams) & ROUTED_STREAMS if self.uplinks else frozenset()
        self.roles = roles
        self.beacon_idle_s = beacon_idle_s
        self.beacon_min_s = beacon_min_s
        self.counters = RadioCounters()
        self.neighbours: dict[int, _Neighbour] = {}
        self.last_contact: float | None = None
        self._idle_at: float | None = None  # None: send one at the next step
        self._change_at: float | None = None  # a beacon announcing a change, when due
        self._repeat_at: float | None = None  # its repeat
        self._last_beacon: float | None = None
        self._last_change_beacon: float | None = None
        self._beaconed = b""  # the digest of the last beacon: records of other streams
        # (the board, routed ones) change nothing a beacon says
        self._seen_changes = node.changes
        # pushes: what was flooded (origin -> seq), what is handed to an uplink
        self._push_changes = -1  # node.changes when pushes last looked; -1: not yet
        self._flooded: dict[bytes, int] = {}
        self._push_received = 0
        self._flood_at: float | None = None
        self._flood_wires: tuple[bytes, ...] = ()  # the last flood, for its repeats
        self._flood_digest = b""  # what we held after it: a beacon with it shows receipt
        self._flood_unsure: set[int] = set()  # planned neighbours not known to hold it
        self._flood_repeats = 0
        self._repeat_flood_at: float | None = None
        # per (origin, stream): handed up to which seq, what waits, who handed it to us
        # (they do not go straight back there); durable in the store, loaded at the first
        # step or receipt (``_load_handover``)
        self._handover = HandoverTable(keep=node.signers)
        self._handover_loaded = not self._upward  # nothing routed up: nothing to load
        self._up_flight: tuple[int, int, dict[HandoverKey, int]] | None = None
        self._up_choice = 0
        self._up_failures = 0
        self._up_retry_at = 0.0

    @property
    def station_id(self) -> int:
        return self.link.arq.station_id

    def session_config(self) -> SessionConfig:
        base = SessionConfig.radio(self.node.identity.public, roles=self.roles)
        return SessionConfig(
            base.node_key,
            roles=base.roles,
            streams=self.streams,
            max_message_bytes=base.max_message_bytes,
            batch_records=base.batch_records,
            max_outstanding_batches=base.max_outstanding_batches,
            idle_timeout_s=base.idle_timeout_s,
            own_keys=frozenset(self.node.signers),
        )

    # -- input ------------------------------------------------------------------------------

    async def receive(self, data: bytes, now: float) -> None:
        """Bytes read from the port.

        The ARQ queues the acknowledgement of a message it completes here, but it goes on
        air only at a later ``step``: whatever handling a message writes to the store (its
        records, the hand-over state of records to hand on) is durable before the sender
        learns that we hold it. If a write fails, this raises and the transport stops
        before that acknowledgement is sent.
        """
        await self._load_handover()
        for event in self.link.receive_bytes(data, now):
            await self._on_link_event(event, now)

    async def _on_link_event(
        self, event: Delivered | Acknowledged | SendFailed, now: float
    ) -> None:
        if isinstance(event, Delivered):
            self.last_contact = now
            await self._on_delivered(event, now)
            return
        flight = self._up_flight
        if flight is not None and (flight[0], flight[1]) == (event.dst, event.seq):
            await self._on_push_outcome(isinstance(event, Acknowledged), now)
            return
        peer = self.neighbours.get(event.dst)
        if peer is None or peer.in_flight != event.seq:
            return
        peer.in_flight = None
        if isinstance(event, SendFailed):
            self._end_session(peer, f"no answer after {event.attempts} bursts", now)

    async def _on_delivered(self, event: Delivered, now: float) -> None:
        try:
            message = decode_bundle(event.payload)
        except ProtocolError:
            self.counters.bad_bundles += 1
            return
        if self.peers is not None and event.src not in self.peers:
            return  # heard, but not one of ours: another relay serves it
        peer = self._neighbour(event.src)
        if peer is None:
            return
        peer.last_heard = now
        if isinstance(message, Push):
            await self._on_push(message, event.src, now)
            return
        if isinstance(message, Beacon):
            self.counters.beacons_heard += 1
            peer.digest, peer.streams = message.digest, message.streams
            if self._flood_digest and message.digest == self._flood_digest:
                self._flood_unsure.discard(event.src)
            elif event.src in self._flood_unsure and self._repeat_flood_at is not None:
                # it is listening and still says it lacks the flood: repeat it soon
                soon = now + BEACON_ANSWER_MIN_S + PUSH_SPREAD_S * self.rng.random()
                self._repeat_flood_at = min(self._repeat_flood_at, soon)
            # the station with news starts a round with us itself, at once: give its HELLO
            # time to arrive rather than start a second session that one of us must drop
            wait = BEACON_ANSWER_MIN_S + BEACON_SPREAD_S * self.rng.random()
            if peer.session is None and (peer.retry_at is None or peer.retry_at > now + wait):
                peer.retry_at = now + wait
            return
        await self._on_bundle(peer, message, now)

    async def _on_bundle(self, peer: _Neighbour, bundle: SyncBundle, now: float) -> None:
        self.counters.bundles_received += 1
        if bundle.tag != peer.tag or peer.session is None:
            if not bundle.items or not self._opens_session(bundle.items[0]):
                self.counters.stale_bundles += 1
                return
            both_started = peer.session is not None and peer.initiator and not peer.heard_in_session
            if both_started and self.station_id < peer.station:  # the lower id's session wins
                return
            if peer.session is not None:
                self._end_session(peer, "replaced by the peer's new session", now)
            await self._open_session(peer, now, bundle.tag, initiator=False)
        session, codec = peer.session, peer.codec
        assert session is not None and codec is not None
        peer.heard_in_session = True
        frames = bytearray()
        try:
            for item in bundle.items:
                payload = codec.decode(item, session.config.max_message_bytes)
                frames += struct.pack(">H", len(payload)) + payload
        except ProtocolError as exc:
            self.counters.bad_bundles += 1
            self._end_session(peer, f"bad bundle: {exc}", now, tell_peer=True)
            return
        await self._feed(peer, bytes(frames), now)

    def _known_keys(self) -> Iterable[bytes]:
        """Origins whose records this node could accept: named by prefix on radio."""
        trust = self.node.trust
        return [self.node.identity.public, *sorted(trust.authorities), *sorted(trust.enrolled)]

    def _opens_session(self, item: bytes) -> bool:
        try:
            payload = BundleCodec().decode(item, self.session_config().max_message_bytes)
            return isinstance(decode_payload(payload), Hello)
        except ProtocolError:
            return False

    # -- sessions ---------------------------------------------------------------------------

    async def _consider_round(self, peer: _Neighbour, now: float) -> None:
        if peer.session is not None:
            return
        own = beacon_for(await self.node.have(), self.streams)
        if peer.streams == self.streams and peer.digest == own.digest:
            return
        if now < peer.next_round_at:
            # too soon after the last round: remember to try then, do not drop the news
            if peer.retry_at is None or peer.retry_at > peer.next_round_at:
                peer.retry_at = peer.next_round_at
            return
        if peer.streams != self.streams:  # never converge by digest: sync now and then only
            peer.next_round_at = now + self.beacon_idle_s
        await self._open_session(peer, now, self.rng.randrange(256), initiator=True)

    async def _open_session(
        self, peer: _Neighbour, now: float, tag: int, *, initiator: bool
    ) -> None:
        session = SyncSession(self.session_config(), await self.node.have(), now)
        peer.session, peer.codec, peer.tag = session, BundleCodec(self._known_keys), tag
        peer.initiator, peer.heard_in_session = initiator, False
        peer.outbox.clear()
        peer.round_started, peer.round_records = now, self.node.record_count
        peer.round_changes, peer.round_stored, peer.round_sent = self.node.changes, 0, 0
        peer.next_round_at = max(peer.next_round_at, now + MIN_ROUND_INTERVAL_S)

        if initiator:
            self._queue(peer, session.send(Start()))

    async def _feed(self, peer: _Neighbour, frames: bytes, now: float) -> None:
        session = peer.session
        assert session is not None
        events = session.receive(frames, now)
        for event in events:
            if isinstance(event, PeerGreeted):
                peer.key = event.node
                if event.node in self.node.trust.revoked:
                    self._end_session(peer, "peer is revoked", now, tell_peer=True)
                    return
                if session.state is State.HELLO_RECEIVED:
                    self._queue(peer, session.send(Start()))
        self._queue(peer, await self._answer(session, events))
        if session.finished:
            # a session that ended inside ``send`` (our last batch stored after the peer's
            # BYE) reports its outcome with the next ``receive``: take it now
            events = [*events, *session.receive(b"", now)]
        for event in events:
            if isinstance(event, RecordsRequested):
                peer.round_sent += sum(r.last - r.first + 1 for r in event.ranges)
            elif isinstance(event, RecordsReceived):
                peer.round_stored += len(event.records)
        for event in events:
            if isinstance(event, SyncCompleted):
                await self._finish(peer, now)
            elif isinstance(event, SyncFailed):
                peer.failures += 1
                peer.last_error = f"{event.reason.name.lower()}: {event.detail}"
                self._schedule_retry(peer, now)
                log.info("radio sync with station %d failed: %s", peer.station, peer.last_error)

    async def _answer(self, session: SyncSession, events: Sequence[Event]) -> bytes:
        """``service.replica.drive`` for radio: what may not cross a radio stays behind."""
        out: list[bytes] = []
        for event in events:
            if isinstance(event, PeerSummarized):
                await self.node.learn_own_heads(event)
            elif isinstance(event, RecordsRequested):
                wires = await wires_for(self.node, event.ranges, event.max_records, event.max_bytes)
                out.append(session.send(SendRecords(event.request, radio_safe(wires))))
            elif isinstance(event, RecordsReceived):
                await self.node.ingest_batch(event.records)
                out.append(session.send(RecordsStored(event.request, await self.node.have())))
        out.append(session.data_to_send())
        return b"".join(out)

    async def _finish(self, peer: _Neighbour, now: float) -> None:
        # Records that reached this node during the round from elsewhere (backhaul, another
        # neighbour, the portal) were not in its summary: the peer still lacks them.
        news_meanwhile = self.node.changes - peer.round_changes > peer.round_stored
        if news_meanwhile:
            peer.digest = b""
        elif peer.streams == self.streams or not peer.streams:  # converged: we hold the same
            peer.streams = self.streams
            peer.digest = beacon_for(await self.node.have(), self.streams).digest
        peer.rounds += 1
        peer.retry_at, peer.failed_in_row = None, 0
        if peer.round_stored or peer.round_sent:
            # records moved: the next round need not wait (MIN_ROUND_INTERVAL_S is for
            # rounds that move nothing)
            peer.next_round_at = now
        if news_meanwhile:
            peer.retry_at = now  # hand over what arrived meanwhile, at the next step
        peer.last_sync = now
        peer.last_error = ""
        self.counters.rounds += 1
        received = self.node.record_count - peer.round_records
        self.counters.records_received += max(0, received)
        if peer.key is not None:
            self.node.note_sync(peer.key)
            log.info(
                "radio sync with %s (station %d): %d new records",
                short_id(peer.key),
                peer.station,
                received,
            )

    def _schedule_retry(self, peer: _Neighbour, now: float) -> None:
        peer.failed_in_row += 1
        wait = min(self.beacon_idle_s, MIN_ROUND_INTERVAL_S * 2 ** (peer.failed_in_row - 1))
        peer.retry_at = now + wait * (1.0 + BEACON_JITTER * self.rng.random())

    def _end_session(
        self, peer: _Neighbour, why: str, now: float, *, tell_peer: bool = False
    ) -> None:
        session = peer.session
        if session is not None and not session.finished:
            bye = session.send(Cancel(why))
            if tell_peer:
                self._queue(peer, bye)
            peer.failures += 1
            peer.last_error = why
            self._schedule_retry(peer, now)
            log.info("radio sync with station %d ended: %s", peer.station, why)
        peer.session = None
        peer.codec = None
        if not tell_peer:
            peer.outbox.clear()

    def _queue(self, peer: _Neighbour, data: bytes) -> None:
        """Split the session's length-prefixed output into bundle items."""
        codec = peer.codec
        if not data or codec is None:
            return
        pos = 0
        while pos + FRAME_HEADER_BYTES <= len(data):
            (length,) = struct.unpack_from(">H", data, pos)
            payload = data[pos + FRAME_HEADER_BYTES : pos + FRAME_HEADER_BYTES + length]
            pos += FRAME_HEADER_BYTES + length
            if len(peer.outbox) >= MAX_SESSION_OUTBOX:  # a broken session: drop it
                peer.outbox.clear()
                peer.session, peer.codec = None, None
                peer.failures += 1
                peer.last_error = "session produced more messages than the outbox holds"
                return
            peer.outbox.append(codec.encode(payload))

    def _neighbour(self, station: int) -> _Neighbour | None:
        peer = self.neighbours.get(station)
        if peer is not None:
            return peer
        if len(self.neighbours) >= MAX_NEIGHBOURS:
            stale = [p for p in self.neighbours.values() if p.session is None]
            if not stale:
                return None
            oldest = min(stale, key=lambda p: p.last_heard or 0.0)
            del self.neighbours[oldest.station]
        peer = _Neighbour(station)
        self.neighbours[station] = peer
        return peer

    # -- output -----------------------------------------------------------------------------

    async def step(self, now: float) -> LinkOutput:
        """Run timers and return what to write now, with when to call again."""
        await self._load_handover()
        await self._push_if_due(now)
        if await self._beacon_if_due(now) and self.uplinks is None:
            # news here: sync at once with every neighbour heard lately that lacks it (with
            # a route the news was pushed: a neighbour that missed it says so by beacon)
            for peer in list(self.neighbours.values()):
                if peer.last_heard is not None and now - peer.last_heard < NEIGHBOUR_STALE_S:
                    await self._consider_round(peer, now)
        for peer in list(self.neighbours.values()):
            if peer.session is None and peer.retry_at is not None and now >= peer.retry_at:
                peer.retry_at = None
                await self._consider_round(peer, now)
            session = peer.session
            if session is not None and not session.finished:
                await self._feed(peer, b"", now)  # idle timeout
            self._send_bundle(peer, now)
            if (
                peer.session is not None
                and peer.session.finished
                and not peer.outbox
                and peer.in_flight is None
            ):
                peer.session = None
        out = self.link.poll(now)
        for event in out.events:
            await self._on_link_event(event, now)
        retries = [
            p.retry_at
            for p in self.neighbours.values()
            if p.retry_at is not None and p.session is None
        ]
        wakes = [
            t
            for t in (out.wake_at, self._next_beacon_at(now), self._next_push_at(), *retries)
            if t is not None
        ]
        return LinkOutput(out.data, out.grant, out.events, min(wakes) if wakes else None)

    # -- pushes -----------------------------------------------------------------------------

    async def _on_push(self, push: Push, src: int, now: float) -> None:
        """Records pushed by a neighbour: check and store them; relay them on.

        Records to hand towards city hall are marked as waiting *before* they are stored,
        and both are durable before the ARQ's acknowledgement goes on air (``receive``):
        a power loss in between leaves a mark with nothing behind it, which the next
        hand-over finds empty and settles, while the sender, unacknowledged, pushes again.
        """
        if self._flood_wires and set(self._flood_wires) <= set(push.records):
            self._flood_unsure.discard(src)  # it relays what we flooded: it has it
        marked = await self._mark_incoming(push, src, now)
        result = await self.node.ingest(list(push.records))
        self.counters.records_received += len(result.stored)
        stored = {(r.origin, r.stream) for r in result.stored}
        undo = HandoverChange()
        for key, previous in marked.items():
            if key not in stored:  # refused, or a copy of one we held: nothing new to hand on
                undo += self._handover.revert(key, previous)
        await self._save_handover(undo)

    async def _mark_incoming(
        self, push: Push, src: int, now: float
    ) -> dict[HandoverKey, Handover | None]:
        """Mark the keys of ``push``'s records to hand on, durably; what they were before.

        Only records of routed streams, of origins this node could accept (a stranger's
        push cannot fill the table), above what was handed and not held already: a record
        that reached us another way (backhaul) is not handed on again.
        """
        if not self._upward:
            return {}
        known = set(self._known_keys())
        keys: set[HandoverKey] = set()
        for wire in push.records:
            try:
                record = decode_wire(wire, verify_signature=False)  # ingest verifies it
            except ProtocolError:
                continue
            key = (record.origin, record.stream)
            if (
                record.stream not in self._upward
                or record.origin not in known
                or key in keys
                or record.seq <= self._handover.handed(key)
            ):
                continue
            if await self.node.store.get(record.id) is None:
                keys.add(key)
        if not keys:
            return {}
        self._gather(now)
        previous = {key: self._handover.entry(key) for key in sorted(keys)}
        change = HandoverChange()
        for key in previous:
            change += self._handover.mark_pending(key, src)
        await self._save_handover(change)
        return previous

    async def _load_handover(self) -> None:
        """The hand-over state this port left in the store, once, before anything else."""
        if self._handover_loaded:
            return
        self._handover_loaded = True
        entries = await self.node.store.handovers(self.station_id)
        self._handover = HandoverTable(entries, keep=self.node.signers)
        await self._save_handover(self._handover.take_evicted())
        pending = len(self._handover.pending())
        if pending:
            log.info("radio station %d: records of %d keys to hand on", self.station_id, pending)

    async def _save_handover(self, change: HandoverChange) -> None:
        if change.dropped_pending:
            log.warning(
                "radio station %d: hand-over table full (%d keys); forgot %d keys with"
                " records to hand on (they stay in the store and go by backhaul)",
                self.station_id,
                self._handover.max_keys,
                change.dropped_pending,
            )
        await self.node.store.save_handovers(self.station_id, change)

    def _gather(self, now: float) -> None:
        """Wait a moment before a push towards city hall: records of the neighbours that
        report at the same time go in one message, and the stations that heard the same
        news do not all transmit at once (hidden from each other, they would collide at
        their common uplink)."""
        if not self._handover.has_pending and self._up_flight is None:
            self._up_retry_at = max(self._up_retry_at, now + PUSH_GATHER_S * self.rng.random())

    def _next_push_at(self) -> float | None:
        times = [t for t in (self._flood_at, self._repeat_flood_at) if t is not None]
        if self._up_flight is None and self._handover.has_pending:
            times.append(self._up_retry_at)
        return min(times) if times else None

    async def _push_if_due(self, now: float) -> None:
        if self.node.changes != self._push_changes:
            first = self._push_changes < 0
            self._push_changes = self.node.changes
            # records that came by radio are relayed after a random pause; our own at once
            relayed = self.counters.records_received != self._push_received
            self._push_received = self.counters.records_received
            have = await self.node.have()
            for (origin, stream), head in have.items():
                if stream not in FLOODED_STREAMS or stream not in self.streams:
                    continue
                if first:  # what a station held when it started is not news
                    self._flooded[origin] = head
                elif head > self._flooded.get(origin, 0) and self._flood_at is None:
                    spread = PUSH_SPREAD_S if relayed else 0.0
                    # the alert goes first: status waits while the flood passes by
                    self._up_retry_at = max(self._up_retry_at, now + ALERT_HOLD_S)
                    self._flood_at = now + spread * self.rng.random()
            if self._upward:
                own = self.node.identity.public
                self._gather(now)
                change = HandoverChange()
                for s in sorted(self._upward):
                    if have.head(own, s) > self._handover.handed((own, s)):
                        change += self._handover.mark_pending((own, s))
                await self._save_handover(change)
        if self._flood_at is not None and now >= self._flood_at:
            self._flood_at = None
            await self._flood(now)
        elif self._repeat_flood_at is not None and now >= self._repeat_flood_at:
            self._repeat_flood_at = None
            blind = self._flood_unsure == {BROADCAST_ID}
            if self._flood_unsure and self._flood_repeats < (2 if blind else PUSH_REPEATS):
                self._flood_repeats += 1
                self._broadcast_flood(now)
        if self._up_flight is None and now >= self._up_retry_at and self._handover.has_pending:
            await self._push_upward(now)

    async def _flood(self, now: float) -> None:
        have = await self.node.have()
        wires: list[bytes] = []
        for (origin, stream), head in sorted(have.items()):
            if stream not in FLOODED_STREAMS or stream not in self.streams:
                continue
            first = self._flooded.get(origin, 0) + 1
            if head >= first:
                # the newest records first: an old backlog is the rounds' job
                first = max(first, head - MAX_PUSH_RECORDS + 1)
                records = await self.node.store.records_range(origin, stream, first, head)
                wires.extend(r.wire for r in records)
                self._flooded[origin] = head
        wires = self._fit(wires)
        if not wires:
            return
        self._flood_wires = tuple(wires)
        self._flood_digest = beacon_for(have, self.streams).digest
        planned = self.peers if self.peers is not None else frozenset(self.neighbours)
        # no neighbour heard yet: repeat a little anyway (BROADCAST_ID stands for "anyone")
        self._flood_unsure = set(planned) or {BROADCAST_ID}
        self._flood_repeats = 0
        self._broadcast_flood(now)

    def _broadcast_flood(self, now: float) -> None:
        push = encode_push(Push(self._flood_wires))
        self.link.send(BROADCAST_ID, push, now, priority=PRIORITY_ALERT)
        self.counters.pushes_sent += 1
        # half to one and a half times the pause: stations that flooded together must not
        # repeat together (their repeats would meet at the same hidden receivers again)
        pause = PUSH_REPEAT_S * 2 ** min(self._flood_repeats, 3) * (0.5 + self.rng.random())
        self._repeat_flood_at = now + pause

    def _fit(self, wires: list[bytes], fragments: int | None = None) -> list[bytes]:
        """The first of ``wires`` that fit one push message (of ``fragments`` at most)."""
        limit = self.link.arq.max_message_bytes - 2
        if fragments is not None:
            limit = min(limit, self.link.arq.config.fragment_bytes * fragments - 2)
        out: list[bytes] = []
        size = 0
        for wire in wires[:MAX_PUSH_RECORDS]:
            size += len(wire) + 3
            if out and size > limit:
                break
            out.append(wire)
        return out

    async def _push_upward(self, now: float) -> None:
        """Hand records not handed yet to the first uplink that answers."""
        assert self.uplinks is not None
        if not self.uplinks:  # city hall: nothing further to hand on
            await self._save_handover(self._handover.settle_all())
            return
        uplink = self.uplinks[self._up_choice % len(self.uplinks)]
        wires: list[bytes] = []
        sent: dict[HandoverKey, int] = {}
        held_back = False
        settled = HandoverChange()
        for key in self._handover.pending():
            origin, stream = key
            if self._handover.came_from(key) == uplink:
                held_back = True
                continue
            room = MAX_PUSH_RECORDS - len(wires)
            records = await self.node.store.records_range(
                origin, stream, self._handover.handed(key) + 1, MAX_SEQ, room
            )
            safe = radio_safe([r.wire for r in records])
            if not safe:
                settled += self._handover.settle(key)  # nothing (more) that may cross a radio
                continue
            fitted = self._fit([*wires, *safe], MAX_UPWARD_FRAGMENTS)
            taken = len(fitted) - len(wires)
            if taken <= 0:
                break
            wires = fitted
            sent[key] = records[taken - 1].seq
            if len(wires) >= MAX_PUSH_RECORDS or taken < len(safe):
                break
        await self._save_handover(settled)
        if not wires:
            if held_back:  # only records that came from that uplink: the next one
                self._up_choice += 1
                self._up_retry_at = now + PUSH_GATHER_S * self.rng.random()
            return
        seq = self.link.send(uplink, encode_push(Push(tuple(wires))), now, priority=PRIORITY_UPWARD)
        self._up_flight = (uplink, seq, sent)
        self.counters.pushes_sent += 1

    async def _on_push_outcome(self, acknowledged: bool, now: float) -> None:
        assert self._up_flight is not None
        _uplink, _seq, sent = self._up_flight
        self._up_flight = None
        if acknowledged:
            self._up_failures = 0
            self._up_choice = 0  # the best uplink again
            change = HandoverChange()
            for key, seq in sent.items():
                change += self._handover.mark_handed(key, seq)
            self._up_retry_at = now
            await self._save_handover(change)
            return
        # that uplink is off or out of reach: the next one on the list, after a pause
        self._up_failures += 1
        self._up_choice += 1
        wait = min(6 * self.beacon_min_s, PUSH_RETRY_S * 2 ** (self._up_failures - 1))
        self._up_retry_at = now + wait * (1.0 + BEACON_JITTER * self.rng.random())

    def _send_bundle(self, peer: _Neighbour, now: float) -> None:
        if peer.in_flight is not None or not peer.outbox:
            return
        limit = self.link.arq.max_message_bytes
        items: list[bytes] = []
        size = 2
        while peer.outbox and (not items or size + len(peer.outbox[0]) + 3 <= limit):
            item = peer.outbox.pop(0)
            items.append(item)
            size += len(item) + 3
        bundle = encode_bundle(SyncBundle(peer.tag, tuple(items)))
        peer.in_flight = self.link.send(peer.station, bundle, now, priority=1)
        self.counters.bundles_sent += 1

    def _next_beacon_at(self, now: float) -> float:
        if self._idle_at is None:  # the first beacon, at a random moment: not all at once
            self._idle_at = now + self.beacon_min_s * self.rng.random()
        times = [t for t in (self._change_at, self._repeat_at) if t is not None]
        return min([self._idle_at, *times])

    async def _beacon_if_due(self, now: float) -> bool:
        """Send a beacon if one is due; whether records changed since the last call."""
        changed = self.node.changes != self._seen_changes
        if changed:
            self._seen_changes = self.node.changes
        if changed and beacon_for(await self.node.have(), self.streams).digest != self._beaconed:
            # only change beacons are spaced: an idle beacon just before must not hold news
            last = self._last_change_beacon
            earliest = now if last is None else last + self.beacon_min_s
            if self._change_at is None:
                # neighbours that changed together (one session) must not beacon together
                self._change_at = max(now + BEACON_SPREAD_S * self.rng.random(), earliest)
        if now < self._next_beacon_at(now):
            return changed
        after_change = self._change_at is not None and now >= self._change_at
        beacon = beacon_for(await self.node.have(), self.streams)
        self._beaconed = beacon.digest
        self.link.send(BROADCAST_ID, encode_beacon(beacon), now, priority=0)
        self.counters.beacons_sent += 1
        self._last_beacon = now
        if after_change:
            self._last_change_beacon = now
        self._idle_at = now + self.beacon_idle_s * (1.0 + BEACON_JITTER * self.rng.random())
        self._change_at = None
        # a change is announced twice, in case the first beacon was lost
        self._repeat_at = now + BEACON_REPEAT_S if after_change else None
        return changed

    # -- status -----------------------------------------------------------------------------

    def status(
        self,
        now: float,
        *,
        driver: str = "",
        port: str = "",
        state: str = "up",
        last_error: str = "",
        reconnects: int = 0,
    ) -> RadioStatus:
        report = self.link.governor.report(now)
        counters = self.link.deframer.counters
        neighbours = tuple(
            NeighbourStatus(
                p.station,
                short_id(p.key) if p.key else "",
                None if p.last_heard is None else now - p.last_heard,
                None if p.last_sync is None else now - p.last_sync,
                p.session is not None,
                p.rounds,
                p.failures,
                p.last_error,
            )
            for p in sorted(self.neighbours.values(), key=lambda p: p.station)
        )
        return RadioStatus(
            driver=driver,
            port=port,
            state=state,
            last_error=last_error,
            reconnects=reconnects,
            station_id=self.station_id,
            profile=report.profile,
            airtime_hour_s=report.window_airtime_s,
            budget_fraction=report.fraction,
            queue_depth=self.link.arq.outgoing,
            last_contact_s=None if self.last_contact is None else now - self.last_contact,
            frames_received=counters.frames,
            frames_corrupt=counters.corrupt,
            frames_foreign=counters.foreign,
            beacons_sent=self.counters.beacons_sent,
            rounds=self.counters.rounds,
            neighbours=neighbours,
        )


# -- the real-time loop --------------------------------------------------------------------------

# The loop wakes at least this often to notice new records (a beacon) and port trouble.
LOOP_MAX_WAIT_S = 0.5
# After a port failure wait 1, 2, 4 … s, at most a minute, before opening it again (USB
# devices reappear within seconds after a replug; a minute bounds the time to notice).
RECONNECT_FIRST_S = 1.0
RECONNECT_MAX_S = 60.0


@dataclass(frozen=True, slots=True)
class RadioLinkSettings:
    """What the node's config says about one radio port (docs/radio.md, "Configuration")."""

    driver: str = "cable"  # cable | e220 | lora-e5 | rak3172
    port: str = ""  # pyserial URL: /dev/ttyUSB0, a pty path, socket://host:port
    baudrate: int = 0  # 0: the driver's default
    profile: str = ""  # "": "unlimited" for a cable, "jp920" for radios
    spreading_factor: int = 9
    bandwidth_khz: int = 125
    frequency_mhz: float = 922.0  # AT modems; the E220 takes a channel
    channel: int = 0  # E220 channel (0 = 920.6 MHz)
    tx_power_dbm: int = 13  # 20 mW
    station_id: int = 0  # 0: derived from the node key
    streams: tuple[str, ...] = ("alerts", "notices", "anpi", "status", "control")
    beacon_idle_s: float = BEACON_IDLE_S
    routed: bool = False  # a planned route: status and safety go up ``uplinks`` only
    uplinks: tuple[int, ...] = ()  # stations one hop nearer city hall, best first
    configure: bool = False  # E220: write registers at start (pins must select mode 3)
    fixed_mode: bool = False  # E220: fixed transmission (address and channel per packet)


def streams_from_names(names: Sequence[str]) -> frozenset[Stream]:
    try:
        return frozenset(Stream[name.upper()] for name in names)
    except KeyError as exc:
        known = ", ".join(s.name.lower() for s in Stream)
        raise ConfigError(f"unknown stream {exc.args[0]!r} (known: {known})") from None


def build_radio(
    node: Node, settings: RadioLinkSettings, rng: random.Random
) -> tuple[SerialDriver, RadioSync]:
    """The driver and the sync engine for ``settings`` (errors are ``ConfigError``)."""
    cls = DRIVERS.get(settings.driver)
    if cls is None:
        raise ConfigError(f"unknown radio driver {settings.driver!r} (known: {', '.join(DRIVERS)})")
    cable = settings.driver == "cable"
    profile = profile_by_name(settings.profile or ("unlimited" if cable else "jp920"))
    # a cable given a radio profile paces itself like that radio (tests, the demo)
    radio_like = not cable or profile.name != "unlimited"
    try:
        lora = (
            LoraParams(settings.spreading_factor, settings.bandwidth_khz * 1000)
            if radio_like
            else None
        )
    except ValueError as exc:
        raise ConfigError(f"radio: {exc}") from exc
    driver: SerialDriver
    if cls is E220Driver:
        config = E220Config(
            channel=settings.channel,
            spreading_factor=settings.spreading_factor,
            bandwidth_khz=settings.bandwidth_khz,
            tx_power_dbm=settings.tx_power_dbm,
            fixed_mode=settings.fixed_mode,
        )
        config.registers()  # validate now, not at the first connection
        driver = E220Driver(
            settings.port, settings.baudrate, config=config, configure=settings.configure
        )
    elif issubclass(cls, AtModemDriver):
        driver = cls(
            settings.port,
            settings.baudrate,
            lora=lora,
            frequency_mhz=settings.frequency_mhz,
            tx_power_dbm=settings.tx_power_dbm,
        )
    else:
        driver = cls(settings.port, settings.baudrate)
    station = settings.station_id or station_id_for(node.identity.public)
    if not 1 <= station <= MAX_STATION_ID:
        raise ConfigError(f"radio station id {station} outside 1..{MAX_STATION_ID}")
    try:
        packet = driver.packet_bytes if not cable or lora is None else E220_PACKET_BYTES
        link = RadioLink(station, rng, profile=profile, lora=lora, packet_bytes=packet)
    except LinkError as exc:
        raise ConfigError(f"radio: {exc}") from exc
    sync = RadioSync(
        node,
        link,
        rng,
        streams=streams_from_names(settings.streams),
        beacon_idle_s=settings.beacon_idle_s,
        uplinks=settings.uplinks if settings.routed else None,
    )
    return driver, sync


class RadioTransport:
    """Runs one radio port for the node until cancelled; reconnects by itself.

    ``await RadioTransport(node, settings).run()`` in the node's TaskGroup.
    ``status()`` is what health and the TUI show.
    """

    def __init__(
        self,
        node: Node,
        settings: RadioLinkSettings,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.rng = rng or random.Random()
        self.driver, self.sync = build_radio(node, settings, self.rng)
        self._clock = clock
        self.state = "connecting"
        self.last_error = ""
        self.reconnects = 0

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def status(self) -> RadioStatus:
        return self.sync.status(
            self._now(),
            driver=self.driver.name,
            port=self.settings.port,
            state=self.state,
            last_error=self.last_error,
            reconnects=self.reconnects,
        )

    async def run(self) -> None:
        failures = 0
        while True:
            self.state = "connecting" if not self.reconnects else "reconnecting"
            try:
                await self.driver.open()
                self.state, failures = "up", 0
                log.info("radio %s on %s is up", self.driver.name, self.settings.port)
                await self._serve()
            except (LinkError, ProtocolError, OSError) as exc:
                if self.state == "up" or exc.args != (self.last_error,):
                    log.warning("radio %s: %s", self.settings.port, exc)
                self.last_error = str(exc)
            finally:
                await self.driver.close()
            self.state = "reconnecting"
            self.reconnects += 1
            failures += 1
            wait = min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** (failures - 1))
            await asyncio.sleep(wait * (0.5 + 0.5 * self.rng.random()))

    async def _serve(self) -> None:
        while True:
            out = await self.sync.step(self._now())
            if out.data:
                await self.driver.write_frame(out.data)
                continue
            now = self._now()
            wait = LOOP_MAX_WAIT_S if out.wake_at is None else out.wake_at - now
            data = await self.driver.read(min(max(wait, 0.001), LOOP_MAX_WAIT_S))
            if data:
                await self.sync.receive(data, self._now())


async def run_radio(node: Node, settings: RadioLinkSettings) -> None:
    """The coroutine for the node's TaskGroup: one radio port, forever."""
    await RadioTransport(node, settings).run()
