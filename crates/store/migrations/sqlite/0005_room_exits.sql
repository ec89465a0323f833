-- What the wait estimates learn of ACTIVE fans leaving; the PostgreSQL
-- migration 0006 explains each column.
ALTER TABLE concert ADD COLUMN flow_cohorts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE concert ADD COLUMN flow_session_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_session_spread_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_observed_at_ms INTEGER NOT NULL DEFAULT 0;
