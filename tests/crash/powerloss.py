"""Power loss below the process: a SQLite VFS that remembers unsynced writes.

SQLite tests crash recovery with a VFS that buffers the writes made since the last xSync and,
at a simulated crash, writes, drops or corrupts them (src/test6.c, test/crash*.test;
anchors-reliability §2). This is the same idea in Python on ``apsw``:

1. ``RecordingVFS`` passes every call to the real "unix" VFS and logs each xWrite, xTruncate
   and xSync per file, in order.
2. A scripted run drives the real ``Store`` (same pragmas, migrations and SQL, through
   ``Store.on_connection``) over that VFS and notes, after each transaction returns, which
   records were acknowledged and at which point of the log.
3. ``PowerLoss.images`` replays the log: at crash point k, each file is what it was at its
   last xSync before k, plus a random subset of its later writes: some applied, some dropped,
   some torn at a 512-byte boundary, some replaced by garbage, in a random order. (The -shm
   file is left out: SQLite rebuilds the WAL index when the first connection opens.)
4. The checker opens each image with the stdlib ``sqlite3`` (a different SQLite build from
   apsw's) and checks integrity and that every acknowledged record is there.

Writes only ever damage bytes inside their own range, which is the powersafe-overwrite
promise that the unix VFS makes (sqlite.org/psow.html); a card that breaks it is the T15
hardware soak's business, not this test's.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

# Writes smaller than this are never torn: the smallest sector of any disk (and SQLite's
# SQLITE_DEFAULT_SECTOR_SIZE floor in test6.c).
TEAR_UNIT_BYTES = 512


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # "w" write, "t" truncate, "s" sync
    file: str  # "db" or "wal"
    offset: int = 0  # write offset, or truncate size
    data: bytes = b""


@dataclass
class OpLog:
    """Every write, truncate and sync the database made, in order."""

    ops: list[Op] = field(default_factory=list)


class RecordingFile(apsw.VFSFile):  # type: ignore[misc]
    def __init__(self, log: OpLog, tag: str | None, name: Any, flags: list[int]) -> None:
        super().__init__("unix", name, flags)
        self._log = log
        self._tag = tag

    def xWrite(self, data: bytes, offset: int) -> None:
        super().xWrite(data, offset)
        if self._tag is not None:
            self._log.ops.append(Op("w", self._tag, offset, bytes(data)))

    def xTruncate(self, newsize: int) -> None:
        super().xTruncate(newsize)
        if self._tag is not None:
            self._log.ops.append(Op("t", self._tag, newsize))

    def xSync(self, flags: int) -> None:
        super().xSync(flags)
        if self._tag is not None:
            self._log.ops.append(Op("s", self._tag))


class RecordingVFS(apsw.VFS):  # type: ignore[misc]
    def __init__(self, name: str, db_path: Path, log: OpLog) -> None:
        super().__init__(name, "unix")
        self._db = str(db_path)
        self._log = log

    def xOpen(self, name: Any, flags: list[int]) -> RecordingFile:
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        tag = {self._db: "db", self._db + "-wal": "wal"}.get(path) if path else None
        return RecordingFile(self._log, tag, name, flags)


# -- an aiosqlite-shaped face on an apsw connection, so Store runs on it unchanged ----------


def _sqlite_error(exc: apsw.Error) -> sqlite3.Error:
    if isinstance(exc, apsw.FullError):
        return sqlite3.OperationalError("database or disk is full")
    return sqlite3.OperationalError(str(exc))


class AsyncCursor:
    def __init__(self, cursor: apsw.Cursor) -> None:
        self._cursor = cursor

    async def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except apsw.Error as exc:
            raise _sqlite_error(exc) from exc

    async def fetchall(self) -> list[Any]:
        try:
            return list(self._cursor.fetchall())
        except apsw.Error as exc:
            raise _sqlite_error(exc) from exc

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self) -> AsyncCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class AsyncApswConnection:
    """The part of ``aiosqlite.Connection`` that ``Store`` uses, run inline."""

    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        return not self._conn.getautocommit()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> AsyncCursor:
        try:
            return AsyncCursor(self._conn.cursor().execute(sql, tuple(params)))
        except apsw.Error as exc:
            raise _sqlite_error(exc) from exc

    async def executemany(self, sql: str, rows: Any) -> AsyncCursor:
        try:
            return AsyncCursor(self._conn.cursor().executemany(sql, [tuple(r) for r in rows]))
        except apsw.Error as exc:
            raise _sqlite_error(exc) from exc

    async def close(self) -> None:
        self._conn.close()


# -- crash images ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Image:
    """The files as they might be found after power returns at crash point ``k``."""

    k: int
    damage: str
    db: bytes
    wal: bytes | None


def _apply(buf: bytearray, op: Op) -> None:
    if op.kind == "w":
        end = op.offset + len(op.data)
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
        buf[op.offset : end] = op.data
    elif op.kind == "t":
        del buf[op.offset :]


DAMAGES = ("drop_all", "keep_all", "subset", "torn", "garbage")


def _damaged(pending: list[Op], damage: str, rng: random.Random) -> list[Op]:
    """The unsynced writes that reach the medium before power dies, in the order they do."""
    if damage == "drop_all" or not pending:
        return []
    if damage == "keep_all":
        return list(pending)
    chosen = [op for op in pending if rng.random() < 0.5]
    if damage == "subset":
        rng.shuffle(chosen)  # the OS and the card may write back in any order
        return chosen
    out: list[Op] = []
    for op in chosen:
        if op.kind != "w" or len(op.data) <= TEAR_UNIT_BYTES or rng.random() < 0.5:
            out.append(op)
        elif damage == "torn":  # only the first sectors of the write made it
            units = rng.randrange(1, len(op.data) // TEAR_UNIT_BYTES + 1)
            out.append(Op("w", op.file, op.offset, op.data[: units * TEAR_UNIT_BYTES]))
        else:  # a sector of the write holds garbage
            start = rng.randrange(0, len(op.data) // TEAR_UNIT_BYTES) * TEAR_UNIT_BYTES
            junk = rng.randbytes(min(TEAR_UNIT_BYTES, len(op.data) - start))
            out.append(Op("w", op.file, op.offset + start, junk))
    return out


class PowerLoss:
    """Replays an ``OpLog`` into the file images power loss could leave behind."""

    def __init__(self, log: OpLog) -> None:
        self.log = log

    def images(
        self, points: Sequence[int], damages: Sequence[str], rng: random.Random
    ) -> Iterator[Image]:
        """For each crash point k (ops ``[0, k)`` were issued), one image per damage mode."""
        durable: dict[str, bytearray] = {"db": bytearray(), "wal": bytearray()}
        pending: dict[str, list[Op]] = {"db": [], "wal": []}
        exists = {"db": False, "wal": False}
        wanted = sorted(set(points))
        i = 0
        for k in wanted:
            while i < k:
                op = self.log.ops[i]
                exists[op.file] = True
                if op.kind == "s":
                    for p in pending[op.file]:
                        _apply(durable[op.file], p)
                    pending[op.file].clear()
                else:
                    pending[op.file].append(op)
                i += 1
            for damage in damages:
                files: dict[str, bytes] = {}
                for name in ("db", "wal"):
                    buf = bytearray(durable[name])
                    for op in _damaged(pending[name], damage, rng):
                        _apply(buf, op)
                    files[name] = bytes(buf)
                yield Image(k, damage, files["db"], files["wal"] if exists["wal"] else None)


def write_image(image: Image, path: Path) -> None:
    """Lay the image down as a database file (and -wal) at ``path``; no -shm."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(image.db)
    if image.wal is not None:
        path.with_name(path.name + "-wal").write_bytes(image.wal)


__all__ = [
    "DAMAGES",
    "AsyncApswConnection",
    "Image",
    "Op",
    "OpLog",
    "PowerLoss",
    "RecordingVFS",
    "write_image",
]
