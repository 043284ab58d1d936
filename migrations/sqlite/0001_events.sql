-- One row per accepted webhook. The unique (source, dedup_key) is what makes de-duplication
-- race-free: two concurrent copies of one event cannot both be inserted.
CREATE TABLE events (
    id              TEXT    PRIMARY KEY,          -- UUIDv7, time-ordered
    source          TEXT    NOT NULL,
    dedup_key       TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,             -- unix milliseconds
    client_ip       TEXT    NOT NULL,
    request_id      TEXT,
    content_type    TEXT,
    headers         TEXT    NOT NULL,             -- JSON array of [name, value], credentials redacted
    body            BLOB,                         -- raw bytes as verified; NULL once purged
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,             -- unix milliseconds
    last_error      TEXT,
    UNIQUE (source, dedup_key)
);

CREATE INDEX events_due ON events (status, next_attempt_at);
CREATE INDEX events_source_received ON events (source, received_at);
