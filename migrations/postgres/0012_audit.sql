-- The audit trail (SPEC section 12): every state-changing admin action, appended in the
-- transaction of its effect. Each record holds the hash of the one before it and its own
-- (`store::audit::record_hash`, written down in docs/security.md). Ids count from 1 with no gap:
-- the store gives each the head's id + 1 while it holds the audit advisory lock (no sequence,
-- whose values a rolled-back transaction would skip), so a missing record shows as a missing
-- id, and instances writing at once still make one chain. Retention never touches this table.
-- The trigger refuses changes to a written record: it stops a mistake, not a superuser (that is
-- what the chain and its anchoring are for).
CREATE TABLE audit (
    id        BIGINT  PRIMARY KEY,              -- 1, 2, 3, … (the head's id + 1)
    time      BIGINT  NOT NULL,                 -- unix milliseconds (the database's clock)
    actor     TEXT    NOT NULL,                 -- the token's name
    action    TEXT    NOT NULL,                 -- replay, bulk_replay, pause, resume, reload, …
    target    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    client_ip TEXT,
    prev_hash TEXT    NOT NULL,                 -- hex SHA-256 of the record before; 64 zeros first
    hash      TEXT    NOT NULL                  -- hex SHA-256 of prev_hash and this record
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END;
$$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
