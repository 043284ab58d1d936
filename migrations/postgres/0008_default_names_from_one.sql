-- Default destination names count from 1 (SPEC section 10: `<source>-<n>`); they counted from
-- 0. Deliveries stored under a default name follow the rename, so that an upgrade leaves no
-- queued delivery behind a name that is no longer configured. Done from the highest index down
-- so that no row takes a name another row of its event still holds. A destination whose
-- explicit name looks like a default of its own source (`github-0`) cannot be told apart and is
-- renamed too (docs/operations.md, "Upgrading").
UPDATE deliveries d SET destination = e.source || '-16'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-15';
UPDATE deliveries d SET destination = e.source || '-15'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-14';
UPDATE deliveries d SET destination = e.source || '-14'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-13';
UPDATE deliveries d SET destination = e.source || '-13'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-12';
UPDATE deliveries d SET destination = e.source || '-12'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-11';
UPDATE deliveries d SET destination = e.source || '-11'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-10';
UPDATE deliveries d SET destination = e.source || '-10'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-9';
UPDATE deliveries d SET destination = e.source || '-9'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-8';
UPDATE deliveries d SET destination = e.source || '-8'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-7';
UPDATE deliveries d SET destination = e.source || '-7'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-6';
UPDATE deliveries d SET destination = e.source || '-6'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-5';
UPDATE deliveries d SET destination = e.source || '-5'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-4';
UPDATE deliveries d SET destination = e.source || '-4'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-3';
UPDATE deliveries d SET destination = e.source || '-3'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-2';
UPDATE deliveries d SET destination = e.source || '-2'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-1';
UPDATE deliveries d SET destination = e.source || '-1'
FROM events e WHERE e.id = d.event_id AND d.destination = e.source || '-0';
