from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelterkit.errors import LinkError
from shelterkit.radio.arq import (
    Acknowledged,
    ArqConfig,
    ArqEndpoint,
    Delivered,
    LinkEvent,
    SendFailed,
)
from shelterkit.radio.framing import BROADCAST_ID, Deframer, Frame, FrameType, encode_frame

from .harness import alert_record, status_record

A, B, C = 0x0A0A, 0x0B0B, 0x0C0C
Filter = Callable[[Frame], list[Frame]]  # what the channel makes of one frame


def _pass(frame: Frame) -> list[Frame]:
    return [frame]


class Pair:
    """Two endpoints joined by a channel function, on a virtual clock."""

    def __init__(self, channel: Filter = _pass, config: ArqConfig | None = None) -> None:
        self.rng = random.Random(1)
        self.a = ArqEndpoint(A, self.rng, config)
        self.b = ArqEndpoint(B, self.rng, config)
        self.channel = channel
        self.now = 0.0
        self.events: dict[int, list[LinkEvent]] = {A: [], B: []}
        self.sent: list[Frame] = []

    def run(self, until: float = 3600.0, step: float = 0.5) -> None:
        deframers = {A: Deframer(), B: Deframer()}
        while self.now <= until:
            for me, peer in ((self.a, self.b), (self.b, self.a)):
                self.events[me.station_id] += me.tick(self.now)
                while (frame := me.next_frame(self.now)) is not None:
                    self.sent.append(frame)
                    for out in self.channel(frame):
                        for got in deframers[peer.station_id].feed(encode_frame(out)):
                            self.events[peer.station_id] += peer.receive(got, self.now)
            if not (self.a.has_frames(self.now) or self.b.has_frames(self.now)) and (
                self.a.next_wakeup() is None and self.b.next_wakeup() is None
            ):
                return
            self.now += step

    def delivered(self, station: int) -> list[bytes]:
        return [e.payload for e in self.events[station] if isinstance(e, Delivered)]


def test_single_frame_message_delivered_and_acknowledged() -> None:
    pair = Pair()
    seq = pair.a.send(B, status_record().wire, 0.0)
    pair.run()
    assert pair.delivered(B) == [status_record().wire]
    assert pair.events[A] == [Acknowledged(B, seq)]
    assert [f.type for f in pair.sent] == [FrameType.DATA, FrameType.ACK]
    assert pair.sent[0].poll
    assert pair.a.outgoing == 0 and pair.b.reassembling == 0


def test_fragmented_alert_delivered() -> None:
    pair = Pair()
    wire = alert_record().wire
    pair.a.send(B, wire, 0.0)
    pair.run()
    assert pair.delivered(B) == [wire]
    data = [f for f in pair.sent if f.type is FrameType.DATA]
    assert [(f.index, f.count, f.poll) for f in data] == [(0, 2, False), (1, 2, True)]


def test_selective_retransmission_of_lost_fragment() -> None:
    dropped: list[Frame] = []

    def lose_third_once(frame: Frame) -> list[Frame]:
        if frame.type is FrameType.DATA and frame.index == 2 and not dropped:
            dropped.append(frame)
            return []
        return [frame]

    pair = Pair(lose_third_once)
    payload = bytes(range(256)) * 3  # 768 B: 5 fragments of 184 B
    pair.a.send(B, payload, 0.0)
    pair.run()
    assert pair.delivered(B) == [payload]
    data = [(f.index, f.poll) for f in pair.sent if f.type is FrameType.DATA]
    # one burst, a SACK naming fragment 2 missing, then only fragment 2 again
    assert data == [(0, False), (1, False), (2, False), (3, False), (4, True), (2, True)]
    acks = [f for f in pair.sent if f.type is FrameType.ACK]
    assert [a.payload for a in acks] == [b"\x1b", b"\x1f"]
    assert pair.a.counters.retransmissions == 1


