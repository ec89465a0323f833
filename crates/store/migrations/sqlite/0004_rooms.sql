-- The operator's waiting room; the PostgreSQL migration 0005 explains each
-- column and table.

ALTER TABLE concert ADD COLUMN room_state TEXT NOT NULL DEFAULT 'OPEN'
    CHECK (room_state IN ('SCHEDULED', 'OPEN', 'PAUSED', 'PASS_THROUGH', 'CLOSED'));
ALTER TABLE concert ADD COLUMN room_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN admit_batch INTEGER CHECK (admit_batch > 0);
ALTER TABLE concert ADD COLUMN admit_interval_secs INTEGER CHECK (admit_interval_secs > 0);
ALTER TABLE concert ADD COLUMN max_active INTEGER CHECK (max_active > 0);
ALTER TABLE concert ADD COLUMN active_ttl_secs INTEGER CHECK (active_ttl_secs > 0);
ALTER TABLE concert ADD COLUMN abandon_after_secs INTEGER CHECK (abandon_after_secs > 0);
ALTER TABLE concert ADD COLUMN sale_opens_at_ms INTEGER;
ALTER TABLE concert ADD COLUMN sale_closes_at_ms INTEGER;
ALTER TABLE concert ADD COLUMN lottery_seed_hex TEXT;
ALTER TABLE concert ADD COLUMN lottery_drawn_at_ms INTEGER;
ALTER TABLE concert ADD COLUMN flow_admitted_per_round_milli INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_no_show_permille INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_admitted_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE concert ADD COLUMN flow_abandoned_total INTEGER NOT NULL DEFAULT 0;

CREATE TABLE room_change (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    concert_id    INTEGER NOT NULL REFERENCES concert (id),
    changed_at_ms INTEGER NOT NULL,
    field         TEXT    NOT NULL,
    old_value     TEXT,
    new_value     TEXT
);
CREATE INDEX room_change_by_concert ON room_change (concert_id, id);

CREATE TABLE lottery_entry (
    concert_id    INTEGER NOT NULL REFERENCES concert (id),
    place         INTEGER NOT NULL CHECK (place > 0),
    entry_id      TEXT    NOT NULL,
    PRIMARY KEY (concert_id, place)
);
