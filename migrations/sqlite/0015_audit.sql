-- The audit trail (SPEC section 12): every state-changing admin action, appended in the
-- transaction of its effect. Each record holds the hash of the one before it and its own
-- (`store::audit::record_hash`, written down in docs/security.md); ids count from 1 with no gap,
-- given by the store (the one writer), so a missing record shows as a missing id. Retention never
-- touches this table. The triggers refuse changes to a written record: they stop a mistake, not
-- someone who can write the file (that is what the chain and its anchoring are for).
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,              -- 1, 2, 3, … (the head's id + 1)
    time      INTEGER NOT NULL,                 -- unix milliseconds
    actor     TEXT    NOT NULL,                 -- the token's name
    action    TEXT    NOT NULL,                 -- replay, bulk_replay, pause, resume, reload, …
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    client_ip TEXT,
    prev_hash TEXT    NOT NULL,                 -- hex SHA-256 of the record before; 64 zeros first
    hash      TEXT    NOT NULL                  -- hex SHA-256 of prev_hash and this record
);

CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;

CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
