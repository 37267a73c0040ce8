from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelterkit.errors import ProtocolError
from shelterkit.radio.framing import (
    BROADCAST_ID,
    E220_PACKET_BYTES,
    HEADER,
    MAX_ENCODED_FRAME_BYTES,
    MAX_FRAGMENTS,
    MAX_FRAME_BYTES,
    MAX_FRAME_PAYLOAD_BYTES,
    MAX_STATION_ID,
    PROTOCOL_BYTE,
    Deframer,
    Frame,
    FrameType,
    crc32c,
    decode_frame,
    encode_frame,
    encoded_size,
    pack_frame,
    payload_bytes_for_packet,
)

from .harness import alert_record, mutate


@st.composite
def data_frames(draw: st.DrawFn) -> Frame:
    count = draw(st.integers(1, MAX_FRAGMENTS))
    return Frame(
        FrameType.DATA,
        src=draw(st.integers(0, MAX_STATION_ID)),
        dst=draw(st.integers(0, BROADCAST_ID)),
        seq=draw(st.integers(0, 0xFFFF)),
        index=draw(st.integers(0, count - 1)),
        count=count,
        payload=draw(st.binary(max_size=MAX_FRAME_PAYLOAD_BYTES)),
        poll=draw(st.booleans()),
    )


def _with_crc(body: bytes) -> bytes:
    from cobs import cobs

    return bytes(cobs.encode(body + crc32c(body).to_bytes(4, "big"))) + b"\x00"


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # RFC 3720 / catalogue check value


def test_frame_fits_one_e220_packet() -> None:
    size = payload_bytes_for_packet(E220_PACKET_BYTES)
    assert size == 184
    assert encoded_size(size) == E220_PACKET_BYTES
    frame = Frame(FrameType.DATA, 1, 2, 3, 0, 1, bytes(size))
    assert len(encode_frame(frame)) == E220_PACKET_BYTES
    assert MAX_ENCODED_FRAME_BYTES == MAX_FRAME_BYTES + 3


