"""I/O errors and a full disk at every write and sync of a transaction (anchors T3).

SQLite's own anomaly tests make the n-th I/O operation fail, once or for ever after, and
advance n until the operation completes (sqlite.org/testing.html §3.2). Here the VFS of
tests/crash/powerloss.py raises SQLITE_IOERR or SQLITE_FULL at the n-th xWrite/xSync/
xTruncate of the real ``Store`` while it runs one of three handlers (a board post, a sync
batch, a safety registration), with SQLite's default WAL auto-checkpoint (1000 pages, so
faults hit commits) and with one every 4 pages (so they hit checkpoints too). For every n,
mode and error:

- a call that raised ``StorageError`` was never acknowledged, one that returned was;
- while the fault lasts the store keeps answering reads;
- once the fault clears, the same connection writes again (no restart), every acknowledged
  record is there, and ``PRAGMA integrity_check`` is ``ok``, on the live connection and in
  the file reopened by the stdlib ``sqlite3`` after closing.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import pytest

from shelterkit.errors import StorageError
from shelterkit.model.anpi import new_person
from shelterkit.model.hlc import HybridClock
from shelterkit.model.kinds import PostBody
from shelterkit.model.record import sign_record
from shelterkit.storage.store import Store
from tests.crash.powerloss import AsyncApswConnection
from tests.helpers import identity

NODE = identity("S01")
PEER = identity("S02")
CITY = identity("city")
WALL_MS = 1_800_000_000_000
# Calls of the handler while the fault is armed: the failing one and the ones after it.
CALLS_PER_FAULT = 3
# Larger than any handler's I/O operations, so the last n lets every call complete.
MAX_FAULT_OP = 40


@dataclass
class Faults:
    at: int = 0  # fail the at-th operation from arming (0: disarmed)
    forever: bool = False
    error: type[apsw.Error] = apsw.IOError
    count: int = 0
    fired: int = 0

    def arm(self, at: int, forever: bool, error: type[apsw.Error]) -> None:
        self.at, self.forever, self.error, self.count = at, forever, error, 0

    def check(self) -> None:
        if not self.at:
            return
        self.count += 1
        if self.count == self.at or (self.forever and self.count > self.at):
            self.fired += 1
            raise self.error("injected")


class FaultyFile(apsw.VFSFile):  # type: ignore[misc]
    def __init__(self, faults: Faults, name: Any, flags: list[int]) -> None:
        super().__init__("unix", name, flags)
        self._faults = faults

    def xWrite(self, data: bytes, offset: int) -> None:
        self._faults.check()
        super().xWrite(data, offset)

    def xSync(self, flags: int) -> None:
        self._faults.check()
        super().xSync(flags)

    def xTruncate(self, newsize: int) -> None:
        self._faults.check()
        super().xTruncate(newsize)


class FaultyVFS(apsw.VFS):  # type: ignore[misc]
    def __init__(self, name: str, faults: Faults) -> None:
        super().__init__(name, "unix")
        self._faults = faults

    def xOpen(self, name: Any, flags: list[int]) -> FaultyFile:
        return FaultyFile(self._faults, name, flags)


Handler = Callable[[Store, int], Awaitable[set[bytes]]]
_seq = itertools.count(1)


async def post(store: Store, i: int) -> set[bytes]:
    record = await store.append_own(NODE, PostBody(text=f"post {i}"), HybridClock(), WALL_MS + i)
    return {record.id}


async def sync_batch(store: Store, i: int) -> set[bytes]:
    records = [sign_record(PEER, next(_seq), WALL_MS + i, PostBody(text="x")) for _ in range(6)]
    return {r.record.id for r in await store.append_records(records, WALL_MS + i) if r.stored}


async def register(store: Store, i: int) -> set[bytes]:
    body = new_person(
        person_id=f"p{i:05d}",
        family_name="山田",
        given_name="花子",
        reading="やまだ はなこ",
        shelter="S01",
        consent=True,
        authority_key=CITY.public,
    )
    record = await store.append_own(NODE, body, HybridClock(), WALL_MS + i)
    return {record.id}


HANDLERS = {"post": post, "sync": sync_batch, "register": register}
ERRORS = {"ioerr": apsw.IOError, "full": apsw.FullError}


@pytest.mark.parametrize("checkpoint_pages", [1000, 4], ids=["wal", "checkpoints"])
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("forever", [False, True], ids=["once", "forever"])
@pytest.mark.parametrize("handler", HANDLERS)
async def test_io_fault_at_every_operation(
    ram_dir: Path, handler: str, forever: bool, error: str, checkpoint_pages: int
) -> None:
    tmp_path = ram_dir
    faults = Faults()
    name = f"faulty-{handler}-{forever}-{error}-{checkpoint_pages}"
    vfs = FaultyVFS(name, faults)
    db = tmp_path / "records.sqlite"
    acked: set[bytes] = set()
    refused = 0
    i = 0
    try:
        conn = apsw.Connection(str(db), vfs=name)
        conn.execute(f"PRAGMA wal_autocheckpoint = {checkpoint_pages}")
        store = await Store.on_connection(AsyncApswConnection(conn), db)  # type: ignore[arg-type]
        for n in range(1, MAX_FAULT_OP + 1):
            faults.arm(n, forever, ERRORS[error])
            for _ in range(CALLS_PER_FAULT):
                i += 1
                try:
                    acked |= await HANDLERS[handler](store, i)
                except StorageError as exc:
                    refused += 1
                    if error == "full":
                        assert "disk full" in str(exc)
                    assert store.health().state in ("full", "failing")
                await store.count()  # reads keep working during the fault
            faults.arm(0, False, apsw.IOError)
            i += 1
            acked |= await HANDLERS[handler](store, i)  # cleared: writes again, no restart
            assert store.health().state == "ok"
            held = await store.count()
            assert held >= len(acked)
        assert await store.integrity_check() == "ok"
        for record_id in acked:
            assert await store.get(record_id) is not None
        await store.close()
    finally:
        vfs.unregister()
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        present = {bytes(r[0]) for r in check.execute("SELECT id FROM records")}
    check.close()
    assert acked <= present
    assert faults.fired > 0 and refused > 0
    mode = "forever" if forever else "once"
    print(
        f"{handler}/{error}/{mode}: {MAX_FAULT_OP} fault points, {faults.fired} faults,"
        f" {refused} refused, {len(acked)} acknowledged, 0 lost"
    )
