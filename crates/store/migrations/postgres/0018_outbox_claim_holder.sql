-- Which relay step holds an outbox row's claim (decision 0008). Claims are
-- short leases renewed while the relay lives; only the holder renews or
-- gives back its claims, so a relay that stalled past its lease cannot
-- touch claims another relay took over.
ALTER TABLE outbox ADD COLUMN claimed_by BIGINT NOT NULL DEFAULT 0;
