"""The node's durable record store: SQLite through aiosqlite (DESIGN §9, STYLE §4).

One connection owns every write, and every write is one ``BEGIN IMMEDIATE … COMMIT``
transaction in WAL mode with ``synchronous=FULL``: when a method returns, the records are
on disk and may be acknowledged to a phone, a peer or the TUI. SQL stays in this module and
returns model objects, never rows.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from shelterkit.errors import ProtocolError, StorageError
from shelterkit.model import codec
from shelterkit.model.anpi import PublicPerson, public_view
from shelterkit.model.fields import body_from_wire, body_to_wire
from shelterkit.model.fold import entity_key
from shelterkit.model.handover import MAX_HANDOVER_KEYS, Handover, HandoverChange
from shelterkit.model.hlc import HybridClock
from shelterkit.model.keys import Identity, short_id
from shelterkit.model.kinds import BODY_TYPES, STREAM_OF, AnyBody, Kind, NoteStatus, Stream
from shelterkit.model.names import NameQuery
from shelterkit.model.record import Record, decode_record, sign_record
from shelterkit.model.redaction import (
    REDACTABLE_KINDS,
    Placeholder,
    Target,
    placeholder_for,
    placeholder_id,
    targets,
)
from shelterkit.storage import anpi as anpi_index
from shelterkit.storage.recovery import Quarantined, check_or_quarantine, quarantine

log = logging.getLogger(__name__)

# SQLite waits this long for a lock held by another process (an operator's sqlite3 shell)
# before giving up; the node itself never contends with itself (one writer).
BUSY_TIMEOUT_MS = 5000
# Rows fetched per query when streaming ranges to a peer: bounds memory per sync batch.
MAX_RANGE_RECORDS = 1000
# Rejection table rows kept: one per origin; old rows are evicted beyond this.
MAX_REJECTION_ORIGINS = 1024
# After a corrupt database was moved aside, the node signs nothing of its own for this long,
# so that sync brings its old records (and sequence numbers) back first: six rounds at the
# default sync_interval_s of 5 s (config.py).
RESYNC_HOLD_MS = 30_000
# Below this much free space on the data partition, health says "low" (staff act before
# writes fail): a day of a busy shelter's records is a few MB (docs/durability.md).
LOW_SPACE_BYTES = 64 * 1024 * 1024
# ``meta`` key: when peers last showed own records above the card's (restored image).
RESTORE_KEY = "restore_detected_ms"
# Own records acknowledged before the first peer contact and not signed yet, at most: a
# busy shelter's posts, registrations and staff actions for far longer than
# ``[node] first_contact_wait_s``.
MAX_PENDING_OWN = 10_000
# Pending records signed per transaction when they are released.
PENDING_BATCH = 200
# Kinds whose records also update the safety-registration index (storage/anpi.py).
_ANPI_KINDS = (Kind.PERSON, Kind.NOTE)


@dataclass(frozen=True, slots=True)
class PendingOwn:
    """An own record acknowledged durably but not signed yet (``Store.queue_own``)."""

    n: int  # order of acknowledgement
    signer: bytes
    body: AnyBody
    wall_ms: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of appending one record: stored now, already present, or conflicting."""

    record: Record
    stored: bool
    conflict: bool = False


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("shelterkit.storage") / "migrations"
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql"):
            out.append((int(name.split("_", 1)[0]), name, entry.read_text("utf-8")))
    return sorted(out)


StorageState = Literal["ok", "full", "failing", "holding"]


@dataclass(frozen=True, slots=True)
class StorageHealth:
    """What staff see about the store (health endpoint, TUI)."""

    state: StorageState  # ok, full (writes refused), failing (other errors), holding (resync)
    free_bytes: int | None  # free space on the data partition, None if unknown
    low_space: bool
    last_error: str | None
    quarantined: str | None  # where a corrupt database was moved at start, if it was
    # When a peer last showed records of this node above what the card held (a card
    # restored from an old image, or a lost database), wall-clock ms; None: never.
    restore_detected_ms: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "free_bytes": self.free_bytes,
            "low_space": self.low_space,
            "last_error": self.last_error,
            "quarantined": self.quarantined,
            "restore_detected_ms": self.restore_detected_ms,
        }


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _is_disk_full(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc).lower()


# SQLite errors that say something about the machine, not about the file's contents.
_NOT_DAMAGE = ("locked", "busy", "disk is full", "readonly", "unable to open", "i/o error")


