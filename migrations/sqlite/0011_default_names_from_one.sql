-- Default destination names count from 1 (SPEC section 10: `<source>-<n>`); they counted from
-- 0. Deliveries stored under a default name follow the rename, so that an upgrade leaves no
-- queued delivery behind a name that is no longer configured. Done from the highest index down
-- so that no row takes a name another row of its event still holds. A destination whose
-- explicit name looks like a default of its own source (`github-0`) cannot be told apart and is
-- renamed too (docs/operations.md, "Upgrading").
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-16'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-15';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-15'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-14';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-14'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-13';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-13'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-12';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-12'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-11';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-11'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-10';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-10'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-9';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-9'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-8';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-8'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-7';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-7'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-6';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-6'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-5';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-5'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-4';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-4'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-3';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-3'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-2';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-2'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-1';
UPDATE deliveries SET destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-1'
WHERE destination = (SELECT source FROM events WHERE events.id = deliveries.event_id) || '-0';
