"""Compact radio forms: exact wires back, one frame for a typical alert, hostile input."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from shelterkit.errors import ProtocolError
from shelterkit.model.kinds import Stream
from shelterkit.model.record import decode_record as decode_wire
from shelterkit.model.trust import TrustPolicy
from shelterkit.radio.compact import (
    BEACON_BYTES,
    Beacon,
    BundleCodec,
    SyncBundle,
    compact_record,
    decode_bundle,
    encode_beacon,
    encode_bundle,
    inflate,
    rebuild_record,
)
from shelterkit.radio.framing import E220_PACKET_BYTES, payload_bytes_for_packet
from shelterkit.radio.zdict import (
    ALERT_DICTIONARY,
    build_dictionary,
    corpus_lines,
    sample_bodies,
)
from shelterkit.sync import EMPTY_VECTOR, accept_batch
from shelterkit.sync.messages import Records, Want, decode_payload, encode_payload
from shelterkit.sync.vector import SeqRange

from .harness import AUTHORITY, NODE, alert_record, mutate, status_record

CORPUS = Path(__file__).parent.parent / "data" / "alerts-ja.txt"
RANGES = (
    SeqRange(AUTHORITY.public, Stream.ALERTS, 1, 16),
    SeqRange(NODE.public, Stream.STATUS, 1, 16),
)
# One E220 packet carries a frame of this much message (framing.py).
ONE_FRAME_BYTES = payload_bytes_for_packet(E220_PACKET_BYTES)


def records_bundle(*wires: bytes) -> tuple[BundleCodec, bytes]:
    """What a responder sends for a WANT of RANGES: the codecs of both ends see the WANT."""
    sender, receiver = BundleCodec(), BundleCodec()
    want = encode_payload(Want(1, RANGES))
    receiver.decode(sender.encode(want), 8192)
    item = receiver.encode(encode_payload(Records(1, wires)))
    return sender, encode_bundle(SyncBundle(7, (item,)))


def test_shipped_dictionary_is_the_one_built_from_the_corpus() -> None:
    texts = corpus_lines(CORPUS.read_text(encoding="utf-8"))
    assert len(texts) >= 60
    assert build_dictionary(sample_bodies(texts)) == ALERT_DICTIONARY


def test_compact_records_rebuild_the_exact_signed_wire() -> None:
    for record in (alert_record(3), status_record(5)):
        compact = compact_record(record.wire, RANGES)
        wire = rebuild_record(compact, RANGES)
        assert wire == record.wire
        assert decode_wire(wire).id == record.id  # the signature still verifies


def test_typical_alert_travels_in_one_frame_with_little_overhead() -> None:
    alert = alert_record()
    _codec, bundle = records_bundle(alert.wire)
    assert len(bundle) <= ONE_FRAME_BYTES  # one 200-byte E220 packet, headers included
    compact = compact_record(alert.wire, RANGES)
    body_alone = len(compact) - 75  # kind, range, seq, hlc (8) and the signature (64)
    assert body_alone < len(alert.wire) - 32 - 64  # the body itself came out smaller
    assert len(compact) - body_alone <= 90


def test_record_outside_the_want_travels_whole() -> None:
    other = status_record(1)
    compact = compact_record(other.wire, RANGES[:1])  # its origin was not asked for
    assert rebuild_record(compact, RANGES[:1]) == other.wire


def test_beacon_round_trip() -> None:
    beacon = Beacon(frozenset({Stream.ALERTS, Stream.STATUS}), bytes(range(8)))
    data = encode_beacon(beacon)
    assert len(data) == BEACON_BYTES == 10
    assert decode_bundle(data) == beacon


def test_decompression_bomb_rejected() -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=ALERT_DICTIONARY)
    bomb = c.compress(b"\x00" * 1_000_000) + c.flush()
    with pytest.raises(ProtocolError):
        inflate(bomb, 6144)


def test_records_for_an_unknown_request_rejected() -> None:
    _codec, bundle = records_bundle(alert_record().wire)
    parsed = decode_bundle(bundle)
    assert isinstance(parsed, SyncBundle)
    with pytest.raises(ProtocolError):
        BundleCodec().decode(parsed.items[0], 8192)  # this codec saw no WANT


def test_malformed_bundles_rejected() -> None:
    for data in (
        b"",
        b"\x52",
        b"\x52\x01\x05ab",
        b"\x52\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x99\x00",
    ):
        with pytest.raises(ProtocolError):
            parsed = decode_bundle(data)
            assert isinstance(parsed, SyncBundle)
            for item in parsed.items:
                BundleCodec().decode(item, 8192)


def test_mutated_compact_records_attack() -> None:
    """100,000 damaged RECORDS bundles through the radio codec and ``accept_batch``:
    no record is accepted unless it is byte for byte the one that was signed."""
    alert, status = alert_record(), status_record()
    originals = {alert.wire, status.wire}
    trust = TrustPolicy(frozenset({AUTHORITY.public}), enrolled={NODE.public: "S07"})
    sender, bundle = records_bundle(alert.wire, status.wire)
    rng = random.Random(2026)
    accepted = decoded = 0
    for _ in range(100_000):
        damaged = mutate(rng, bundle)
        try:
            parsed = decode_bundle(damaged)
            if not isinstance(parsed, SyncBundle):
                continue
            payloads = [sender.decode(item, 8192) for item in parsed.items]
        except ProtocolError:
            continue
        for payload in payloads:
            message = decode_payload(payload, max_bytes=8192)
            if not isinstance(message, Records):
                continue
            decoded += 1
            result = accept_batch(message.records, trust, EMPTY_VECTOR)
            for record in result.accepted:
                assert record.wire in originals
                accepted += 1
    assert decoded > 0 and accepted > 0  # mutations that spared the records still pass


def test_push_round_trip_and_bad_pushes() -> None:
    from shelterkit.radio.compact import BUNDLE_PUSH, Push, decode_bundle, encode_push
    from tests.radio.harness import alert_record, status_record

    wires = (alert_record(1).wire, status_record(3).wire)
    data = encode_push(Push(wires))
    assert data[0] == BUNDLE_PUSH
    assert len(data) < sum(len(w) for w in wires)  # the preset dictionary helps
    assert decode_bundle(data) == Push(wires)
    for bad in (
        bytes([BUNDLE_PUSH]),  # no flags
        bytes([BUNDLE_PUSH, 0x40]) + data[2:],  # unknown flag
        bytes([BUNDLE_PUSH, 0]),  # no record
        bytes([BUNDLE_PUSH, 0, 50]) + b"x" * 10,  # truncated
        data[:-3],  # damaged DEFLATE stream
    ):
        with pytest.raises(ProtocolError):
            decode_bundle(bad)
