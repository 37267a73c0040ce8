from __future__ import annotations

import random
import struct

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelterkit.errors import ProtocolError
from shelterkit.model.kinds import Stream
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
    encode_payload,
)
from shelterkit.sync.vector import SeqRange, VersionVector

A = b"\xaa" * 32

SAMPLES: list[Message] = [
    Hello(A, Role.NODE | Role.RELAY, frozenset({Stream.ALERTS, Stream.CONTROL}), b"d" * 16),
    Summary(0, True, VersionVector({(A, Stream.BOARD): 7})),
    Want(3, (SeqRange(A, Stream.BOARD, 1, 5), SeqRange(A, Stream.ALERTS, 2, 2))),
    Records(3, (b"\x01\x02", b"x" * 300)),
    Ack(3, VersionVector({(A, Stream.BOARD): 5})),
    Bye(ByeReason.DONE),
    Bye(ByeReason.TIMEOUT, "no message"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    assert decode_payload(encode_payload(message)) == message
    frame = encode_frame(message)
    assert struct.unpack(">H", frame[:2])[0] == len(frame) - 2


@given(st.lists(st.integers(1, 40), max_size=30))
def test_frames_survive_any_chunking(cuts: list[int]) -> None:
    stream = b"".join(encode_frame(m) for m in SAMPLES)
    buffer = FrameBuffer(65535)
    payloads: list[bytes] = []
    pos = 0
    for cut in cuts:
        payloads += buffer.feed(stream[pos : pos + cut])
        pos += cut
    payloads += buffer.feed(stream[pos:])
    assert [decode_payload(p) for p in payloads] == SAMPLES
    assert len(buffer) == 0


def test_unknown_fields_from_a_newer_peer_are_ignored() -> None:
    raw = cbor2.loads(encode_payload(SAMPLES[1]))
    raw[99] = "future"
    assert decode_payload(cbor2.dumps(raw, canonical=True)) == SAMPLES[1]


def _payload(value: object) -> bytes:
    return cbor2.dumps(value, canonical=True)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff",
        _payload([0, 1]),
        _payload({0: 99}),
        _payload({0: 1, 1: 1, 2: A, 3: 1, 4: 1}),  # HELLO without digest
        _payload({0: 1, 1: 1, 2: b"short", 3: 1, 4: 1, 5: b"d" * 16}),
        _payload({0: 3, 1: 0, 2: []}),  # request ids start at 1
        _payload({0: 3, 1: 1, 2: [[A, 6, 5, 2]]}),  # first > last
        _payload({0: 3, 1: 1, 2: [[A, 6, 1, 2], [A, 6, 3, 4]]}),  # one key twice
        _payload({0: 3, 1: 1, 2: [[A, 6, 1, 2]] * 65}),
        _payload({0: 4, 1: 1, 2: ["text"]}),
        _payload({0: 4, 1: 1, 2: [b"x" * 7000]}),
        _payload({0: 2, 1: 0, 2: 1, 3: {}}),  # last must be a boolean
        _payload({0: 6, 1: 1, 2: "x" * 201}),
        _payload({0: 5, 1: 1, 2: {A: {1: 0}}}),
        _payload({0: 1.5}),
        b"\xa2\x01\x00\x00\x06",  # keys out of canonical order
    ],
)
def test_garbage_message_rejected(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(payload)


def test_random_garbage_rejected() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = rng.randbytes(rng.randint(1, 200))
        try:
            decode_payload(data)
        except ProtocolError:
            continue


def test_oversized_frame_rejected_before_buffering() -> None:
    buffer = FrameBuffer(1000)
    with pytest.raises(ProtocolError):
        list(buffer.feed(struct.pack(">H", 1001)))
    with pytest.raises(ProtocolError):
        list(FrameBuffer(1000).feed(b"\x00\x00"))


def test_a_large_read_is_taken_one_frame_at_a_time() -> None:
    frame = encode_frame(Records(1, (b"x" * 900,)))
    buffer = FrameBuffer(1000)
    frames = buffer.feed(frame * 10_000)  # about 9 MB in one read
    assert decode_payload(next(frames)) == Records(1, (b"x" * 900,))
    assert len(buffer) <= 2 * 1002
