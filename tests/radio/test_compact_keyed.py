"""Origins named by 4-byte prefix in SUMMARY, WANT and ACK items (radio format item 3/4)."""

from __future__ import annotations

import hashlib

from shelterkit.model.kinds import Stream
from shelterkit.radio.compact import ITEM_KEYED, ITEM_KEYED_DEFLATED, BundleCodec
from shelterkit.sync.messages import Ack, Summary, Want, decode_payload, encode_payload
from shelterkit.sync.vector import SeqRange, VersionVector

KEYS = [hashlib.sha256(f"origin {i}".encode()).digest() for i in range(49)]
VECTOR = VersionVector({(k, Stream.STATUS): i + 1 for i, k in enumerate(KEYS)})


def test_summary_want_and_ack_round_trip_with_short_origins() -> None:
    sender, receiver = BundleCodec(lambda: KEYS), BundleCodec(lambda: KEYS)
    for message in (
        Summary(0, True, VECTOR),
        Want(1, (SeqRange(KEYS[3], Stream.STATUS, 1, 4),)),
        Ack(1, VECTOR),
    ):
        payload = encode_payload(message)
        item = sender.encode(payload)
        assert item[0] in (ITEM_KEYED, ITEM_KEYED_DEFLATED)
        assert receiver.decode(item, 8192) == payload
    summary = sender.encode(encode_payload(Summary(0, True, VECTOR)))
    assert len(summary) < len(encode_payload(Summary(0, True, VECTOR))) / 3


def test_unknown_origins_are_left_out_not_guessed() -> None:
    sender, receiver = BundleCodec(lambda: KEYS), BundleCodec(lambda: KEYS[:10])
    item = sender.encode(encode_payload(Summary(0, True, VECTOR)))
    message = decode_payload(receiver.decode(item, 8192))
    assert isinstance(message, Summary)
    assert message.vector.origins() == frozenset(KEYS[:10])


def test_prefix_clash_sends_origins_whole() -> None:
    twin = KEYS[0][:4] + bytes(28)
    vector = VersionVector({(KEYS[0], Stream.STATUS): 1, (twin, Stream.STATUS): 2})
    item = BundleCodec(lambda: [KEYS[0], twin]).encode(encode_payload(Summary(0, True, vector)))
    assert item[0] not in (ITEM_KEYED, ITEM_KEYED_DEFLATED)
    assert BundleCodec().decode(item, 8192) == encode_payload(Summary(0, True, vector))


def test_both_ends_want_number_one_and_records_answer_the_right_one() -> None:
    """Both ends number WANTs from 1; a RECORDS must be read against the WANT it answers."""
    from shelterkit.sync.messages import Records
    from tests.helpers import alert, identity

    city, other = identity("city"), identity("other")
    record = alert(city, 1, 1_800_000_000_000 << 16)
    a, b = BundleCodec(lambda: KEYS), BundleCodec(lambda: KEYS)
    want_a = encode_payload(Want(1, (SeqRange(city.public, Stream.ALERTS, 1, 1),)))
    want_b = encode_payload(
        Want(
            1,
            (
                SeqRange(other.public, Stream.STATUS, 1, 1),
                SeqRange(city.public, Stream.ALERTS, 1, 1),
            ),
        )
    )
    item_a, item_b = a.encode(want_a), b.encode(want_b)  # the two WANTs cross on air
    b.decode(item_a, 8192)
    a.decode(item_b, 8192)
    answer = encode_payload(Records(1, (record.wire,)))
    assert a.decode(b.encode(answer), 8192) == answer
