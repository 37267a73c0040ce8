"""The safety-registration index: SQL behind ``Store.search_persons`` (issue 8).

``index_record`` runs inside the store's write transaction for every PERSON or NOTE record
it stores, so the index never disagrees with the records. Only listed people (consented,
not deleted) have search terms; expiry is checked when searching, against the time the
caller passes. Lookups are B-tree ranges on ``person_terms`` (a prefix of a folded name is
a range of keys), which keeps a search to a few milliseconds with 100,000 people
(docs/benchmarks.md, "Anpi search").
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from shelterkit.model.anpi import effective_expiry_ms
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import NoteBody, PersonBody
from shelterkit.model.names import PREFIX_MIN_CHARS, NameQuery, search_terms
from shelterkit.model.record import Record

# Results one search may return, whatever the caller asks: a page of names, not a list
# of the registry (anti-scraping, issue 8).
MAX_SEARCH_RESULTS = 20
# Upper bound of a prefix range: U+10FFFF sorts after every other code point in UTF-8.
_TOP = "\U0010ffff"
_KEY_SEPARATOR = "\x1f"


async def index_record(db: aiosqlite.Connection, record: Record, received_ms: int) -> None:
    """Keep ``persons``, ``person_terms`` and ``person_status`` in step with ``record``."""
    body = record.body
    if isinstance(body, PersonBody):
        await _index_person(db, record, body, received_ms)
    elif isinstance(body, NoteBody):
        await _index_note(db, record, body)


async def _is_newer(db: aiosqlite.Connection, table: str, person_id: str, record: Record) -> bool:
    cursor = await db.execute(
        f"SELECT hlc, origin FROM {table} WHERE person_id = ?",  # table: a constant below
        (person_id,),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return row is None or (record.hlc, record.origin) > (int(row[0]), bytes(row[1]))


async def _index_person(
    db: aiosqlite.Connection, record: Record, body: PersonBody, received_ms: int
) -> None:
    if not await _is_newer(db, "persons", body.person_id, record):
        return  # an older state arrived late: the head stays
    listed = body.public and not body.deleted
    terms = (
        search_terms(body.full_name, body.family_name, body.given_name, body.alternate_names)
        if listed
        else ()
    )
    await db.execute(
        "INSERT OR REPLACE INTO persons VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            body.person_id,
            record.id,
            record.hlc,
            record.origin,
            int(body.public),
            int(body.deleted),
            effective_expiry_ms(record),
            body.shelter,
            wall_ms_of(record.hlc),
            received_ms,
            _KEY_SEPARATOR.join(terms),
        ),
    )
    await db.execute("DELETE FROM person_terms WHERE person_id = ?", (body.person_id,))
    if terms:
        expiry, updated = effective_expiry_ms(record), wall_ms_of(record.hlc)
        await db.executemany(
            "INSERT OR IGNORE INTO person_terms VALUES (?, ?, ?, ?, ?)",
            [(term, body.person_id, updated, expiry, record.id) for term in terms],
        )


async def _index_note(db: aiosqlite.Connection, record: Record, body: NoteBody) -> None:
    await db.execute(
        "INSERT OR IGNORE INTO person_notes VALUES (?, ?, ?, ?, ?)",
        (record.id, body.person_id, record.origin, int(record.stream), record.seq),
    )
    if not await _is_newer(db, "person_status", body.person_id, record):
        return
    await db.execute(
        "INSERT OR REPLACE INTO person_status VALUES (?, ?, ?, ?)",
        (body.person_id, record.hlc, record.origin, int(body.status)),
    )


async def forget_record(db: aiosqlite.Connection, record_id: bytes) -> None:
    """A person's current record was wiped (redaction): the person leaves the index."""
    cursor = await db.execute("SELECT person_id FROM persons WHERE record_id = ?", (record_id,))
    rows = list(await cursor.fetchall())
    await cursor.close()
    for (person_id,) in rows:
        await db.execute("DELETE FROM person_terms WHERE person_id = ?", (person_id,))
        await db.execute("DELETE FROM persons WHERE person_id = ?", (person_id,))


def _term_condition(key: str, prefix: bool) -> tuple[str, list[Any]]:
    if prefix:
        return "term >= ? AND term < ?", [key, key + _TOP]
    return "term = ?", [key]


def exact_sql(query: NameQuery, limit: int, now_ms: int) -> tuple[str, list[Any]]:
    """The listed, unexpired people one of whose terms is the whole query (spaces removed),
    newest first: an ordered index range that stops after ``limit`` rows."""
    sql = (
        "SELECT r.wire, coalesce(s.status, 0) FROM ("
        " SELECT person_id, record_id, updated_ms FROM person_terms"
        " WHERE term = ? AND expiry_ms > ? ORDER BY updated_ms DESC LIMIT ?"
        ") AS top JOIN records r ON r.id = top.record_id"
        " LEFT JOIN person_status s ON s.person_id = top.person_id"
        " ORDER BY top.updated_ms DESC"
    )
    return sql, [query.whole, now_ms, _cap(limit)]


