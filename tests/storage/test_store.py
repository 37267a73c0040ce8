from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shelterkit.errors import StorageError
from shelterkit.model.hlc import HybridClock
from shelterkit.model.kinds import Kind, PostBody, Stream
from shelterkit.storage.store import Store
from tests.helpers import alert, identity, post

NODE = identity("node")
CITY = identity("city")


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "db.sqlite")
    yield s
    await s.close()


async def test_pragmas_and_migrations(tmp_path: Path, store: Store) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version, name FROM schema_migrations").fetchall()[:2] == [
        (1, "0001_records.sql"),
        (2, "0002_persons.sql"),
    ]
    conn.close()


async def test_append_is_idempotent(store: Store) -> None:
    records = [post(NODE, i, i * 10, f"p{i}") for i in range(1, 4)]
    first = await store.append_records(records, 0)
    again = await store.append_records(records, 0)
    assert [r.stored for r in first] == [True] * 3
    assert [r.stored for r in again] == [False] * 3
    assert await store.count() == 3


async def test_equivocation_detected_and_not_stored(store: Store) -> None:
    await store.append_records([post(NODE, 1, 10, "original")], 0)
    (result,) = await store.append_records([post(NODE, 1, 10, "forked")], 0)
    assert result.conflict and not result.stored
    assert (await store.records_range(NODE.public, Stream.BOARD, 1, 1))[0].body.text == "original"


async def test_vector_counts_only_contiguous(store: Store) -> None:
    await store.append_records([post(NODE, 1, 1), post(NODE, 3, 3), post(NODE, 4, 4)], 0)
    assert (await store.version_vector())[(NODE.public, Stream.BOARD)] == 1
    await store.append_records([post(NODE, 2, 2)], 0)
    assert (await store.version_vector())[(NODE.public, Stream.BOARD)] == 4


async def test_heads_keep_newest_per_entity(store: Store) -> None:
    await store.append_records([alert(CITY, 2, 20, "x", sender_name="new")], 0)
    await store.append_records([alert(CITY, 1, 10, "x", sender_name="old")], 0)
    heads = await store.heads([Kind.ALERT])
    assert [h.body.sender_name for h in heads.values()] == ["new"]


async def test_own_sequence_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    clock = HybridClock()
    s = await Store.open(path)
    r1 = await s.append_own(NODE, PostBody(text="a"), clock, 1000)
    await s.close()
    s = await Store.open(path)
    restarted = HybridClock(await s.get_meta_int("hlc_last"))
    r2 = await s.append_own(NODE, PostBody(text="b"), restarted, 10)  # clock went back
    await s.close()
    assert (r1.seq, r2.seq) == (1, 2)
    assert r2.hlc > r1.hlc


async def test_records_range_is_bounded(store: Store) -> None:
    await store.append_records([post(NODE, i, i) for i in range(1, 30)], 0)
    got = await store.records_range(NODE.public, Stream.BOARD, 5, 100, limit=10)
    assert [r.seq for r in got] == list(range(5, 15))


async def test_rejections_counted_per_origin(store: Store) -> None:
    assert await store.note_rejection(b"o" * 32, "bad signature", 1)
    assert not await store.note_rejection(b"o" * 32, "bad signature", 2)
    assert (await store.rejections())[b"o" * 32] == (2, "bad signature")


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "db.sqlite")
    await s.close()
    await s.close()  # idempotent
    with pytest.raises(StorageError):
        await s.append_records([post(NODE, 1, 1)], 0)


async def test_integrity_check_ok(store: Store) -> None:
    await store.append_records([post(NODE, 1, 1)], 0)
    assert await store.integrity_check() == "ok"


async def test_radio_handover_survives_a_reopen_per_station(tmp_path: Path) -> None:
    from shelterkit.model.handover import HandoverTable

    store = await Store.open(tmp_path / "db.sqlite")
    table = HandoverTable()
    change = table.mark_pending((NODE.public, Stream.STATUS), came_from=3)
    change += table.mark_handed((CITY.public, Stream.ANPI), 12)
    await store.save_handovers(2, change)
    await store.save_handovers(9, HandoverTable().mark_handed((NODE.public, Stream.STATUS), 1))
    await store.close()
    store = await Store.open(tmp_path / "db.sqlite")
    assert await store.handovers(2) == table.entries()
    assert [(h.origin, h.handed) for h in await store.handovers(9)] == [(NODE.public, 1)]
    assert await store.handovers(5) == []
    small = HandoverTable(await store.handovers(2), max_keys=2)
    await store.save_handovers(2, small.mark_pending((NODE.public, Stream.ANPI), 4))
    assert await store.handovers(2) == small.entries()
    assert len(await store.handovers(2)) == 2
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert (6, "0006_radio_handover.sql") in conn.execute(
        "SELECT version, name FROM schema_migrations"
    ).fetchall()
    conn.close()
    await store.close()
