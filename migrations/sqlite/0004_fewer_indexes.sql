-- Every index costs each insert and each status change. Claims walk deliveries_claimable
-- (0003) and count the queue with it; nothing looks events up by (status, next_attempt_at)
-- any more, and deliveries are no longer found by (status, next_attempt_at) but through the
-- partial index.
DROP INDEX IF EXISTS events_due;
DROP INDEX IF EXISTS deliveries_due;
