"""Hostile and broken peers: nothing but valid records is stored, memory stays bounded."""

from __future__ import annotations

import random
import struct
import tracemalloc
from collections.abc import Callable

from sync_city import WALL_MS, City

from shelterkit.model.kinds import PostBody, RevokeBody, Stream
from shelterkit.model.record import sign_record
from shelterkit.sync.limits import MAX_VECTOR_ENTRIES, SESSION_IDLE_TIMEOUT_S
from shelterkit.sync.memory import MemoryLink, MemoryReplica, sync_pair
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
    decode_payload,
    encode_frame,
)
from shelterkit.sync.session import (
    ALL_STREAMS,
    RecordsReceived,
    SessionConfig,
    Start,
    SyncFailed,
    SyncSession,
)
from shelterkit.sync.states import State
from shelterkit.sync.vector import SeqRange, VersionVector

YEAR_MS = 365 * 24 * 3600 * 1000
EVIL = b"\xee" * 32


class RawPeer:
    """A peer that writes whatever frames a test wants and reads what it gets back."""

    def __init__(self, session: SyncSession, replica: MemoryReplica) -> None:
        self.session = session
        self.replica = replica
        self.frames = FrameBuffer(65535)
        self.inbox: list[Message] = [
            decode_payload(p) for p in self.frames.feed(session.send(Start()))
        ]

    def say(self, *messages: Message, now: float = 0.0) -> list[Message]:
        data = b"".join(encode_frame(m) for m in messages)
        return self.send_bytes(data, now)

    def send_bytes(self, data: bytes, now: float = 0.0) -> list[Message]:
        events = self.session.receive(data, now)
        self.events = events
        reply = self.replica.drive(self.session, events, WALL_MS)
        got = [decode_payload(p) for p in self.frames.feed(reply)]
        self.inbox += got
        return got


def _hello(digest: bytes = b"\x00" * 16, node: bytes = EVIL, version: int = 1) -> Hello:
    return Hello(node, Role.NODE, ALL_STREAMS, digest, version)


def _victim(city: City, **config: object) -> RawPeer:
    replica = city.replicas[1]
    return RawPeer(SyncSession(city.config(1, **config), replica.have(), 0.0), replica)


def test_garbage_message_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    before = set(city.replicas[1].ids)
    peer = _victim(city)
    peer.say(_hello())
    rng = random.Random(5)
    got = peer.send_bytes(b"\x00\x40" + rng.randbytes(64))
    assert peer.session.state is State.FAILED
    assert got == [Bye(ByeReason.PROTOCOL_ERROR, got[0].detail)]  # type: ignore[union-attr]
    assert city.replicas[1].ids == before


def test_oversized_frame_length_rejected_at_once_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city, max_message_bytes=8192)
    peer.send_bytes(struct.pack(">H", 8193))
    assert peer.session.state is State.FAILED


