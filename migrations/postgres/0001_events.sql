-- One row per accepted webhook. The unique (source, dedup_key) is what makes de-duplication
-- race-free across instances: two copies of one event, sent to two instances at once, cannot
-- both be inserted (the second insert waits for the first transaction, then does nothing).
-- Times are unix milliseconds, as in the SQLite store, so both stores share one model.
CREATE TABLE events (
    id              UUID    PRIMARY KEY,          -- UUIDv7, time-ordered: the listing cursor
    source          TEXT    NOT NULL,
    dedup_key       TEXT    NOT NULL,
    received_at     BIGINT  NOT NULL,
    client_ip       TEXT    NOT NULL,
    request_id      TEXT,
    content_type    TEXT,
    headers         TEXT    NOT NULL,             -- JSON array of [name, value], credentials redacted
    body            BYTEA,                        -- raw bytes as verified; NULL once purged
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    CONSTRAINT events_source_dedup_key UNIQUE (source, dedup_key)
);

-- Listing and bulk replay filter on source or status and a received_at range.
CREATE INDEX events_source_received ON events (source, received_at);
CREATE INDEX events_status_received ON events (status, received_at);