def test_lost_poll_frame_retried_after_timeout_with_backoff() -> None:
    lost: list[float] = []
    pair = Pair()

    def lose_first_two_polls(frame: Frame) -> list[Frame]:
        if frame.poll and len(lost) < 2:
            lost.append(pair.now)
            return []
        return [frame]

    pair.channel = lose_first_two_polls
    pair.a.send(B, b"x" * 300, 0.0)
    pair.run(step=0.25)
    assert pair.delivered(B) == [b"x" * 300]
    polls = [i for i, f in enumerate(pair.sent) if f.poll]
    assert len(polls) == 3
    # retries after ~6 s then ~12 s (+ up to 25 % jitter)
    assert 6.0 <= lost[1] - lost[0] <= 7.5 + 0.5


def test_peer_that_never_acknowledges_attack() -> None:
    pair = Pair(lambda f: [f] if f.type is FrameType.ACK else [])
    seq = pair.a.send(B, b"hello?", 0.0)
    times: list[float] = []

    def spy(frame: Frame) -> list[Frame]:
        times.append(pair.now)
        return []

    pair.channel = spy
    pair.run(until=10_000.0, step=0.25)
    cfg = pair.a.config
    assert pair.events[A] == [SendFailed(B, seq, cfg.max_attempts)]
    assert len(times) == cfg.max_attempts
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for i, gap in enumerate(gaps):  # exponential backoff with jitter, capped
        base = min(cfg.ack_timeout_s * 2**i, cfg.max_backoff_s)
        assert base <= gap <= base * (1 + cfg.jitter) + 0.25
    assert pair.a.outgoing == 0  # nothing left behind


def test_duplicated_and_reordered_fragments_delivered_once() -> None:
    rng = random.Random(7)

    def duplicate_and_shuffle(frame: Frame) -> list[Frame]:
        copies = [frame] * rng.randint(1, 3)
        return copies

    pair = Pair(duplicate_and_shuffle)
    wire = alert_record().wire
    # a whole burst delivered in reverse order, twice
    frames = [
        Frame(FrameType.DATA, A, B, 40, i, 3, wire[i * 100 : (i + 1) * 100], poll=i == 2)
        for i in range(3)
    ]
    events: list[LinkEvent] = []
    for frame in [*reversed(frames), *frames, frames[1]]:
        events += pair.b.receive(frame, 0.0)
    assert events == [Delivered(A, 40, wire[:300])]
    assert pair.b.counters.duplicates == 4
    # and through the ARQ with every frame duplicated
    pair.a.send(B, wire, 0.0)
    pair.run()
    assert pair.delivered(B) == [wire]


def test_retransmitted_message_after_lost_ack_not_delivered_twice() -> None:
    acks_lost: list[Frame] = []

    def lose_first_ack(frame: Frame) -> list[Frame]:
        if frame.type is FrameType.ACK and not acks_lost:
            acks_lost.append(frame)
            return []
        return [frame]

    pair = Pair(lose_first_ack)
    seq = pair.a.send(B, b"safety registration", 0.0)
    pair.run()
    assert pair.delivered(B) == [b"safety registration"]
    assert pair.events[A] == [Acknowledged(B, seq)]
    assert pair.b.counters.duplicates == 1


def test_dedupe_cache_flood_attack() -> None:
    config = ArqConfig(dedupe_entries=8)
    b = ArqEndpoint(B, random.Random(0), config)
    for seq in range(100):
        b.receive(Frame(FrameType.DATA, A, B, seq, 0, 1, b"m"), 0.0)
    assert len(b._delivered) == 8
    # a very late duplicate of a forgotten message is delivered again: the sync layer's
    # dedupe by record id is the last line
    assert b.receive(Frame(FrameType.DATA, A, B, 0, 0, 1, b"m"), 1.0) != []
    assert b.receive(Frame(FrameType.DATA, A, B, 99, 0, 1, b"m"), 1.0) == []


def test_alerts_go_first() -> None:
    pair = Pair()
    pair.a.send(B, b"board post " * 60, 0.0, priority=5)
    pair.a.send(B, b"status", 0.0, priority=4)
    pair.a.send(B, b"ALERT", 0.0, priority=1)
    pair.run()
    assert pair.sent[0].payload == b"ALERT"
    assert pair.delivered(B) == [b"ALERT", b"status", b"board post " * 60]


