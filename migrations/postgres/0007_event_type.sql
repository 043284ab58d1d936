-- What the provider names each event (SPEC section 10): `push`, `payment_intent.succeeded`, …;
-- NULL when it names none. Events stored before this migration have none. Adding a nullable
-- column without a default rewrites no row.
--
-- No index: the column is filtered on only by operators' listings, exports and bulk replays,
-- which already narrow by source, status or time, and an index would be one more B-tree entry
-- written by every insert on the path that answers the provider. A listing by type alone scans;
-- add an index here if that becomes a habit.
ALTER TABLE events ADD COLUMN event_type TEXT;
