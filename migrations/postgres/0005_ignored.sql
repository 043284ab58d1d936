-- The status `ignored` (SPEC section 10): an event no destination takes, for now every event of
-- a source without destinations. It was stored as `delivered`, which it never was. Deliveries
-- never hold `ignored`: an ignored event has none.
ALTER TABLE events DROP CONSTRAINT events_status_check;
ALTER TABLE events ADD CONSTRAINT events_status_check
    CHECK (status IN ('pending', 'delivered', 'failed', 'dead', 'ignored'));

-- Events stored as `delivered` without a single delivery are the ones that had nowhere to go:
-- an event with destinations gets its deliveries in the transaction that stores it.
UPDATE events SET status = 'ignored'
WHERE status = 'delivered'
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id);
