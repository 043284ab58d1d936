-- The claim query walks this index in due order and stops at its LIMIT: no sort of the whole
-- queue per claim. A claimed delivery's next_attempt_at is moved to the end of its lease, so
-- deliveries in flight are not walked over either, and a lapsed lease makes it due again.
CREATE INDEX deliveries_claimable ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
