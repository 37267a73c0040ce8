from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.kinds import Stream
from shelterkit.sync.limits import MAX_VECTOR_ENTRIES
from shelterkit.sync.vector import (
    EMPTY_VECTOR,
    SYNC_PRIORITY,
    SeqRange,
    VersionVector,
    priority_rank,
)

A, B, C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32

vectors = st.dictionaries(
    st.tuples(st.sampled_from([A, B, C]), st.sampled_from(list(Stream))),
    st.integers(0, 50),
    max_size=18,
).map(VersionVector)


def test_missing_from_gives_the_ranges_the_other_lacks() -> None:
    mine = VersionVector({(A, Stream.BOARD): 10, (B, Stream.ALERTS): 3, (C, Stream.STATUS): 1})
    theirs = VersionVector({(A, Stream.BOARD): 4, (B, Stream.ALERTS): 5})
    assert mine.missing_from(theirs) == [
        SeqRange(C, Stream.STATUS, 1, 1),
        SeqRange(A, Stream.BOARD, 5, 10),
    ]
    assert theirs.missing_from(mine) == [SeqRange(B, Stream.ALERTS, 4, 5)]


def test_control_is_synced_first_then_the_issue_order() -> None:
    assert SYNC_PRIORITY[0] is Stream.CONTROL
    order = sorted([Stream.BOARD, Stream.STATUS, Stream.ANPI, Stream.NOTICES, Stream.ALERTS])
    assert sorted(order, key=priority_rank) == [
        Stream.ALERTS,
        Stream.NOTICES,
        Stream.ANPI,
        Stream.STATUS,
        Stream.BOARD,
    ]
    mine = VersionVector({(A, s): 1 for s in Stream})
    assert [r.stream for r in mine.missing_from(EMPTY_VECTOR)] == list(SYNC_PRIORITY)


def test_encoding_is_compact_canonical_and_round_trips() -> None:
    vector = VersionVector({(A, Stream.BOARD): 300, (A, Stream.ALERTS): 2, (B, Stream.STATUS): 1})
    data = vector.encode()
    assert codec.decode(data) == vector.to_wire()  # canonical: decode re-encodes identically
    assert VersionVector.decode(data, max_bytes=1024) == vector
    assert len(data) < 2 * (32 + 3) + 12  # one key per origin, a few bytes per stream
    assert EMPTY_VECTOR.encode() == b"\xa0"


def test_digest_is_equal_only_for_equal_vectors() -> None:
    one = VersionVector({(A, Stream.BOARD): 3})
    assert one.digest() == VersionVector({(A, Stream.BOARD): 3, (B, Stream.BOARD): 0}).digest()
    assert one.digest() != VersionVector({(A, Stream.BOARD): 4}).digest()
    assert len(one.digest()) == 16


def test_pages_split_by_origin_and_cover_everything() -> None:
    heads = {(bytes([i]) * 32, s): i + 1 for i in range(40) for s in Stream}
    vector = VersionVector(heads)
    pages = vector.pages(500)
    assert len(pages) > 1
    merged = EMPTY_VECTOR
    for page in pages:
        assert len(page.encode()) <= 500
        merged = merged.merge(page)
    assert merged == vector


def test_oversized_vector_rejected() -> None:
    heads = {(i.to_bytes(32, "big"), Stream.BOARD): 1 for i in range(MAX_VECTOR_ENTRIES + 1)}
    with pytest.raises(ProtocolError):
        VersionVector(heads)


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {b"short": {1: 1}},
        {A: {1: 0}},
        {A: {1: -1}},
        {A: {1: True}},
        {A: {}},
        {A: [1, 1]},
        {A: {"1": 1}},
    ],
)
def test_malformed_vector_rejected(raw: object) -> None:
    with pytest.raises(ProtocolError):
        VersionVector.from_wire(raw)


def test_unknown_stream_from_a_newer_peer_is_skipped() -> None:
    assert VersionVector.from_wire({A: {1: 2, 99: 5}}) == VersionVector({(A, Stream.ALERTS): 2})


@given(vectors, vectors)
def test_merge_is_commutative_and_covers_both(x: VersionVector, y: VersionVector) -> None:
    merged = x.merge(y)
    assert merged == y.merge(x)
    assert merged.covers(x) and merged.covers(y)
    assert merged.merge(x) == merged


@given(vectors, vectors)
def test_missing_ranges_bring_the_other_up_to_date(x: VersionVector, y: VersionVector) -> None:
    repaired = dict(y.items())
    for r in x.missing_from(y):
        assert r.first == y.head(r.origin, r.stream) + 1
        repaired[r.key] = r.last
    assert VersionVector(repaired) == x.merge(y)
    assert VersionVector.from_wire(codec.decode(x.encode())) == x
