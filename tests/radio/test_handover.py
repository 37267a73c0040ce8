"""The hand-over table of a radio port (model.handover): its rules, its bound, and that
what it asks to write is exactly what it holds (so a restart from the store resumes it)."""

from __future__ import annotations

import random

from shelterkit.model.handover import (
    MAX_HANDOVER_KEYS,
    Handover,
    HandoverChange,
    HandoverKey,
    HandoverTable,
)
from shelterkit.model.kinds import Stream

OWN = b"\x01" * 32


def key(i: int, stream: Stream = Stream.STATUS) -> HandoverKey:
    return (i.to_bytes(32, "big"), stream)


def apply(db: dict[HandoverKey, Handover], change: HandoverChange) -> None:
    """What ``Store.save_handovers`` does, on a dict."""
    for k in change.drop:
        db.pop(k, None)
    for entry in change.put:
        db[entry.key] = entry


def test_pending_handed_settled() -> None:
    table = HandoverTable(keep=[OWN])
    change = table.mark_pending(key(1), came_from=3)
    assert [(e.handed, e.pending, e.came_from) for e in change.put] == [(0, True, 3)]
    assert not table.mark_pending(key(1), came_from=3)  # nothing new: nothing to write
    assert table.pending() == [key(1)] and table.came_from(key(1)) == 3
    change = table.mark_handed(key(1), 5)
    assert [(e.handed, e.pending) for e in change.put] == [(5, True)]
    assert not table.mark_handed(key(1), 4)  # never backwards
    assert table.settle(key(1)).put[0].pending is False
    assert not table.settle(key(1))
    assert not table.has_pending and table.handed(key(1)) == 5
    table.mark_pending((OWN, Stream.ANPI))
    table.mark_pending(key(2), came_from=4)
    assert len(table.settle_all().put) == 2 and not table.has_pending


def test_a_table_loaded_from_its_entries_is_the_same_table() -> None:
    table = HandoverTable()
    table.mark_pending(key(1), 3)
    table.mark_handed(key(2), 9)
    table.mark_pending(key(2), 4)
    again = HandoverTable(table.entries())
    assert again.entries() == table.entries()
    assert again.pending() == table.pending() == [key(1), key(2)]
    # new changes continue the order where it was
    assert again.mark_handed(key(1), 2).put[0].touched > max(e.touched for e in table.entries())


def test_bound_forgets_settled_keys_first_least_recent_first() -> None:
    table = HandoverTable(keep=[OWN], max_keys=4)
    table.mark_handed((OWN, Stream.STATUS), 7)  # the oldest, but our own: kept
    table.mark_handed(key(1), 1)
    table.mark_pending(key(2), 3)
    table.mark_handed(key(3), 1)
    change = table.mark_pending(key(4), 3)  # a fifth key: key(1) goes (settled, oldest)
    assert change.drop == (key(1),) and change.dropped_pending == 0
    change = table.mark_pending(key(5), 3)  # then key(3), the other settled one
    assert change.drop == (key(3),)
    change = table.mark_pending(key(6), 3)  # only pending keys left: the oldest of them
    assert change.drop == (key(2),) and change.dropped_pending == 1
    assert len(table) == 4 and table.handed((OWN, Stream.STATUS)) == 7


def test_loading_more_than_the_bound_forgets_the_rest() -> None:
    entries = [Handover(key(i)[0], Stream.STATUS, i, False, 0, i) for i in range(1, 11)]
    table = HandoverTable(entries, max_keys=4)
    assert len(table) == 4
    assert sorted(k[0] for k in table.take_evicted().drop) == [key(i)[0] for i in range(1, 7)]
    assert not table.take_evicted()


def test_bound_holds_and_the_store_mirrors_the_table() -> None:
    """Random marks, hand-overs and settles over 3,000 keys: the table never holds more
    than its bound, our own keys are never forgotten, and replaying its changes on an
    empty store gives exactly what it holds."""
    rng = random.Random(11)
    own = [(OWN, Stream.STATUS), (OWN, Stream.ANPI)]
    table = HandoverTable(keep=[OWN], max_keys=64)
    db: dict[HandoverKey, Handover] = {}
    for k in own:
        apply(db, table.mark_pending(k))
    for _ in range(20_000):
        k = rng.choice(own) if rng.random() < 0.05 else key(rng.randrange(3_000))
        op = rng.randrange(3)
        if op == 0:
            apply(db, table.mark_pending(k, rng.randrange(1, 8)))
        elif op == 1:
            apply(db, table.mark_handed(k, rng.randrange(1, 100)))
        else:
            apply(db, table.settle(k))
        assert len(table) <= 64
    assert {e.key: e for e in table.entries()} == db
    assert all(k in db for k in own)
    assert HandoverTable(db.values(), keep=[OWN], max_keys=64).entries() == table.entries()


def test_default_bound_covers_a_city() -> None:
    # two routed streams for each of 48 shelters, city hall and its authority key
    assert MAX_HANDOVER_KEYS >= 2 * 50 * 4


def test_revert_puts_a_key_back_as_it_was() -> None:
    table = HandoverTable()
    db: dict[HandoverKey, Handover] = {}
    apply(db, table.mark_pending(key(1), came_from=3))
    before = table.entry(key(1))
    apply(db, table.mark_pending(key(1), came_from=5))
    apply(db, table.revert(key(1), before))
    assert table.came_from(key(1)) == 3 and table.pending() == [key(1)]
    apply(db, table.mark_pending(key(2), came_from=5))
    apply(db, table.revert(key(2), None))  # it was not held: forgotten again
    assert table.entry(key(2)) is None and table.pending() == [key(1)]
    assert {e.key: e for e in table.entries()} == db
