-- The refusal quarantine (SPEC section 13): what was kept of a refused request. Written off the
-- request path by the quarantine writer, in batches; bounded per source (`max_per_source`, the
-- oldest go first) and by age (`retention`). Credentials in `headers` are redacted, a header
-- credential is kept only as a keyed fingerprint; `sample` is the first bytes as received.
CREATE TABLE refusals (
    id                   TEXT    PRIMARY KEY,     -- UUIDv7, time-ordered: the listing cursor
    source               TEXT    NOT NULL,
    received_at          INTEGER NOT NULL,        -- unix milliseconds
    client_ip            TEXT    NOT NULL,
    status               INTEGER NOT NULL,
    category             TEXT    NOT NULL,        -- the rejections_total reason (the filter)
    reason               TEXT    NOT NULL,        -- the precise reason, as the log line has it
    headers              TEXT    NOT NULL,        -- JSON array of [name, value]
    body_sha256          TEXT,                    -- NULL when the body was not read whole
    body_length          INTEGER,                 -- NULL when the body was not read at all
    sample               BLOB    NOT NULL,
    sample_is_whole_body INTEGER NOT NULL CHECK (sample_is_whole_body IN (0, 1))
);

-- The per-source bound and the per-source listing walk a source's records by id.
CREATE INDEX refusals_source_id ON refusals (source, id);
-- Retention deletes by age.
CREATE INDEX refusals_received ON refusals (received_at);
