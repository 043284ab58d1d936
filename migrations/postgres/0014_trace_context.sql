-- The `traceparent` of the request span that stored the event (SPEC section 14): each delivery
-- attempt's span links to it. NULL when traces were off or the request was not sampled, and for
-- events stored before this migration. Adding a nullable column without a default rewrites no
-- row.
--
-- No index: it is read with the event, by id, never searched.
ALTER TABLE events ADD COLUMN trace_context TEXT;
