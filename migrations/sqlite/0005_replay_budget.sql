-- A replay starts a delivery's retry budget (max_age) again: when it was last replayed, NULL
-- while it never was (the budget then runs from the event's receipt).
ALTER TABLE deliveries ADD COLUMN budget_from INTEGER;