@given(st.lists(data_frames(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_round_trip_in_arbitrary_chunks(frames: list[Frame], rnd: random.Random) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    deframer = Deframer()
    out: list[Frame] = []
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 64)
        out += deframer.feed(stream[i : i + n])
        i += n
    assert out == frames
    assert deframer.buffered_bytes == 0


def test_ack_round_trip() -> None:
    ack = Frame(FrameType.ACK, 7, 9, 500, 0, 10, b"\xff\x02")
    assert Deframer().feed(encode_frame(ack)) == [ack]


def test_realistic_record_fragment_round_trip() -> None:
    wire = alert_record().wire
    frame = Frame(FrameType.DATA, 1, 2, 3, 0, 2, wire[:184], poll=False)
    assert decode_frame(encode_frame(frame)[:-1]).payload == wire[:184]


def test_leading_noise_rejected_then_resync() -> None:
    frame = Frame(FrameType.DATA, 1, 2, 3, 0, 1, b"hello")
    deframer = Deframer()
    assert deframer.feed(b"\x13\x37noise" + b"\x00" + encode_frame(frame)) == [frame]
    assert deframer.counters.corrupt == 1


def test_bit_flip_rejected() -> None:
    frame = Frame(FrameType.DATA, 1, 2, 3, 0, 1, b"shelter status")
    good = encode_frame(frame)
    deframer = Deframer()
    for bit in range(8 * (len(good) - 1)):
        damaged = bytearray(good)
        damaged[bit // 8] ^= 1 << (bit % 8)
        for f in deframer.feed(bytes(damaged)):
            assert (
                f == frame
            )  # a flip that creates a delimiter may leave no frame, never a wrong one
    assert deframer.counters.frames == 0
    assert deframer.feed(good) == [frame]


def test_truncated_frame_rejected() -> None:
    good = encode_frame(Frame(FrameType.DATA, 1, 2, 3, 0, 1, b"payload bytes"))
    deframer = Deframer()
    for cut in range(1, len(good) - 1):
        assert deframer.feed(good[:cut] + b"\x00") == []
    assert deframer.counters.corrupt == len(good) - 2


def test_frame_of_another_protocol_rejected() -> None:
    body = bytearray(pack_frame(Frame(FrameType.DATA, 1, 2, 3, 0, 1, b"x"))[:-4])
    body[0] = PROTOCOL_BYTE + 1  # the next version, or anything else, with a valid CRC
    deframer = Deframer()
    assert deframer.feed(_with_crc(bytes(body))) == []
    assert deframer.counters.foreign == 1
    # Meshtastic's stream API and KISS frames on the same wire (reference §3.3, §3.4)
    assert deframer.feed(b"\x94\xc3\x00\x05hello\x00\xc0\x00abc\xc0\x00") == []
    assert deframer.counters.frames == 0


def test_unknown_type_and_flags_rejected() -> None:
    deframer = Deframer()
    for type_byte in (0x03, 0x0F, 0x41, 0x82 | 0x40):
        body = HEADER.pack(PROTOCOL_BYTE, type_byte, 1, 2, 3, 0, 1)
        assert deframer.feed(_with_crc(body)) == []
    assert deframer.counters.malformed == 4


@pytest.mark.parametrize(
    ("index", "count", "payload"),
    [(0, 0, b""), (1, 1, b""), (0, MAX_FRAGMENTS + 1, b""), (5, 3, b"")],
)
def test_bad_fragment_header_rejected(index: int, count: int, payload: bytes) -> None:
    body = HEADER.pack(PROTOCOL_BYTE, 1, 1, 2, 3, index, count) + payload
    deframer = Deframer()
    assert deframer.feed(_with_crc(body)) == []
    assert deframer.counters.malformed == 1


def test_bad_ack_rejected() -> None:
    deframer = Deframer()
    bad = [
        HEADER.pack(PROTOCOL_BYTE, 2, 1, 2, 3, 0, 9) + b"\xff",  # bitmap too short
        HEADER.pack(PROTOCOL_BYTE, 2, 1, BROADCAST_ID, 3, 0, 1) + b"\x01",  # broadcast ACK
        HEADER.pack(PROTOCOL_BYTE, 0x82, 1, 2, 3, 0, 1) + b"\x01",  # ACK with POLL
    ]
    for body in bad:
        assert deframer.feed(_with_crc(body)) == []
    assert deframer.counters.malformed == len(bad)


def test_invalid_frames_rejected() -> None:
    with pytest.raises(ProtocolError):
        Frame(FrameType.DATA, BROADCAST_ID, 2, 3, 0, 1)
    with pytest.raises(ProtocolError):
        Frame(FrameType.DATA, 1, 2, 3, 0, 1, bytes(MAX_FRAME_PAYLOAD_BYTES + 1))


def test_babbling_transmitter_attack() -> None:
    rng = random.Random(4)
    deframer = Deframer()
    frame = Frame(FrameType.DATA, 1, 2, 3, 0, 1, b"still here")
    noise = bytes(rng.randrange(1, 256) for _ in range(4096))  # no delimiter, ever
    peak = 0
    for _ in range(2_500):  # 10 MB of babble
        assert deframer.feed(noise) == []
        peak = max(peak, deframer.buffered_bytes)
    assert peak <= MAX_ENCODED_FRAME_BYTES
    assert deframer.counters.oversize == 1
    # random bytes with delimiters in them: many short junk frames, all dropped
    junk = bytes(rng.randrange(256) for _ in range(200_000))
    assert deframer.feed(junk) == []
    assert deframer.buffered_bytes <= MAX_ENCODED_FRAME_BYTES
    # the babble stops: the next frame after a delimiter is received
    assert deframer.feed(b"\x00" + encode_frame(frame)) == [frame]


def test_fuzz_mutated_frames_attack() -> None:
    """100,000 mutated frames: none is accepted as anything but its unchanged original."""
    rng = random.Random(20260311)
    wire = alert_record().wire
    originals = [
        Frame(FrameType.DATA, 0x0101, 0x0202, 77, 0, 2, wire[:184], poll=False),
        Frame(FrameType.DATA, 0x0101, 0x0202, 77, 1, 2, wire[184:], poll=True),
        Frame(FrameType.ACK, 0x0202, 0x0101, 77, 0, 2, b"\x03"),
        Frame(FrameType.DATA, 0x0101, BROADCAST_ID, 9, 0, 1, b""),
    ]
    encoded = [encode_frame(f)[:-1] for f in originals]
    deframer = Deframer()
    mutated_total = 0
    accepted_corrupt = 0
    while mutated_total < 100_000:
        k = rng.randrange(len(originals))
        mutated = mutate(rng, encoded[k])
        if mutated == encoded[k]:
            continue
        mutated_total += 1
        for frame in deframer.feed(mutated + b"\x00"):
            if frame != originals[k]:
                accepted_corrupt += 1
    assert accepted_corrupt == 0
    assert deframer.counters.corrupt + deframer.counters.foreign > 99_000
