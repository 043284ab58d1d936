-- How many times each delivery was replayed: a queue destination that de-duplicates on a
-- message id gives the n-th replay an id of its own (NATS `Nats-Msg-Id` = `<event id>:r<n>`).
ALTER TABLE deliveries ADD COLUMN replays BIGINT NOT NULL DEFAULT 0;
