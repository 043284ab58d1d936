-- One row per (event, destination), created in the same transaction as the event, so an
-- accepted event can never be without its delivery work. `events.status` is kept as the
-- aggregate of its deliveries for listing and filtering.
CREATE TABLE deliveries (
    event_id        UUID    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,             -- unix milliseconds
    lease_owner     TEXT,                         -- worker holding the claim
    lease_until     BIGINT,                       -- unix milliseconds; the claim lapses after it
    last_error      TEXT,
    delivered_at    BIGINT,
    PRIMARY KEY (event_id, destination)
);

-- What workers scan when they claim: only deliveries still waiting, by due time. Delivered and
-- dead rows (the bulk of the table) are not in it.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'failed');
-- What release() and operators look up: the claims one worker holds.
CREATE INDEX deliveries_lease_owner ON deliveries (lease_owner)
    WHERE lease_owner IS NOT NULL;
