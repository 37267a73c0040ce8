-- Redaction (docs/anpi.md): a record wiped to a placeholder keeps its row (so the version
-- vector stays gap-free) with the placeholder as its wire and redacted = 1.
ALTER TABLE records ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;
-- Every slot a stored redaction names, so that a record arriving after its redaction is
-- stored as a placeholder at once.
CREATE TABLE redactions (
    origin       BLOB NOT NULL,
    stream       INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    target_id    BLOB NOT NULL,
    redaction_id BLOB NOT NULL REFERENCES records (id),
    PRIMARY KEY (origin, stream, seq, target_id)
) WITHOUT ROWID;
-- Person records by entity, for finding the superseded ones to redact.
CREATE INDEX records_entity ON records (entity) WHERE kind = 5 AND redacted = 0;
-- Registrations by expiry, for the sweep that wipes expired people.
CREATE INDEX persons_expiry ON persons (expiry_ms) WHERE deleted = 0
