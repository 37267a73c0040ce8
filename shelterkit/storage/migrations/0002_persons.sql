-- Safety registrations (issue 8): the current state of every person, kept by the store in
-- the same transaction as the record (Store._index_anpi), and the terms they are found by.
CREATE TABLE persons (
    person_id   TEXT PRIMARY KEY,
    record_id   BLOB NOT NULL REFERENCES records (id),  -- the current (head) record
    hlc         INTEGER NOT NULL,
    origin      BLOB NOT NULL,
    public      INTEGER NOT NULL,          -- consent to public listing
    deleted     INTEGER NOT NULL,
    expiry_ms   INTEGER NOT NULL,          -- effective expiry (model.anpi.effective_expiry_ms)
    shelter     TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL,          -- wall time of the head record's hlc
    received_ms INTEGER NOT NULL,          -- when this node stored the head record
    search_keys TEXT NOT NULL              -- model.names.search_terms, joined by U+001F
) WITHOUT ROWID;
CREATE INDEX persons_received ON persons (received_ms);

-- One row per (term, person) for listed people only. A search is a B-tree range over the
-- terms (a prefix of a folded name is a range of keys); each row carries what the search
-- filters and orders by, so no other table is read until the page of results is chosen.
CREATE TABLE person_terms (
    term       TEXT NOT NULL,
    person_id  TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    expiry_ms  INTEGER NOT NULL,
    record_id  BLOB NOT NULL,
    PRIMARY KEY (term, person_id)
) WITHOUT ROWID;
CREATE INDEX person_terms_person ON person_terms (person_id);

-- The newest note status per person (notes are their own records).
CREATE TABLE person_status (
    person_id TEXT PRIMARY KEY,
    hlc       INTEGER NOT NULL,
    origin    BLOB NOT NULL,
    status    INTEGER NOT NULL
) WITHOUT ROWID;
