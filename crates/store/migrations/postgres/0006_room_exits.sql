-- What the wait estimates learn of ACTIVE fans leaving (docs/rooms.md,
-- "The wait estimate"): the fans ACTIVE after the last admission round by
-- when they were admitted (a JSON array of [admitted_at_ms, fans still
-- ACTIVE, fans admitted], oldest first, at most 32), the smoothed session
-- length (0 until some were seen to leave) and its spread, and when that
-- round ran.
ALTER TABLE concert
    ADD COLUMN flow_cohorts TEXT NOT NULL DEFAULT '[]',
    ADD COLUMN flow_session_ms BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_session_spread_ms BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_observed_at_ms BIGINT NOT NULL DEFAULT 0;