def test_broadcast_is_sent_once_without_acks() -> None:
    rng = random.Random(3)
    a, b, c = ArqEndpoint(A, rng), ArqEndpoint(B, rng), ArqEndpoint(C, rng)
    a.send(BROADCAST_ID, b"hello all" * 40, 0.0)
    frames = []
    while (frame := a.next_frame(0.0)) is not None:
        frames.append(frame)
    assert len(frames) == 2 and not any(f.poll for f in frames)
    for station in (b, c):
        events = [e for f in frames for e in station.receive(f, 0.0)]
        assert events == [Delivered(A, frames[0].seq, b"hello all" * 40)]
        assert not station.has_frames(0.0)
    assert a.outgoing == 0 and a.next_wakeup() is None


def test_frames_for_other_stations_ignored() -> None:
    b = ArqEndpoint(B, random.Random(0))
    assert b.receive(Frame(FrameType.DATA, A, C, 1, 0, 1, b"x", poll=True), 0.0) == []
    assert b.counters.not_for_us == 1 and not b.has_frames(0.0)


def test_stale_and_mismatched_acks_rejected() -> None:
    a = ArqEndpoint(A, random.Random(0))
    seq = a.send(B, b"x" * 400, 0.0)
    assert a.receive(Frame(FrameType.ACK, B, A, (seq + 1) & 0xFFFF, 0, 3, b"\x07"), 0.0) == []
    assert a.receive(Frame(FrameType.ACK, B, A, seq, 0, 5, b"\x1f"), 0.0) == []
    assert a.receive(Frame(FrameType.ACK, C, A, seq, 0, 3, b"\x07"), 0.0) == []  # wrong peer
    assert a.counters.stale_acks == 3 and a.outgoing == 1


def test_queue_limits_rejected() -> None:
    a = ArqEndpoint(A, random.Random(0), ArqConfig(max_outgoing=2))
    a.send(B, b"1", 0.0)
    a.send(B, b"2", 0.0)
    with pytest.raises(LinkError):
        a.send(B, b"3", 0.0)
    with pytest.raises(LinkError):
        ArqEndpoint(A, random.Random(0)).send(B, bytes(184 * 64 + 1), 0.0)
    with pytest.raises(LinkError):
        a.send(A, b"to myself", 0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=1200), min_size=1, max_size=4),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.3),
    st.integers(0, 2**32),
)
def test_lossy_duplicating_reordering_channel(
    payloads: list[bytes], loss: float, dup: float, seed: int
) -> None:
    rng = random.Random(seed)
    held: list[Frame] = []

    def channel(frame: Frame) -> list[Frame]:
        out: list[Frame] = []
        if rng.random() >= loss:
            out.append(frame)
        if rng.random() < dup:
            held.append(frame)  # delivered later, out of order
        if held and rng.random() < 0.3:
            out.append(held.pop(rng.randrange(len(held))))
        return out

    pair = Pair(channel, ArqConfig(max_attempts=40, max_backoff_s=30.0))
    for p in payloads:
        pair.a.send(B, p, 0.0)
    pair.run(until=20_000.0, step=1.0)
    assert sorted(pair.delivered(B)) == sorted(payloads)
    acked = [e for e in pair.events[A] if isinstance(e, Acknowledged)]
    assert len(acked) == len(payloads)


def test_receiver_that_forgot_a_partial_message_gets_it_again() -> None:
    """A SACK is the receiver's whole truth, even when it lost what it had acknowledged."""
    pair = Pair()
    payload = bytes(range(200)) * 3  # 4 fragments
    seq = pair.a.send(B, payload, 0.0)
    frames = [f for f in iter(lambda: pair.a.next_frame(0.0), None)]
    for frame in frames[:2]:
        pair.b.receive(frame, 0.0)
    # the receiver acknowledges fragments 0 and 1, then restarts and forgets them
    pair.a.receive(Frame(FrameType.ACK, B, A, seq, 0, 4, b"\x03"), 0.1)
    pair.b = ArqEndpoint(B, random.Random(9))
    pair.a.receive(Frame(FrameType.ACK, B, A, seq, 0, 4, b"\x00"), 0.2)
    pair.now = 0.2
    pair.run()
    assert pair.delivered(B) == [payload]


def test_inconsistent_retry_settings_rejected() -> None:
    with pytest.raises(ValueError):
        ArqConfig(max_attempts=30, max_backoff_s=600.0)  # outlives the dedupe cache
    with pytest.raises(ValueError):
        ArqConfig(max_attempts=0)
