-- One row per (event, destination), created in the same transaction as the event, so an
-- accepted event can never be without its delivery work. `events.status` is kept as the
-- aggregate of its deliveries for listing and filtering.
CREATE TABLE deliveries (
    event_id        TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,             -- unix milliseconds
    lease_owner     TEXT,                         -- worker holding the claim
    lease_until     INTEGER,                      -- unix milliseconds; the claim lapses after it
    last_error      TEXT,
    delivered_at    INTEGER,
    PRIMARY KEY (event_id, destination)
);

CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX events_status_received ON events (status, received_at);
