-- The status `ignored` (SPEC section 10): an event no destination takes, for now every event of
-- a source without destinations. It was stored as `delivered`, which it never was.
--
-- The events CHECK gains the value in place, as 0006 did and for the same reasons (SQLite cannot
-- alter a CHECK, and rebuilding events would cascade into deliveries); every stored row
-- satisfies the wider constraint. Deliveries never hold `ignored`: an ignored event has none.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(
    sql,
    'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''failed'' OR status = ''dead'')',
    'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''failed'' OR status = ''dead'' OR status = ''ignored'')'
)
WHERE type = 'table' AND name = 'events';
PRAGMA writable_schema = RESET;

-- Events stored as `delivered` without a single delivery are the ones that had nowhere to go:
-- an event with destinations gets its deliveries in the transaction that stores it.
UPDATE events SET status = 'ignored'
WHERE status = 'delivered'
  AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_id = events.id);
