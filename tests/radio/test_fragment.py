from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelterkit.radio.fragment import (
    Added,
    ReassemblyTable,
    bitmap_from_bytes,
    bitmap_to_bytes,
    split_payload,
)
from shelterkit.radio.framing import MAX_FRAGMENTS

from .harness import alert_record


@given(st.binary(max_size=5000), st.integers(1, 200), st.randoms(use_true_random=False))
def test_reassembly_of_shuffled_duplicated_fragments(
    payload: bytes, size: int, rnd: random.Random
) -> None:
    pieces = split_payload(payload, max(size, len(payload) // MAX_FRAGMENTS + 1))
    order = list(range(len(pieces))) * 2  # every fragment twice
    rnd.shuffle(order)
    table = ReassemblyTable()
    seen: set[int] = set()
    for i in order:  # after completion, duplicates are the ARQ's dedupe cache's business
        fresh = i not in seen
        seen.add(i)
        added, data = table.add((1, 7), i, len(pieces), pieces[i], now=0.0)
        if added is Added.COMPLETE:
            break
        assert added is (Added.NEW if fresh else Added.DUPLICATE)
    assert added is Added.COMPLETE and data == payload
    assert seen == set(range(len(pieces)))
    assert len(table) == 0 and table.held_bytes == 0


def test_alert_record_in_two_fragments() -> None:
    wire = alert_record().wire
    pieces = split_payload(wire, 184)
    assert [len(p) for p in pieces] == [184, len(wire) - 184]


def test_too_many_fragments_rejected() -> None:
    with pytest.raises(ValueError):
        split_payload(bytes(10 * MAX_FRAGMENTS + 1), 10)


@given(st.integers(1, MAX_FRAGMENTS), st.data())
def test_bitmap_round_trip(count: int, data: st.DataObject) -> None:
    bits = data.draw(st.integers(0, (1 << count) - 1))
    encoded = bitmap_to_bytes(bits, count)
    assert len(encoded) == (count + 7) // 8
    assert bitmap_from_bytes(encoded, count) == bits


def test_fragment_count_mismatch_rejected() -> None:
    table = ReassemblyTable()
    assert table.add((1, 1), 0, 3, b"a", 0.0)[0] is Added.NEW
    assert table.add((1, 1), 1, 4, b"b", 0.0)[0] is Added.MISMATCH
    assert table.bitmap((1, 1)) == 0b1


def test_stale_partial_messages_expire() -> None:
    table = ReassemblyTable(timeout_s=60.0)
    table.add((1, 1), 0, 2, b"a", now=0.0)
    assert table.next_expiry() == 60.0
    table.add((2, 1), 0, 2, b"a", now=30.0)
    assert table.expire(59.9) == 0
    assert table.expire(60.0) == 1
    assert len(table) == 1
    assert table.expired == 1


def test_many_partial_messages_attack() -> None:
    """A sender that opens thousands of messages and never finishes one."""
    table = ReassemblyTable(max_messages=16, max_bytes=8192)
    for seq in range(5000):
        table.add((seq % 7, seq), 0, MAX_FRAGMENTS, bytes(184), now=float(seq))
        assert len(table) <= 16
        assert table.held_bytes <= 8192
    assert table.evicted > 4900
    # a legitimate message still gets through afterwards
    assert table.add((9, 9), 0, 2, b"ok", 6000.0)[0] is Added.NEW
    assert table.add((9, 9), 1, 2, b"!", 6000.0) == (Added.COMPLETE, b"ok!")