def test_truncated_message_and_silence_time_out_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    for i in range(50):
        city.post(0, f"p{i}")
    puller = city.replicas[1]
    held = set(puller.ids)
    link = MemoryLink(city.replicas[0], puller, city.config(0), city.config(1))
    link.start()
    # run until a RECORDS batch is on its way to the puller, then deliver half of it
    while True:
        chunk = link.inbox[1].popleft()
        if any(isinstance(decode_payload(p), Records) for p in FrameBuffer(65535).feed(chunk)):
            break
        link.deliver(1, chunk, 0.0)
        if link.inbox[0]:
            link.deliver(0, link.inbox[0].popleft(), 0.0)
    link.deliver(1, chunk[: len(chunk) // 2], 1.0)
    assert puller.ids == held and link.sessions[1].state is not State.FAILED
    link.deliver(1, b"", 1.0 + SESSION_IDLE_TIMEOUT_S)
    assert link.sessions[1].state is State.FAILED
    assert puller.ids == held  # nothing of the cut batch
    again = sync_pair(city.replicas[0], puller, city.config(0), city.config(1))
    assert again.b_state is State.DONE and puller.ids == city.replicas[0].ids


def test_peer_lying_in_its_summary_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    claimed = VersionVector(
        {
            (city.authority.public, Stream.ALERTS): 10**6,
            (city.nodes[0].public, Stream.BOARD): 10**6,
            (EVIL, Stream.STATUS): 10**6,
        }
    )
    wants = [m for m in peer.say(Summary(0, True, claimed)) if isinstance(m, Want)]
    assert sum(r.count for w in wants for r in w.ranges) <= 3 * 256  # one batch at most
    # the liar delivers nothing: each key is given up after one empty batch
    rounds = 0
    while wants and rounds < 10:
        rounds += 1
        replies = [Records(w.request, ()) for w in wants]
        wants = [m for m in peer.say(*replies) if isinstance(m, Want)]
    assert rounds == 1
    assert Bye(ByeReason.DONE) in peer.inbox
    assert peer.session.state is State.PULL_DONE


def test_forged_records_from_a_peer_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    real = sign_record(city.nodes[0], 1, 1, PostBody(text="real"))
    forged = bytearray(real.wire)
    forged[-1] ^= 0xFF
    impostor = sign_record(city.nodes[0].__class__(b"\x07" * 32), 1, 1, PostBody(text="x"))
    before = set(city.replicas[1].ids)
    peer = _victim(city)
    peer.say(_hello())
    claimed = VersionVector(
        {(city.nodes[0].public, Stream.BOARD): 1, (impostor.origin, Stream.BOARD): 1}
    )
    wants = [m for m in peer.say(Summary(0, True, claimed)) if isinstance(m, Want)]
    peer.say(Records(wants[0].request, (bytes(forged), impostor.wire)))
    assert city.replicas[1].ids == before
    assert city.replicas[1].tally.by_origin == {city.nodes[0].public: 1, impostor.origin: 1}
    assert Bye(ByeReason.DONE) in peer.inbox  # given up, not retried forever


def test_replayed_records_message_is_ignored_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    for i in range(3):
        city.post(0, f"p{i}")
    log = city.replicas[0].logs[(city.nodes[0].public, Stream.BOARD)]
    peer = _victim(city)
    peer.say(_hello())
    claimed = VersionVector({(city.nodes[0].public, Stream.BOARD): 3})
    wants = [m for m in peer.say(Summary(0, True, claimed)) if isinstance(m, Want)]
    batch = Records(wants[0].request, tuple(r.wire for r in log))
    peer.say(batch)
    for _ in range(1000):
        peer.say(batch)
        assert not any(isinstance(e, RecordsReceived) for e in peer.events)
    assert {r.id for r in log} <= city.replicas[1].ids
    assert peer.session.state is State.PULL_DONE


def test_same_record_1000_times_in_one_message_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    for i in range(2):
        city.post(0, f"p{i}")
    first = city.replicas[0].logs[(city.nodes[0].public, Stream.BOARD)][0]
    peer = _victim(city)
    peer.say(_hello())
    claimed = VersionVector({(city.nodes[0].public, Stream.BOARD): 1000})
    wants = [m for m in peer.say(Summary(0, True, claimed)) if isinstance(m, Want)]
    asked = sum(r.count for r in wants[0].ranges)
    peer.say(Records(wants[0].request, (first.wire,) * asked))
    log = city.replicas[1].logs[(city.nodes[0].public, Stream.BOARD)]
    assert [r.id for r in log] == [first.id]
    # more records than were asked for: the session ends before anything is validated
    peer2 = _victim(city)
    peer2.say(_hello())
    wants = [m for m in peer2.say(Summary(0, True, claimed)) if isinstance(m, Want)]
    peer2.say(Records(wants[0].request, (first.wire,) * (asked + 1)))
    assert peer2.session.state is State.FAILED


def test_peer_exceeding_the_batch_window_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    ranges = (SeqRange(city.authority.public, Stream.CONTROL, 1, 1),)
    peer.say(*(Want(i, ranges) for i in range(1, 5)))
    assert peer.session.state is not State.FAILED
    peer.say(Want(5, ranges))
    assert peer.session.state is State.FAILED


def test_peer_ending_the_session_mid_batch(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    claimed = VersionVector({(city.nodes[0].public, Stream.BOARD): 5})
    peer.say(Summary(0, True, claimed))
    peer.say(Bye(ByeReason.CANCELLED, "power"))
    assert peer.session.state is State.FAILED
    assert peer.events == [SyncFailed(ByeReason.CANCELLED, "power", by_peer=True)]


def test_summary_beyond_the_vector_cap_rejected_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    origins = [i.to_bytes(32, "big") for i in range(MAX_VECTOR_ENTRIES // len(Stream) + 1)]
    heads = {(o, s): 1 for o in origins for s in Stream}
    pages = VersionVector.pages.__get__(_Unchecked(heads))(60000)  # type: ignore[attr-defined]
    for number, page in enumerate(pages):
        peer.say(Summary(number, number == len(pages) - 1, page))
        if peer.session.finished:
            break
    assert peer.session.state is State.FAILED


class _Unchecked(VersionVector):
    """A vector that skips the entry cap, to build an over-cap summary as an attacker would."""

    __slots__ = ()

    def __init__(self, heads: dict[tuple[bytes, Stream], int]) -> None:
        self._heads = heads
        self._digest = None


def test_summary_pages_out_of_order_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    peer.say(Summary(1, True, VersionVector()))
    assert peer.session.state is State.FAILED


def test_peer_with_our_own_key_refused_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello(node=city.nodes[1].public))
    assert peer.session.state is State.FAILED
    assert peer.inbox[-1] == Bye(ByeReason.REFUSED, "the peer uses our own key")


def test_unexpected_peer_refused_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city, expected_peer=city.nodes[0].public)
    peer.say(_hello())
    assert peer.session.state is State.FAILED


def test_other_protocol_version_rejected(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello(version=2))
    assert peer.inbox[-1].reason is ByeReason.INCOMPATIBLE  # type: ignore[union-attr]


def test_different_second_hello_rejected_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    peer.say(_hello())  # a repeat is fine
    assert peer.session.state is State.SYNCING
    peer.say(_hello(digest=b"\x01" * 16))
    assert peer.session.state is State.FAILED


def test_unknown_acks_and_records_are_ignored(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    peer.say(Ack(77, VersionVector()), Records(78, (b"junk",)))
    assert peer.session.state is State.SYNCING


def test_clock_skew_of_ten_years_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=3)
    hub = city.replicas[0]
    ahead = city.replicas[1].write(city.nodes[1], PostBody(text="2036"), WALL_MS + 10 * YEAR_MS)
    behind = city.replicas[2].write(city.nodes[2], PostBody(text="2016"), WALL_MS - 10 * YEAR_MS)
    for index in (1, 2):
        sync_pair(hub, city.replicas[index], city.config(0), city.config(index), wall_ms=WALL_MS)
    sync_pair(hub, city.replicas[1], city.config(0), city.config(1), wall_ms=WALL_MS)
    assert {ahead.id, behind.id} <= hub.ids
    assert hub.ids == city.replicas[1].ids
    # valid records are kept, but nobody's clock is dragged ten years ahead
    assert hub.clock.last >> 16 <= WALL_MS + 1000
    assert city.replicas[2].clock.last >> 16 <= WALL_MS + 1000


def test_revoked_origin_neither_offered_nor_wanted(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=3)
    hub, early, late = city.replicas
    city.post(1, "before revocation")
    sync_pair(hub, early, city.config(0), city.config(1))  # the hub now holds the post
    city.write_as_authority(RevokeBody(node_key=city.nodes[1].public, reason="lost"))
    result = sync_pair(hub, late, city.config(0), city.config(2))
    assert result.b_state is State.DONE
    assert not any(r.origin == city.nodes[1].public for r in late.records())
    again = sync_pair(hub, late, city.config(0), city.config(2))
    assert again.bytes_a_to_b + again.bytes_b_to_a < 200  # converged on hello


def test_wants_for_streams_outside_the_link_get_nothing(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    city.post(1, "board post")
    radio = SessionConfig.radio(city.nodes[1].public)
    replica = city.replicas[1]
    peer = RawPeer(SyncSession(radio, replica.have(), 0.0), replica)
    peer.say(_hello())
    got = peer.say(Want(1, (SeqRange(city.nodes[1].public, Stream.BOARD, 1, 1),)))
    assert got == [Records(1, ())]


def test_memory_stays_bounded_under_a_flood_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    for i in range(3):
        city.post(0, f"p{i}")
    log = city.replicas[0].logs[(city.nodes[0].public, Stream.BOARD)]
    peer = _victim(city)
    peer.say(_hello())
    claimed = VersionVector({(city.nodes[0].public, Stream.BOARD): 10**6})
    wants = [m for m in peer.say(Summary(0, True, claimed)) if isinstance(m, Want)]
    flood = b"".join(
        encode_frame(m)
        for m in (
            Records(wants[0].request, tuple(r.wire for r in log)),
            _hello(),
            Summary(0, True, claimed),
            Ack(99, claimed),
            Records(12345, (log[0].wire,)),
        )
    )
    peer.send_bytes(flood)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            peer.send_bytes(flood)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert peer.session.state is State.SYNCING  # still waiting for our own ACK's effect
    assert grown < 64 * 1024


def test_slow_drip_of_one_huge_frame_is_bounded_attack(city_factory: Callable[..., City]) -> None:
    city = city_factory(size=2)
    peer = _victim(city)
    peer.say(_hello())
    session = peer.session
    session.receive(struct.pack(">H", 65535), 0.0)
    for second in range(1, 30):
        session.receive(b"\x00" * 2000, float(second))
        assert len(session._frames) <= 65535 + 2
    session.receive(b"", 30.0 + SESSION_IDLE_TIMEOUT_S)
    assert session.state is State.FAILED and len(session._frames) == 0


def test_mutated_transcripts_never_crash_attack(city_factory: Callable[..., City]) -> None:
    """Replays of a real session's bytes with random damage: errors are ProtocolErrors."""
    city = city_factory(size=2)
    for i in range(20):
        city.post(0, f"p{i}")
    city.status(0, 9)
    link = MemoryLink(city.replicas[0], city.replicas[1], city.config(0), city.config(1))
    link.start()
    transcript: list[bytes] = []  # what side 1 received
    while link.inbox[0] or link.inbox[1]:
        if link.inbox[1]:
            chunk = link.inbox[1].popleft()
            transcript.append(chunk)
            link.deliver(1, chunk, 0.0)
        if link.inbox[0]:
            link.deliver(0, link.inbox[0].popleft(), 0.0)
    valid = set(city.replicas[0].ids)
    rng = random.Random(11)
    for _ in range(300):
        target = city_factory(size=2).replicas[1]  # fresh, knows only the enrolments
        session = SyncSession(city.config(1), target.have(), 0.0)
        session.send(Start())
        for chunk in transcript:
            data = bytearray(chunk)
            for _ in range(rng.randint(0, 3)):
                action = rng.random()
                if action < 0.5 and data:
                    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
                elif action < 0.75:
                    del data[rng.randrange(len(data) + 1) :]
                else:
                    data[rng.randrange(len(data) + 1) : 0] = rng.randbytes(rng.randint(1, 8))
            target.drive(session, session.receive(bytes(data), 0.0), 0)
        stored = {r.id for r in target.records()}
        enrolments = {r.id for r in city.replicas[0].records() if r.origin == city.authority.public}
        assert stored <= valid | enrolments
