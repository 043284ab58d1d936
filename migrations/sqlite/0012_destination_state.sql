-- The shared control state of each destination (SPEC section 10, "Circuit breaker"): paused by
-- an operator, and its circuit breaker. One row per destination that ever left the default
-- (closed, not paused, no failures); a destination without a row is in that default. `version`
-- counts the saves: every change is a compare-and-set on it, so two writers never undo each
-- other. Times are unix milliseconds; `cooldown` is the current opening's, 0 before any.
-- A paused destination's deliveries are never claimed (the claim reads `paused`).
CREATE TABLE destination_states (
    name TEXT PRIMARY KEY NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    circuit TEXT NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open', 'half_open')),
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    opened_at INTEGER,
    next_probe_at INTEGER,
    cooldown INTEGER NOT NULL DEFAULT 0,
    probe TEXT,
    version INTEGER NOT NULL
);