def _is_damage(exc: BaseException | None) -> bool:
    """An error from the database's contents (what quick_check cannot see), as opposed to
    one from the machine (locks, space, permissions, I/O)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    message = str(exc).lower()
    return not any(text in message for text in _NOT_DAMAGE)


def _translate(exc: Exception) -> StorageError:
    if _is_disk_full(exc):
        return StorageError("disk full: the data partition has no space left")
    if isinstance(exc, sqlite3.DatabaseError) and "malformed" in str(exc).lower():
        return StorageError("database is corrupt")
    return StorageError(f"storage failure: {exc}")


class Store:
    """Durable, idempotent record store. Open with ``await Store.open(path)``."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._wall_ms: Callable[[], int] = _wall_ms
        self._write_failure: tuple[StorageState, str] | None = None
        self._hold_own_until_ms = 0
        self._own_origins: set[bytes] = set()
        self._wiped = False  # a record was redacted in the current transaction
        self.quarantined: Quarantined | None = None
        self.restore_detected_ms: int | None = None

    @classmethod
    async def open(
        cls, path: Path, wall_ms: Callable[[], int] = _wall_ms, *, has_history: bool = False
    ) -> Store:
        """Open (or create) the store at ``path``.

        An existing database is checked first (``quick_check``); a corrupt one is moved
        aside, an empty store is started, and the node's own signing waits
        ``RESYNC_HOLD_MS`` so that sync can bring its records back first. The same hold
        applies to a new database when the caller says the node signed records before
        (``has_history``: its key is older than this database, as on a replaced card).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not await asyncio.to_thread(path.exists)
        quarantined = await asyncio.to_thread(check_or_quarantine, path, wall_ms())
        if quarantined is not None:
            log.error(
                "database %s is corrupt (%s): moved aside to %s; starting empty, records"
                " come back from peers by sync",
                path,
                quarantined.reason,
                quarantined.moved_to.name,
            )
        try:
            store = await cls._connect(path)
        except StorageError as exc:
            if fresh or quarantined is not None or not _is_damage(exc.__cause__):
                raise
            # Damage that quick_check cannot see (a changed value in schema_migrations,
            # a meta row) can make the migrations fail: that is a corrupt database too.
            reason = f"cannot bring the schema up to date: {exc}"
            moved = await asyncio.to_thread(quarantine, path, wall_ms())
            quarantined = Quarantined(path, moved, reason)
            log.error(
                "database %s is corrupt (%s): moved aside to %s; starting empty, records"
                " come back from peers by sync",
                path,
                reason,
                moved.name,
            )
            store = await cls._connect(path)
        store._wall_ms = wall_ms
        if quarantined is not None:
            store.quarantined = quarantined
        if quarantined is not None or (fresh and has_history):
            store._hold_own_until_ms = wall_ms() + RESYNC_HOLD_MS
        return store

    @classmethod
    async def _connect(cls, path: Path) -> Store:
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        try:
            return await cls.on_connection(conn, path)
        except BaseException:
            await conn.close()
            raise

    @classmethod
    async def on_connection(cls, conn: aiosqlite.Connection, path: Path) -> Store:
        """The store on an open connection: WAL, ``synchronous=FULL``, migrations.

        ``open`` uses it; the power-loss simulation (tests/crash) hands it a connection
        through a VFS that loses unsynced writes, so the same settings and SQL are tested.
        """
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = await (await conn.execute("PRAGMA journal_mode = WAL")).fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise StorageError(f"cannot use WAL journal on {path}")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            # A wiped record's bytes are overwritten, not left in free space (redaction,
            # docs/anpi.md); the WAL is truncated after each wipe (``_after_wipe``).
            await conn.execute("PRAGMA secure_delete = ON")
            store = cls(conn, path)
            await store._migrate()
            store._own_origins = _own_keys(
                bytes(row[0]).decode("utf-8", "replace")
                for row in await store._fetchall(
                    "SELECT CAST(key AS BLOB) FROM meta WHERE key LIKE 'own:%'"
                )
            )
            store.restore_detected_ms = await store.get_meta_int(RESTORE_KEY) or None
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        return store

    @property
    def path(self) -> Path:
        return self._path

    async def close(self) -> None:
        """Close the connection; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            await self._conn.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._closed:
            raise StorageError("store is closed")
        async with self._write_lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                state: StorageState = "full" if _is_disk_full(exc) else "failing"
                self._write_failure = (state, str(exc))
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise _translate(exc) from exc
            self._write_failure = None

    async def _migrate(self) -> None:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)"
        )
        done = {row[0] for row in await self._fetchall("SELECT version FROM schema_migrations")}
        for version, name, sql in _migrations():
            if version in done:
                continue
            async with self._transaction() as db:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations"
                    " VALUES (?, ?, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
                    (version, name),
                )

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._closed:
            raise StorageError("store is closed")
        try:
            cursor = await self._conn.execute(sql, params)
            rows = await cursor.fetchall()
            await cursor.close()
            return list(rows)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        except UnicodeDecodeError as exc:  # text damaged on the card, past quick_check
            raise StorageError("database is corrupt: undecodable text") from exc

    # -- writes -------------------------------------------------------------------------

    async def append_records(
        self,
        records: Iterable[Record],
        received_ms: int,
        placeholders: Iterable[Placeholder] = (),
    ) -> list[AppendResult]:
        """Store verified records durably in one transaction. Idempotent by record id.

        A record whose (origin, stream, seq) is already held with different content is an
        equivocation by its signer: it is not stored and is reported as a conflict.

        A record of this node's own key with a sequence number above what the store held
        means the card was restored from an old image (or the database was lost): it is
        stored like any other, so ``append_own`` continues after it and never reuses its
        number; the store says so once per batch.

        ``placeholders`` (validated by ``sync.accept_batch``) fill their slots in the same
        transaction; they are not reported in the results.
        """
        results: list[AppendResult] = []
        returned: dict[bytes, tuple[int, int]] = {}  # own origin → (head before, highest back)
        async with self._transaction() as db:
            for record in records:
                own_head = None
                if record.origin in self._own_origins:
                    own_head = await self._own_head(db, record.origin, int(record.stream))
                result = await self._insert(db, record, received_ms)
                results.append(result)
                if own_head is not None and result.stored and record.seq > own_head:
                    before, _ = returned.get(record.origin, (own_head, 0))
                    returned[record.origin] = (before, record.seq)
            for placeholder in placeholders:
                await self._insert_placeholder(db, placeholder, received_ms)
            if returned:
                await self._note_restore(db, received_ms)
        await self._after_wipe()
        for origin, (before, highest) in returned.items():
            log.warning(
                "a peer holds records of this node (%s) up to at least seq %d, above the %d"
                " on this card (restored from an old image?): continuing after them",
                short_id(origin),
                highest,
                before,
            )
        return results

    async def append_own(
        self, identity: Identity, body: AnyBody, clock: HybridClock, wall_ms: int
    ) -> Record:
        """Sign ``body`` as this node with the next sequence number and store it durably.

        Sequence allocation, signing and the insert happen under the one write lock, so a
        sequence number is never handed out twice; the HLC's new value is persisted in the
        same transaction.
        """
        if self.resync_hold_active:
            raise StorageError("rebuilding from peers after a corrupt database: try again soon")
        async with self._transaction() as db:
            stream = int(_stream_of(body))
            if identity.public not in self._own_origins:
                await db.execute(
                    "INSERT OR IGNORE INTO meta VALUES (?, x'01')",
                    ("own:" + identity.public.hex(),),
                )
            seq = await self._own_head(db, identity.public, stream) + 1
            record = sign_record(identity, seq, clock.now(wall_ms), body)
            await self._insert(db, record, wall_ms)
            await db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('hlc_last', ?)",
                (clock.last.to_bytes(8, "big"),),
            )
        self._own_origins.add(identity.public)
        await self._after_wipe()
        return record

    async def queue_own(self, signer: bytes, body: AnyBody, wall_ms: int) -> PendingOwn:
        """Store ``body`` durably to be signed by ``signer`` later (``sign_pending``): the
        caller may acknowledge it when this returns. Refused beyond ``MAX_PENDING_OWN``."""
        data = codec.encode(body_to_wire(body))
        async with self._transaction() as db:
            cursor = await db.execute("SELECT count(*) FROM pending")
            row = await cursor.fetchone()
            if row is not None and int(row[0]) >= MAX_PENDING_OWN:
                raise StorageError("too many records waiting for a peer: try again soon")
            cursor = await db.execute(
                "INSERT INTO pending (signer, kind, body, wall_ms) VALUES (?, ?, ?, ?)",
                (signer, int(body.KIND), data, wall_ms),
            )
            n = int(cursor.lastrowid or 0)
        return PendingOwn(n, signer, body, wall_ms)

    async def pending_own(self, signer: bytes | None = None) -> list[PendingOwn]:
        """Own records waiting to be signed, oldest first (all signers, or one)."""
        sql = "SELECT n, signer, kind, body, wall_ms FROM pending"
        params: tuple[bytes, ...] = ()
        if signer is not None:
            sql, params = sql + " WHERE signer = ?", (signer,)
        rows = await self._fetchall(sql + " ORDER BY n LIMIT ?", (*params, MAX_PENDING_OWN))
        return [_pending(row) for row in rows]

    async def drop_pending(self, ns: Iterable[int]) -> int:
        """Delete pending records before they are signed (a registration deleted while it
        waited): nothing of them is ever sent. Returns how many were still pending."""
        wanted = sorted(set(ns))
        if not wanted:
            return 0
        async with self._transaction() as db:
            cursor = await db.execute(
                f"DELETE FROM pending WHERE n IN ({', '.join('?' * len(wanted))})", wanted
            )
            return int(cursor.rowcount)

    async def sign_pending(
        self, identity: Identity, clock: HybridClock, wall_ms: int, streams: Iterable[Stream]
    ) -> list[Record]:
        """Sign the pending records of ``identity`` in ``streams``, in the order they were
        acknowledged, each with the next sequence number; each one is deleted from the
        queue in the transaction that stores it signed, so a crash leaves it either pending
        or signed, never both or neither. At most ``PENDING_BATCH`` per call."""
        wanted = {int(s) for s in streams}
        # only the kinds of released streams: rows of a stream still waiting (the board
        # after a radio summary) must not fill the batch and hold the others back
        kinds = sorted(int(k) for k, s in STREAM_OF.items() if int(s) in wanted)
        out: list[Record] = []
        if self.resync_hold_active or not kinds:
            return out
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT n, signer, kind, body, wall_ms FROM pending WHERE signer = ?"
                f" AND kind IN ({', '.join('?' * len(kinds))}) ORDER BY n LIMIT ?",
                (identity.public, *kinds, PENDING_BATCH),
            )
            rows = list(await cursor.fetchall())
            for row in rows:
                item = _pending(row)
                stream = int(_stream_of(item.body))
                seq = await self._own_head(db, identity.public, stream) + 1
                # the time it was acknowledged, unless the clock has passed it since
                record = sign_record(identity, seq, clock.now(item.wall_ms), item.body)
                await self._insert(db, record, wall_ms)
                await db.execute("DELETE FROM pending WHERE n = ?", (item.n,))
                out.append(record)
            if out:
                await db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('hlc_last', ?)",
                    (clock.last.to_bytes(8, "big"),),
                )
        await self._after_wipe()
        return out

    async def _after_wipe(self) -> None:
        """After a transaction that redacted records: checkpoint and truncate the WAL, so
        the old bytes are in neither file (``secure_delete`` zeroes them in the database)."""
        if not self._wiped:
            return
        self._wiped = False
        try:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    @property
    def resync_hold_active(self) -> bool:
        """True while own signing waits for sync after a quarantine (``RESYNC_HOLD_MS``)."""
        if self._hold_own_until_ms and self._wall_ms() >= self._hold_own_until_ms:
            self._hold_own_until_ms = 0
        return self._hold_own_until_ms != 0

    def end_resync_hold(self) -> None:
        """A sync round with a peer completed: own records it held are back, sign again."""
        self._hold_own_until_ms = 0

    async def _own_head(self, db: aiosqlite.Connection, origin: bytes, stream: int) -> int:
        """The highest sequence number ``origin`` may have used in ``stream``: the highest
        stored, or a floor learnt from peers (``raise_seq_floor``), whichever is greater."""
        cursor = await db.execute(
            "SELECT max(seq) FROM records WHERE origin = ? AND stream = ?", (origin, stream)
        )
        row = await cursor.fetchone()
        stored = int(row[0]) if row and row[0] is not None else 0
        return max(
            stored,
            await self._meta_int(db, f"seq_floor:{stream}"),
            await self._meta_int(db, f"seq_floor:{stream}:{origin.hex()}"),
        )

    async def raise_seq_floor(
        self, origin: bytes, stream: Stream, seq: int, now_ms: int | None = None
    ) -> bool:
        """Remember that ``origin`` has used sequence numbers up to ``seq`` in ``stream``
        (a peer's summary says so), so ``append_own`` continues above it. Never lowers it.
        Returns True if the floor moved.

        For one of this node's own keys a moved floor means the card lost records it had
        signed (restored from an old image, or a lost database): that is logged and kept
        for staff (``health().restore_detected_ms``) in the same transaction."""
        key = f"seq_floor:{int(stream)}:{origin.hex()}"
        async with self._transaction() as db:
            before = await self._own_head(db, origin, int(stream))
            if seq <= before:
                return False
            await db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, seq.to_bytes(8, "big"))
            )
            own = origin in self._own_origins
            if own:
                await self._note_restore(db, self._wall_ms() if now_ms is None else now_ms)
        if own:
            log.warning(
                "a peer holds records of this node (%s) up to at least seq %d in stream %d,"
                " above the %d on this card (restored from an old image?): continuing above"
                " them",
                short_id(origin),
                seq,
                int(stream),
                before,
            )
        else:
            log.warning(
                "%s has used seq %d in stream %d elsewhere: continuing above it",
                short_id(origin),
                seq,
                int(stream),
            )
        return True

    async def _note_restore(self, db: aiosqlite.Connection, now_ms: int) -> None:
        await db.execute(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", (RESTORE_KEY, now_ms.to_bytes(8, "big"))
        )
        self.restore_detected_ms = now_ms

    def add_own_origin(self, origin: bytes) -> None:
        """Treat ``origin`` as one of this node's keys before it has signed here (a
        restored card may hold nothing signed by it yet)."""
        self._own_origins.add(origin)

    async def _meta_int(self, db: aiosqlite.Connection, key: str) -> int:
        cursor = await db.execute("SELECT value FROM meta WHERE key = ?", (key,))
        row = await cursor.fetchone()
        return int.from_bytes(row[0], "big") if row else 0

    async def _insert(
        self, db: aiosqlite.Connection, record: Record, received_ms: int
    ) -> AppendResult:
        cursor = await db.execute(
            "SELECT id FROM records WHERE origin = ? AND stream = ? AND seq = ?",
            (record.origin, int(record.stream), record.seq),
        )
        existing = await cursor.fetchone()
        if existing is not None:
            # the same record, or its placeholder once wiped, is no conflict
            held = bytes(existing[0])
            conflict = held not in (record.id, placeholder_id(record.id))
            return AppendResult(record, stored=False, conflict=conflict)
        covering = await self._covering_redaction(db, record)
        if covering is not None:  # redacted before it arrived: only its placeholder is kept
            await self._insert_placeholder(db, covering, received_ms)
            return AppendResult(record, stored=True)
        entity = entity_key(record)
        await db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                record.id,
                record.origin,
                int(record.stream),
                record.seq,
                record.hlc,
                int(record.kind),
                entity,
                record.wire,
                received_ms,
            ),
        )
        cursor = await db.execute(
            "SELECT hlc, origin, record_id, kind FROM heads WHERE entity = ?", (entity,)
        )
        head = await cursor.fetchone()
        superseded: bytes | None = None  # the person record this one makes old, if any
        if head is None or (record.hlc, record.origin) > (int(head[0]), bytes(head[1])):
            await db.execute(
                "INSERT OR REPLACE INTO heads VALUES (?, ?, ?, ?, ?)",
                (entity, int(record.kind), record.hlc, record.origin, record.id),
            )
            if head is not None and int(head[3]) == Kind.PERSON:
                superseded = bytes(head[2])
        elif record.kind is Kind.PERSON:
            superseded = record.id  # an older state arrived late
        if superseded is not None:  # the sweep wipes it (Node.redact_superseded)
            await db.execute(
                "INSERT OR IGNORE INTO person_superseded"
                " SELECT id, origin, stream, seq, entity FROM records WHERE id = ?",
                (superseded,),
            )
        if record.kind in _ANPI_KINDS:
            await anpi_index.index_record(db, record, received_ms)
        if record.kind is Kind.REDACT:
            await self._note_redaction(db, record)
        await self._advance_vector(db, record)
        return AppendResult(record, stored=True)

    # -- redaction (model/redaction.py, docs/anpi.md) ----------------------------------------

    async def _covering_redaction(
        self, db: aiosqlite.Connection, record: Record
    ) -> Placeholder | None:
        """The placeholder of ``record`` if a stored redaction already names it."""
        if record.kind not in REDACTABLE_KINDS:
            return None
        cursor = await db.execute(
            "SELECT r.wire FROM redactions x JOIN records r ON r.id = x.redaction_id"
            " WHERE x.origin = ? AND x.stream = ? AND x.seq = ? AND x.target_id = ? LIMIT 1",
            (record.origin, int(record.stream), record.seq, record.id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is None:
            return None
        target = Target(record.origin, record.stream, record.seq, record.id)
        return placeholder_for(target, record.kind, _load(row[0]))

    async def _note_redaction(self, db: aiosqlite.Connection, redaction: Record) -> None:
        """Remember what ``redaction`` names and wipe what of it is held."""
        for target in targets(redaction):
            await db.execute(
                "INSERT OR IGNORE INTO redactions VALUES (?, ?, ?, ?, ?)",
                (target.origin, int(target.stream), target.seq, target.record_id, redaction.id),
            )
            cursor = await db.execute(
                "SELECT kind FROM records WHERE id = ? AND origin = ? AND stream = ? AND seq = ?"
                " AND redacted = 0",
                (target.record_id, target.origin, int(target.stream), target.seq),
            )
            row = await cursor.fetchone()
            await cursor.close()
            if row is None or Kind(int(row[0])) not in REDACTABLE_KINDS:
                continue  # not held (it will be wiped on arrival), or never redactable
            await self._wipe(db, placeholder_for(target, Kind(int(row[0])), redaction))

    async def _wipe(self, db: aiosqlite.Connection, placeholder: Placeholder) -> None:
        """Replace a held record by its placeholder, and drop it from heads and index."""
        old = placeholder.original_id
        await db.execute("DELETE FROM heads WHERE record_id = ?", (old,))
        await db.execute("DELETE FROM person_superseded WHERE record_id = ?", (old,))
        await db.execute("DELETE FROM person_notes WHERE record_id = ?", (old,))
        await anpi_index.forget_record(db, old)
        await db.execute(
            "UPDATE records SET id = ?, hlc = 0, entity = ?, wire = ?, redacted = 1 WHERE id = ?",
            (placeholder.id, b"X" + placeholder.id, placeholder.wire, old),
        )
        self._wiped = True

    async def _insert_placeholder(
        self, db: aiosqlite.Connection, placeholder: Placeholder, received_ms: int
    ) -> None:
        cursor = await db.execute(
            "SELECT 1 FROM records WHERE origin = ? AND stream = ? AND seq = ?",
            (placeholder.origin, int(placeholder.stream), placeholder.seq),
        )
        held = await cursor.fetchone() is not None
        await cursor.close()
        if held:
            return
        await db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, 1)",
            (
                placeholder.id,
                placeholder.origin,
                int(placeholder.stream),
                placeholder.seq,
                int(placeholder.kind),
                b"X" + placeholder.id,
                placeholder.wire,
                received_ms,
            ),
        )
        await self._advance_vector_key(
            db, placeholder.origin, int(placeholder.stream), placeholder.seq
        )

    async def _advance_vector(self, db: aiosqlite.Connection, record: Record) -> None:
        await self._advance_vector_key(db, record.origin, int(record.stream), record.seq)

    async def _advance_vector_key(
        self, db: aiosqlite.Connection, origin: bytes, stream: int, seq: int
    ) -> None:
        key = (origin, stream)
        cursor = await db.execute(
            "SELECT contiguous FROM vector WHERE origin = ? AND stream = ?", key
        )
        row = await cursor.fetchone()
        head = int(row[0]) if row else 0
        if seq != head + 1:
            return  # a gap: the vector advances when the missing records arrive
        cursor = await db.execute(
            "SELECT seq FROM records WHERE origin = ? AND stream = ? AND seq > ? ORDER BY seq",
            (*key, head),
        )
        async for (seq,) in cursor:
            if seq != head + 1:
                break
            head = seq
        await cursor.close()
        await db.execute("INSERT OR REPLACE INTO vector VALUES (?, ?, ?)", (*key, head))

    async def note_rejection(self, origin: bytes, reason: str, now_ms: int) -> bool:
        """Count a rejected record. Returns True the first time an origin is rejected
        (so the caller logs once per origin)."""
        async with self._transaction() as db:
            cursor = await db.execute("SELECT count FROM rejections WHERE origin = ?", (origin,))
            first = await cursor.fetchone() is None
            await db.execute(
                "INSERT INTO rejections VALUES (?, 1, ?, ?) ON CONFLICT (origin) DO UPDATE"
                " SET count = count + 1, last_reason = excluded.last_reason,"
                " last_ms = excluded.last_ms",
                (origin, reason[:200], now_ms),
            )
            await db.execute(
                "DELETE FROM rejections WHERE origin IN (SELECT origin FROM rejections"
                " ORDER BY last_ms DESC LIMIT -1 OFFSET ?)",
                (MAX_REJECTION_ORIGINS,),
            )
        return first

    async def set_meta_int(self, key: str, value: int) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value.to_bytes(8, "big"))
            )

    async def save_handovers(self, station: int, change: HandoverChange) -> None:
        """Write a change of radio port ``station``'s hand-over state (``model.handover``)
        in one transaction: when this returns, it survives a power loss."""
        if not change:
            return
        async with self._transaction() as db:
            for origin, stream in change.drop:
                await db.execute(
                    "DELETE FROM radio_handover WHERE station = ? AND origin = ? AND stream = ?",
                    (station, origin, int(stream)),
                )
            await db.executemany(
                "INSERT OR REPLACE INTO radio_handover VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        station,
                        e.origin,
                        int(e.stream),
                        e.handed,
                        int(e.pending),
                        e.came_from,
                        e.touched,
                    )
                    for e in change.put
                ],
            )

    # -- reads --------------------------------------------------------------------------

    async def get_meta_int(self, key: str) -> int:
        rows = await self._fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return int.from_bytes(rows[0][0], "big") if rows else 0

    async def count(self) -> int:
        rows = await self._fetchall("SELECT count(*) FROM records")
        return int(rows[0][0])

    async def get(self, record_id: bytes) -> Record | None:
        rows = await self._fetchall(
            "SELECT wire FROM records WHERE id = ? AND redacted = 0", (record_id,)
        )
        return _load(rows[0][0]) if rows else None

    async def heads(self, kinds: Iterable[Kind] | None = None) -> dict[bytes, Record]:
        """Current record of every entity (optionally of some kinds only)."""
        sql = "SELECT h.entity, r.wire FROM heads h JOIN records r ON r.id = h.record_id"
        params: list[int] = []
        if kinds is not None:
            params = [int(k) for k in kinds]
            sql += f" WHERE h.kind IN ({','.join('?' * len(params))})"
        rows = await self._fetchall(sql, params)
        return {bytes(entity): _load(wire) for entity, wire in rows}

    async def version_vector(self) -> dict[tuple[bytes, Stream], int]:
        rows = await self._fetchall("SELECT origin, stream, contiguous FROM vector")
        return {(bytes(o), Stream(s)): int(c) for o, s, c in rows}

    async def records_range(
        self, origin: bytes, stream: Stream, first: int, last: int, limit: int = MAX_RANGE_RECORDS
    ) -> list[Record]:
        """Records of (origin, stream) with ``first <= seq <= last``, in seq order;
        redacted slots are left out (``wires_range`` has them)."""
        rows = await self._fetchall(
            "SELECT wire FROM records WHERE origin = ? AND stream = ? AND seq BETWEEN ? AND ?"
            " AND redacted = 0 ORDER BY seq LIMIT ?",
            (origin, int(stream), first, last, min(limit, MAX_RANGE_RECORDS)),
        )
        return [_load(wire) for (wire,) in rows]

    async def wires_range(
        self, origin: bytes, stream: Stream, first: int, last: int, limit: int = MAX_RANGE_RECORDS
    ) -> list[bytes]:
        """What sync serves for a range: the wire of every slot, a placeholder for a
        redacted one (``model.redaction``), in seq order."""
        rows = await self._fetchall(
            "SELECT wire FROM records WHERE origin = ? AND stream = ? AND seq BETWEEN ? AND ?"
            " ORDER BY seq LIMIT ?",
            (origin, int(stream), first, last, min(limit, MAX_RANGE_RECORDS)),
        )
        return [bytes(wire) for (wire,) in rows]

    async def handovers(self, station: int) -> list[Handover]:
        """Radio port ``station``'s hand-over state, the most recently changed
        ``MAX_HANDOVER_KEYS`` entries, oldest first."""
        rows = await self._fetchall(
            "SELECT origin, stream, handed, pending, came_from, touched FROM radio_handover"
            " WHERE station = ? ORDER BY touched DESC LIMIT ?",
            (station, MAX_HANDOVER_KEYS),
        )
        out = []
        for origin, stream, handed, pending, came_from, touched in reversed(rows):
            try:
                kind = Stream(int(stream))
            except ValueError:  # damaged on the card: forget that key (records are kept)
                continue
            out.append(
                Handover(
                    bytes(origin), kind, int(handed), bool(pending), int(came_from), int(touched)
                )
            )
        return out

    async def rejections(self) -> dict[bytes, tuple[int, str]]:
        rows = await self._fetchall("SELECT origin, count, last_reason FROM rejections")
        return {bytes(o): (int(c), str(r)) for o, c, r in rows}

    async def search_persons(self, query: NameQuery, limit: int, now_ms: int) -> list[PublicPerson]:
        """Listed people matching ``query``: consented, not deleted, not expired at
        ``now_ms``; newest first, at most ``limit`` (capped), permitted fields only."""
        limit = min(limit, anpi_index.MAX_SEARCH_RESULTS)
        out: dict[str, PublicPerson] = {}
        # Whole name parts first (an index range that stops early), then prefixes, then
        # every word separately; each step only while the page is not full.
        for step in (anpi_index.exact_sql, anpi_index.search_sql, anpi_index.words_sql):
            if len(out) >= limit:
                break
            sql = step(query, limit, now_ms)
            if sql is None:
                continue
            for wire, status in await self._fetch_once(*sql):
                view = public_view(_load(wire), NoteStatus(int(status)))
                if view is not None and len(out) < limit:
                    out.setdefault(view.person_id, view)
        return list(out.values())

    async def _fetch_once(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """``_fetchall`` in one trip to the database thread: a search on a busy node
        waits for that thread once, not three times (docs/benchmarks.md, Anpi search)."""
        if self._closed:
            raise StorageError("store is closed")
        try:
            return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    async def get_person(self, person_id: str) -> Record | None:
        """The current record of a person, listed or not (for deletion and staff)."""
        rows = await self._fetchall(anpi_index.PERSON_SQL, (person_id,))
        return _load(rows[0][0]) if rows else None

    async def superseded_persons(
        self, origin: bytes | None, limit: int, person_id: str | None = None
    ) -> list[Target]:
        """Person records replaced by a newer one of the same person and not yet wiped,
        of ``origin`` (None: of any origin) and ``person_id`` (None: anyone), at most
        ``limit`` (capped)."""
        entity = None if person_id is None else b"P" + person_id.encode()
        rows = await self._fetchall(
            anpi_index.SUPERSEDED_SQL,
            (origin, origin, entity, entity, min(limit, MAX_RANGE_RECORDS)),
        )
        return [Target(bytes(o), Stream(s), int(q), bytes(i)) for o, s, q, i in rows]

    async def notes_of_deleted(
        self, origin: bytes | None, limit: int, person_id: str | None = None
    ) -> list[Target]:
        """Notes about deleted people, not yet wiped, of ``origin`` (None: any) and
        ``person_id`` (None: anyone), at most ``limit`` (capped)."""
        rows = await self._fetchall(
            anpi_index.DELETED_NOTES_SQL,
            (origin, origin, person_id, person_id, min(limit, MAX_RANGE_RECORDS)),
        )
        return [Target(bytes(o), Stream(s), int(q), bytes(i)) for o, s, q, i in rows]

    async def expired_persons(self, now_ms: int, origin: bytes | None, limit: int) -> list[Record]:
        """Current records of people expired at ``now_ms`` and not deleted, whose current
        record is of ``origin`` (None: any), at most ``limit`` (capped)."""
        rows = await self._fetchall(
            anpi_index.EXPIRED_SQL, (now_ms, origin, origin, min(limit, MAX_RANGE_RECORDS))
        )
        return [_load(wire) for (wire,) in rows]

    async def anpi_received_ms(self) -> int | None:
        """When this node last stored a safety registration (how fresh searches are)."""
        rows = await self._fetchall(anpi_index.FRESHNESS_SQL)
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def health(self) -> StorageHealth:
        """The store's state for staff: free space, refused writes, quarantine, resync."""
        try:
            free: int | None = shutil.disk_usage(self._path.parent).free
        except OSError:
            free = None
        state: StorageState = "ok"
        error = None
        if self._write_failure is not None:
            state, error = self._write_failure
        elif self.resync_hold_active:
            state = "holding"
        return StorageHealth(
            state=state,
            free_bytes=free,
            low_space=free is not None and free < LOW_SPACE_BYTES,
            last_error=error,
            quarantined=str(self.quarantined.moved_to) if self.quarantined else None,
            restore_detected_ms=self.restore_detected_ms,
        )

    async def integrity_check(self) -> str:
        rows = await self._fetchall("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)


def _own_keys(meta_keys: Iterable[str]) -> set[bytes]:
    """This node's keys from ``own:<hex>`` meta rows; a row damaged on the card (past
    ``quick_check``) is skipped with a warning rather than stopping the start."""
    out: set[bytes] = set()
    for meta_key in meta_keys:
        try:
            key = bytes.fromhex(meta_key[len("own:") :])
        except ValueError:
            key = b""
        if len(key) != 32:
            log.warning("ignoring a damaged own-key entry in the database: %r", meta_key[:80])
            continue
        out.add(key)
    return out


def _stream_of(body: AnyBody) -> Stream:
    return STREAM_OF[body.KIND]


def _pending(row: Sequence[Any]) -> PendingOwn:
    n, signer, kind, data, wall_ms = row
    try:
        body_type = BODY_TYPES[Kind(int(kind))]
        body = body_from_wire(body_type, codec.decode(bytes(data)))
    except (ValueError, KeyError, ProtocolError) as exc:
        raise StorageError(f"pending record {n} does not decode: {exc}") from exc
    return PendingOwn(int(n), bytes(signer), body, int(wall_ms))


def _load(wire: bytes) -> Record:
    try:
        return decode_record(bytes(wire), verify_signature=False)
    except ProtocolError as exc:
        raise StorageError(f"stored record does not decode: {exc}") from exc


__all__ = ["AppendResult", "PendingOwn", "StorageHealth", "Store"]
