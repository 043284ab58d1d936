-- Every attempt of every delivery, for `GET /admin/events/{id}` (SPEC section 10: each
-- attempt's time, outcome and duration). Written in the transaction that records the attempt's
-- outcome; gone with its event (purge). A replay keeps the earlier attempts: the history is the
-- whole story of the delivery. Read only by event, so the one index leads with it.
CREATE TABLE attempts (
    event_id    UUID    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination TEXT    NOT NULL,
    at          BIGINT  NOT NULL,                 -- unix milliseconds the attempt started
    duration_ms BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    error       TEXT
);

CREATE INDEX attempts_of_event ON attempts (event_id, at);
