-- Records: every signed record this node holds, verified on arrival.
CREATE TABLE records (
    id          BLOB PRIMARY KEY,          -- BLAKE2b-128 of wire
    origin      BLOB NOT NULL,             -- Ed25519 public key of the signer
    stream      INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    hlc         INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    entity      BLOB NOT NULL,             -- model.fold.entity_key
    wire        BLOB NOT NULL,             -- the canonical signed bytes
    received_ms INTEGER NOT NULL,
    UNIQUE (origin, stream, seq)
);
CREATE INDEX records_kind ON records (kind, hlc);

-- Heads: the current record of every entity (greatest (hlc, origin)).
CREATE TABLE heads (
    entity    BLOB PRIMARY KEY,
    kind      INTEGER NOT NULL,
    hlc       INTEGER NOT NULL,
    origin    BLOB NOT NULL,
    record_id BLOB NOT NULL REFERENCES records (id)
);
CREATE INDEX heads_kind ON heads (kind);

-- Version vector: highest contiguous sequence number per (origin, stream).
CREATE TABLE vector (
    origin     BLOB NOT NULL,
    stream     INTEGER NOT NULL,
    contiguous INTEGER NOT NULL,
    PRIMARY KEY (origin, stream)
) WITHOUT ROWID;

-- Small durable settings: last HLC, counters.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Rejected records, counted per origin (logged once per origin).
CREATE TABLE rejections (
    origin      BLOB PRIMARY KEY,
    count       INTEGER NOT NULL,
    last_reason TEXT NOT NULL,
    last_ms     INTEGER NOT NULL
) WITHOUT ROWID;
