-- The shared control state of each destination (SPEC section 10, "Circuit breaker"): paused by
-- an operator, and its circuit breaker, shared by every instance on this database. One row per
-- destination that ever left the default (closed, not paused, no failures); a destination
-- without a row is in that default. `version` counts the saves: every change is a
-- compare-and-set on it, so two instances never undo each other. Times are unix milliseconds;
-- `cooldown` is the current opening's, 0 before any. A paused destination's deliveries are
-- never claimed (the claim reads `paused`).
CREATE TABLE destination_states (
    name TEXT PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    circuit TEXT NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open', 'half_open')),
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    opened_at BIGINT,
    next_probe_at BIGINT,
    cooldown BIGINT NOT NULL DEFAULT 0,
    probe TEXT,
    version BIGINT NOT NULL
);
