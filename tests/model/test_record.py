from __future__ import annotations

import contextlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelterkit.errors import ProtocolError, TrustError
from shelterkit.model import codec
from shelterkit.model.kinds import Kind, PostBody, PostCategory, Stream
from shelterkit.model.record import MAX_RECORD_BYTES, SIGNING_DOMAIN, decode_record, sign_record
from tests.helpers import alert, identity, post

ALICE = identity("alice")

safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn")),
    min_size=1,
    max_size=200,
).filter(lambda s: s.strip())


@given(
    text=safe_text,
    seq=st.integers(1, 2**40),
    hlc=st.integers(0, 2**62),
    cat=st.sampled_from(PostCategory),
)
def test_round_trip(text: str, seq: int, hlc: int, cat: PostCategory) -> None:
    import unicodedata

    body = PostBody(text=unicodedata.normalize("NFC", text), category=cat)
    record = sign_record(ALICE, seq, hlc, body)
    again = decode_record(record.wire)
    assert again == record
    assert again.id == record.id
    assert again.stream is Stream.BOARD and again.kind is Kind.POST


def test_signature_covers_every_field() -> None:
    record = alert(ALICE, 1, 1000)
    fields = codec.decode(record.wire)
    replacements = {
        0: 2,
        1: identity("mallory").public,
        2: int(Stream.NOTICES),
        3: 2,
        4: 1001,
        5: int(Kind.NOTICE),
        6: {1: "a2", 2: {"ja": "避難指示"}},
    }
    for index, value in replacements.items():
        forged = list(fields)
        forged[index] = value
        with pytest.raises(ProtocolError):
            decode_record(codec.encode(forged))
    # and the signature alone
    forged = list(fields)
    forged[7] = bytes(64)
    with pytest.raises(TrustError):
        decode_record(codec.encode(forged))


def test_signature_is_domain_separated() -> None:
    record = post(ALICE, 1, 5)
    unsigned = codec.encode(codec.decode(record.wire)[:7])
    assert ALICE.sign(SIGNING_DOMAIN + unsigned) == record.sig
    assert ALICE.sign(unsigned) != record.sig


def test_non_canonical_record_rejected() -> None:
    record = alert(ALICE, 1, 5, description={"ja": "説明"})
    fields = codec.decode(record.wire)
    body = fields[6]
    fields[6] = dict(sorted(body.items(), reverse=True))  # same map, keys out of order
    wire = cbor2.dumps(fields)
    assert wire != record.wire
    with pytest.raises(ProtocolError, match="canonical"):
        decode_record(wire)


def test_oversized_record_rejected() -> None:
    with pytest.raises(ProtocolError):
        decode_record(b"\x88" + bytes(MAX_RECORD_BYTES))


def test_text_with_control_characters_rejected() -> None:
    # The dataclass does not validate; the wire decoder must.
    record = sign_record(ALICE, 1, 1, PostBody(text="bell\x07"))
    with pytest.raises(ProtocolError, match="control_chars"):
        decode_record(record.wire)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_garbage_rejected(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):  # anything else escaping is a bug
        decode_record(data)


@settings(max_examples=300)
@given(st.data())
def test_bit_flips_rejected(data: st.DataObject) -> None:
    record = post(ALICE, 3, 77, "壊れていない")
    position = data.draw(st.integers(0, len(record.wire) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(record.wire)
    flipped[position] ^= 1 << bit
    with pytest.raises(ProtocolError):
        decode_record(bytes(flipped))
