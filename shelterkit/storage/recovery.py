"""Start-up check of the database file, and moving a corrupt one aside (DESIGN §9).

A power cut on an SD card can damage a file that SQLite cannot repair (the card lies about
fsync, or its controller scrambles an erase block: anchors-reliability §1.2). At start the
store runs ``PRAGMA quick_check``; a database that fails it is renamed aside with a UTC
timestamp, never deleted (staff or a developer may want it), and the node starts with an
empty store that sync refills from its peers. Only corruption moves a file: a locked
database or an I/O error is reported, and the file is left where it is.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from shelterkit.errors import StorageError

# SQLite result codes that mean "this file is damaged", not "try again" (sqlite.org/rescode.html).
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
_CORRUPT_CODES = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})
# quick_check stops after this many problems; one is enough to decide (sqlite.org/pragma.html).
QUICK_CHECK_MAX_ERRORS = 10
# Wait this long for a lock another process holds before giving up (as store.BUSY_TIMEOUT_MS).
CHECK_BUSY_TIMEOUT_S = 5.0
# The files SQLite keeps beside a WAL-mode database; all move together, never one alone
# (howtocorrupt §1.3: a -wal separated from its database corrupts it).
COMPANION_SUFFIXES = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A corrupt database that was moved aside at start."""

    original: Path
    moved_to: Path
    reason: str


def quick_check(path: Path) -> str | None:
    """None if ``path`` is absent or passes ``PRAGMA quick_check``; else why it does not.

    Raises StorageError when the check itself cannot run (locked, I/O error): that is not
    evidence of corruption, and the file must not be moved.
    """
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(
            f"file:{path}?mode=rw", uri=True, timeout=CHECK_BUSY_TIMEOUT_S, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc
    # damaged text must not stop the check: it is itself a finding
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        rows = conn.execute(f"PRAGMA quick_check({QUICK_CHECK_MAX_ERRORS})").fetchall()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) in _CORRUPT_CODES:
            return str(exc)
        raise StorageError(f"cannot check {path}: {exc}") from exc
    except UnicodeDecodeError:  # SQLite's own message quotes the damaged schema text
        return "the schema holds damaged text"
    finally:
        conn.close()
    problems = [str(r[0]) for r in rows]
    return None if problems == ["ok"] else "; ".join(problems)


def quarantine(path: Path, wall_ms: int) -> Path:
    """Rename the database and its -wal/-shm aside as ``<name>.corrupt-<UTC time>``."""
    stamp = dt.datetime.fromtimestamp(wall_ms / 1000, tz=dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():  # two quarantines within the same microsecond: keep both
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    # The companions first: a database left without its -wal is still a database, a -wal
    # left without its database would be replayed into the fresh one.
    for suffix in COMPANION_SUFFIXES:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    path.rename(target)
    return target


def check_or_quarantine(path: Path, wall_ms: int) -> Quarantined | None:
    """Run the start-up check; move a corrupt database aside. None if nothing was moved."""
    reason = quick_check(path)
    if reason is None:
        return None
    return Quarantined(path, quarantine(path, wall_ms), reason)


__all__ = ["Quarantined", "check_or_quarantine", "quarantine", "quick_check"]
