-- What the wait estimates learn of ACTIVE fans leaving (docs/rooms.md,
-- "The wait estimate"): the ACTIVE count after the last admission round,
-- the smoothed ACTIVE count and exits per round, and when that round ran.
ALTER TABLE concert ADD COLUMN flow_active INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_active_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_exits_per_round_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_observed_at_ms INTEGER NOT NULL DEFAULT 0;