def search_sql(query: NameQuery, limit: int, now_ms: int) -> tuple[str, list[Any]] | None:
    """The people one of whose terms begins with the whole query, newest first, for a
    query long enough to match as a prefix (``たかは``); None otherwise."""
    if not query.prefix:
        return None
    where, params = _term_condition(query.whole, prefix=True)
    sql = (
        "SELECT r.wire, coalesce(s.status, 0) FROM ("
        " SELECT person_id, record_id, max(updated_ms) AS updated FROM person_terms"
        f" WHERE {where} AND expiry_ms > ?"
        " GROUP BY person_id ORDER BY updated DESC LIMIT ?"
        ") AS top JOIN records r ON r.id = top.record_id"
        " LEFT JOIN person_status s ON s.person_id = top.person_id"
        " ORDER BY top.updated DESC"
    )
    return sql, [*params, now_ms, _cap(limit)]


def words_sql(query: NameQuery, limit: int, now_ms: int) -> tuple[str, list[Any]] | None:
    """The fallback when the whole query found too few: people matching every word of it
    (``山田 たろう``, a name with a middle name), or None for a one-word query."""
    if not query.words:
        return None
    parts, params = [], []
    for word in query.words:
        cond, more = _term_condition(word, len(word) >= PREFIX_MIN_CHARS)
        parts.append(f"SELECT person_id FROM person_terms WHERE {cond} AND expiry_ms > ?")
        params += [*more, now_ms]
    sql = (
        "SELECT r.wire, coalesce(s.status, 0) FROM ("
        " SELECT p.person_id, p.record_id, p.updated_ms"
        # CROSS JOIN keeps SQLite driving the lookup from the matching terms
        f" FROM ({' INTERSECT '.join(parts)}) AS h CROSS JOIN persons p"
        " ON p.person_id = h.person_id"
        " ORDER BY p.updated_ms DESC LIMIT ?"
        ") AS top JOIN records r ON r.id = top.record_id"
        " LEFT JOIN person_status s ON s.person_id = top.person_id"
        " ORDER BY top.updated_ms DESC"
    )
    return sql, [*params, _cap(limit)]


def _cap(limit: int) -> int:
    return max(0, min(limit, MAX_SEARCH_RESULTS))


PERSON_SQL = (
    "SELECT r.wire FROM persons p JOIN records r ON r.id = p.record_id WHERE p.person_id = ?"
)
FRESHNESS_SQL = "SELECT max(received_ms) FROM persons"
# Person records that are no longer the current one of their person and are not wiped yet
# (each ``?`` pair: an origin, an entity to restrict to, or NULL for any), oldest first.
# ``person_superseded`` is the store's work list: small, whatever the registry's size.
SUPERSEDED_SQL = (
    "SELECT s.origin, s.stream, s.seq, s.record_id FROM person_superseded s"
    " WHERE (? IS NULL OR s.origin = ?) AND (? IS NULL OR s.entity = ?)"
    " AND NOT EXISTS (SELECT 1 FROM redactions x WHERE x.origin = s.origin"
    " AND x.stream = s.stream AND x.seq = s.seq AND x.target_id = s.record_id)"
    " ORDER BY s.origin, s.seq LIMIT ?"
)
# Notes about people who are deleted, not wiped yet (same ``?`` pairs: origin, person id).
DELETED_NOTES_SQL = (
    "SELECT n.origin, n.stream, n.seq, n.record_id FROM person_notes n"
    " JOIN persons p ON p.person_id = n.person_id"
    " WHERE p.deleted = 1 AND (? IS NULL OR n.origin = ?) AND (? IS NULL OR n.person_id = ?)"
    " ORDER BY n.origin, n.seq LIMIT ?"
)
# Current records of people past their expiry and not yet deleted (same origin filter).
EXPIRED_SQL = (
    "SELECT r.wire FROM persons p JOIN records r ON r.id = p.record_id"
    " WHERE p.deleted = 0 AND p.expiry_ms <= ? AND (? IS NULL OR p.origin = ?)"
    " ORDER BY p.expiry_ms LIMIT ?"
)

__all__ = [
    "DELETED_NOTES_SQL",
    "EXPIRED_SQL",
    "FRESHNESS_SQL",
    "MAX_SEARCH_RESULTS",
    "PERSON_SQL",
    "SUPERSEDED_SQL",
    "exact_sql",
    "forget_record",
    "index_record",
    "search_sql",
    "words_sql",
]
