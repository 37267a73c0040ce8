"""Power loss at every write and sync of the store: nothing acknowledged is lost, nothing rots.

Three scripted transaction mixes run the real ``Store`` SQL over a recording VFS
(tests/crash/powerloss.py). At every crash point k (every xWrite, xTruncate and xSync the
mix issued) and for each damage mode, the files power loss could leave are rebuilt, opened
with the stdlib ``sqlite3`` and checked:

- ``PRAGMA integrity_check`` is ``ok``;
- every record of a transaction that returned before k is there (``synchronous=FULL``);
- the records present are exactly those of the first j transactions, j being the number
  acknowledged or one more (the one in flight, whole or not at all);
- the version vector agrees with the records held;
- every tenth image is also opened by ``Store.open`` (start-up check included), which
  counts the same records and appends a new one.

Two mixes set the WAL auto-checkpoint low so that they cross many checkpoints, the one moment
a lying sync can corrupt a WAL database (howtocorrupt §3.1); the posts mix keeps Store's
default and only appends to the WAL. ``CRASH_DAMAGES`` (damage modes
per point, default all five) and ``SEED`` scale and replay the run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import apsw
import pytest

from shelterkit.model.anpi import new_person
from shelterkit.model.hlc import HybridClock
from shelterkit.model.kinds import PostBody, PostCategory, StatusBody
from shelterkit.model.record import Record, sign_record
from shelterkit.storage.store import Store
from tests.crash.powerloss import (
    DAMAGES,
    AsyncApswConnection,
    Op,
    OpLog,
    PowerLoss,
    RecordingVFS,
)
from tests.crash.powerloss import write_image as lay_down
from tests.helpers import identity

NODE = identity("S01")
PEER = identity("S02")
CITY = identity("city")
WALL_MS = 1_800_000_000_000
# Pages in the WAL before an automatic checkpoint. SQLite's default is 1000 (sqlite.org/wal.html),
# which Store keeps; the sync and registration mixes use 8 and 32 so they checkpoint often.
DEFAULT_AUTOCHECKPOINT_PAGES = 1000
# Transactions per mix: enough for several checkpoints and > 1,000 crash points in all
# (30 give about 3,000); CRASH_TRANSACTIONS scales it for a nightly run.
MIX_TRANSACTIONS = int(os.environ.get("CRASH_TRANSACTIONS", "30"))
# Every this-many-th image is also started as a Store (the slower, aiosqlite path).
STORE_OPEN_EVERY = 20
MIN_CRASH_POINTS = 1000

SEED = int(os.environ.get("SEED", "20261127"))
DAMAGE_COUNT = int(os.environ.get("CRASH_DAMAGES", str(len(DAMAGES))))


@dataclass(frozen=True, slots=True)
class Txn:
    ack: int  # ops issued when the transaction returned: from then on it must survive
    ids: frozenset[bytes]


@dataclass
class Run:
    log: OpLog
    txns: list[Txn]


Step = Callable[[Store, int], Awaitable[frozenset[bytes]]]


def _text(rng: random.Random, i: int) -> str:
    # Japanese text of varied length, so records span from a few bytes to most of a page.
    return f"#{i} " + "毛布が足りません。" * rng.randrange(1, 50)


def mix_posts(rng: random.Random) -> list[Step]:
    """The board: one post per transaction, as the portal commits them."""
    clock = HybridClock()

    async def step(store: Store, i: int) -> frozenset[bytes]:
        body = PostBody(text=_text(rng, i)[:500], category=PostCategory.NEEDS)
        record = await store.append_own(NODE, body, clock, WALL_MS + i)
        return frozenset({record.id})

    return [step] * MIX_TRANSACTIONS


def mix_sync(rng: random.Random) -> list[Step]:
    """Sync batches from a peer (many records per transaction) between own status records."""
    clock = HybridClock()
    seq = itertools.count(1)

    async def batch(store: Store, i: int) -> frozenset[bytes]:
        records = [
            sign_record(PEER, next(seq), WALL_MS + i, PostBody(text=_text(rng, i)[:500]))
            for _ in range(rng.randrange(1, 12))
        ]
        results = await store.append_records(records, WALL_MS + i)
        return frozenset(r.record.id for r in results if r.stored)

    async def status(store: Store, i: int) -> frozenset[bytes]:
        body = StatusBody(shelter="S01", headcount=i, battery_pct=100 - i % 100)
        record = await store.append_own(NODE, body, clock, WALL_MS + i)
        return frozenset({record.id})

    return [batch if i % 3 else status for i in range(MIX_TRANSACTIONS)]


def mix_registrations(rng: random.Random) -> list[Step]:
    """Safety registrations (indexed in their own tables) mixed with posts and replays."""
    clock = HybridClock()
    replayed: list[Record] = []

    async def register(store: Store, i: int) -> frozenset[bytes]:
        body = new_person(
            person_id=f"p{i:04d}",
            family_name="山田",
            given_name=f"花子{i}",
            reading="やまだ はなこ",
            age=30 + i % 50,
            shelter="S01",
            consent=True,
            authority_key=CITY.public,
        )
        record = await store.append_own(NODE, body, clock, WALL_MS + i)
        replayed.append(record)
        return frozenset({record.id})

    async def post(store: Store, i: int) -> frozenset[bytes]:
        record = await store.append_own(NODE, PostBody(text=_text(rng, i)[:500]), clock, WALL_MS)
        return frozenset({record.id})

    async def replay(store: Store, i: int) -> frozenset[bytes]:
        # a peer sends back what we already hold: idempotent, stores nothing
        results = await store.append_records(replayed[-5:], WALL_MS + i)
        assert not any(r.stored for r in results)
        return frozenset()

    return [(register, post, register, replay)[i % 4] for i in range(MIX_TRANSACTIONS)]


MIXES = {
    "posts": (mix_posts, DEFAULT_AUTOCHECKPOINT_PAGES),
    "sync": (mix_sync, 8),
    "registrations": (mix_registrations, 32),
}


async def record_mix(
    root: Path,
    name: str,
    steps_of: Callable[[random.Random], list[Step]],
    rng: random.Random,
    autocheckpoint: int,
    synchronous: str = "FULL",
) -> Run:
    db = root / f"{name}.sqlite"
    log = OpLog()
    vfs = RecordingVFS(f"powerloss-{name}", db, log)
    try:
        conn = apsw.Connection(str(db), vfs=f"powerloss-{name}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")
        store = await Store.on_connection(AsyncApswConnection(conn), db)  # type: ignore[arg-type]
        conn.execute(f"PRAGMA synchronous = {synchronous}")  # FULL is what Store set
        txns = []
        for i, step in enumerate(steps_of(rng)):
            ids = await step(store, i)
            txns.append(Txn(len(log.ops), ids))
        await store.close()
    finally:
        vfs.unregister()
    return Run(log, txns)


@dataclass
class Tally:
    images: int = 0
    points: int = 0
    store_opens: int = 0
    in_flight_present: int = 0
    lost: int = 0
    corrupt: int = 0
    checkpoints: int = 0
    unborn: int = 0


class LostRecords(AssertionError):
    pass


def first_db_sync(run: Run) -> int:
    return next(i for i, op in enumerate(run.log.ops) if op.kind == "s" and op.file == "db")


def check_image(path: Path, run: Run, k: int, tally: Tally) -> set[bytes] | None:
    """The record ids the image holds, after checking it; None for a database that power
    cut before its first sync ever completed (nothing was acknowledged, the file may hold
    anything: the start-up check must move it aside, which the caller then checks)."""
    conn = sqlite3.connect(path)
    try:
        try:
            integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError:
            if k <= first_db_sync(run):
                tally.unborn += 1
                return None
            tally.corrupt += 1
            raise
        if integrity != ["ok"]:
            tally.corrupt += 1
            raise AssertionError(f"crash point {k}: integrity_check says {integrity}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "records" not in tables:
            present: set[bytes] = set()
        else:
            present = {bytes(r[0]) for r in conn.execute("SELECT id FROM records")}
            # the vector is each (origin, stream)'s contiguous run of seqs from 1
            seqs: dict[tuple[bytes, int], set[int]] = {}
            for origin, stream, seq in conn.execute("SELECT origin, stream, seq FROM records"):
                seqs.setdefault((bytes(origin), stream), set()).add(seq)
            for origin, stream, contiguous in conn.execute("SELECT * FROM vector"):
                held = seqs.get((bytes(origin), stream), set())
                assert all(s in held for s in range(1, contiguous + 1)), k
                assert contiguous + 1 not in held, k
    finally:
        conn.close()
    acked = sum(1 for t in run.txns if t.ack <= k)
    must = set().union(*(t.ids for t in run.txns[:acked]))
    if not must <= present:
        tally.lost += 1
        raise LostRecords(f"crash point {k}: {len(must - present)} acknowledged records lost")
    with_next = must | (run.txns[acked].ids if acked < len(run.txns) else set())
    assert present in (must, with_next), f"crash point {k}: not a prefix of transactions"
    if present != must:
        tally.in_flight_present += 1
    return present


async def test_power_loss_at_every_write_loses_nothing_acknowledged(ram_dir: Path) -> None:
    tmp_path = ram_dir
    rng = random.Random(SEED)
    damages = DAMAGES[:DAMAGE_COUNT]
    tally = Tally()
    started = time.monotonic()
    image_path = tmp_path / "image" / "records.sqlite"
    image_path.parent.mkdir()
    for name, (steps_of, autocheckpoint) in MIXES.items():
        run = await record_mix(tmp_path, name, steps_of, rng, autocheckpoint)
        points = range(len(run.log.ops) + 1)
        tally.points += len(points)
        for image in PowerLoss(run.log).images(points, damages, rng):
            lay_down(image, image_path)
            try:
                present = check_image(image_path, run, image.k, tally)
            except AssertionError:
                print(f"SEED={SEED} mix={name} k={image.k} damage={image.damage}")
                raise
            tally.images += 1
            if present is None or tally.images % STORE_OPEN_EVERY == 0:
                store = await Store.open(image_path, wall_ms=lambda: WALL_MS)
                try:
                    assert (store.quarantined is None) == (present is not None)
                    assert await store.count() == len(present or ())
                    if present is None:
                        assert store.health().state == "holding"
                        store.end_resync_hold()  # as a completed sync round would
                    await store.append_own(NODE, PostBody(text="after"), HybridClock(), WALL_MS)
                    assert await store.integrity_check() == "ok"
                finally:
                    await store.close()
                tally.store_opens += 1
        tally.checkpoints += sum(1 for op in run.log.ops if op.kind == "s" and op.file == "db")
    elapsed = time.monotonic() - started
    print(
        f"power loss: {tally.points} crash points × {len(damages)} damages = {tally.images}"
        f" images ({tally.checkpoints} checkpoints crossed), {tally.store_opens} Store starts,"
        f" in-flight transaction kept {tally.in_flight_present} times, unborn database moved"
        f" aside {tally.unborn} times, 0 lost, 0 corrupt,"
        f" {elapsed:.1f} s (SEED={SEED})"
    )
    assert tally.points >= MIN_CRASH_POINTS
    assert tally.lost == 0 and tally.corrupt == 0


@pytest.mark.parametrize("damage", DAMAGES)
def test_damage_modes_touch_only_unsynced_bytes(damage: str) -> None:
    """The simulator's own rule: synced bytes are never changed by a crash."""
    log = OpLog()
    log.ops += [Op("w", "db", 0, b"A" * 4096), Op("s", "db"), Op("w", "db", 4096, b"B" * 4096)]
    images = list(PowerLoss(log).images([3], [damage], random.Random(1)))
    assert images[0].db[:4096] == b"A" * 4096
    assert 4096 <= len(images[0].db) <= 8192


async def test_normal_sync_may_lose_commits_but_never_corrupts(ram_dir: Path) -> None:
    """The documented variant (WAL + ``synchronous=NORMAL``), and proof the checker bites:
    recent commits can vanish, the database stays consistent (sqlite.org/pragma.html)."""
    rng = random.Random(SEED)
    run = await record_mix(
        ram_dir, "normal", mix_posts, rng, DEFAULT_AUTOCHECKPOINT_PAGES, synchronous="NORMAL"
    )
    tally = Tally()
    image_path = ram_dir / "image.sqlite"
    for image in PowerLoss(run.log).images(range(len(run.log.ops) + 1), ["drop_all"], rng):
        lay_down(image, image_path)
        with contextlib.suppress(LostRecords):
            check_image(image_path, run, image.k, tally)
    assert tally.corrupt == 0
    assert tally.lost > 0  # under FULL the same images lose nothing
