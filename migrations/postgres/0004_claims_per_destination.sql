-- Claims are made destination by destination (issue 20, finding 3): a destination that does not
-- answer must not hold back another's deliveries, and a claim walking the whole queue in due
-- order had to take (or walk over) a hung destination's backlog before reaching anything else.
-- This index replaces deliveries_due (0002): each destination's waiting deliveries in due
-- order, so a claim seeks to one destination and stops at its share, and the destinations with
-- waiting work are listed with one seek each. Still one index on the insert path.
CREATE INDEX deliveries_waiting ON deliveries (destination, next_attempt_at)
    WHERE status IN ('pending', 'failed');
DROP INDEX IF EXISTS deliveries_due;
