-- Own records acknowledged but not signed yet (docs/durability.md, "Sequence numbers after a
-- restart"): a board post made before the first peer contact after a start. They are signed
-- in order, and deleted here in the same transaction, once a peer has said which numbers
-- this node already used.
CREATE TABLE pending (
    n       INTEGER PRIMARY KEY AUTOINCREMENT,
    signer  BLOB NOT NULL,                 -- public key that will sign it
    kind    INTEGER NOT NULL,
    body    BLOB NOT NULL,                 -- canonical CBOR of the body (model.fields)
    wall_ms INTEGER NOT NULL               -- when it was acknowledged
);
