-- What the wait estimates learn of ACTIVE fans leaving (docs/rooms.md,
-- "The wait estimate"): the ACTIVE count after the last admission round,
-- the smoothed ACTIVE count and exits per round, and when that round ran.
ALTER TABLE concert
    ADD COLUMN flow_active BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_active_milli BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_exits_per_round_milli BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_observed_at_ms BIGINT NOT NULL DEFAULT 0;
