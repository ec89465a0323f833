-- The operator's waiting room (docs/ARCHITECTURE.md, "The room"): each
-- concert's room state and admission settings (NULL: the configured
-- default), the sale's times, the pre-queue lottery's seed and draw, what
-- admission rounds observed of the line, and an audit list of changes.

ALTER TABLE concert
    ADD COLUMN room_state TEXT NOT NULL DEFAULT 'OPEN'
        CHECK (room_state IN ('SCHEDULED', 'OPEN', 'PAUSED', 'PASS_THROUGH', 'CLOSED')),
    ADD COLUMN room_version BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN admit_batch BIGINT CHECK (admit_batch > 0),
    ADD COLUMN admit_interval_secs BIGINT CHECK (admit_interval_secs > 0),
    ADD COLUMN max_active BIGINT CHECK (max_active > 0),
    ADD COLUMN active_ttl_secs BIGINT CHECK (active_ttl_secs > 0),
    ADD COLUMN abandon_after_secs BIGINT CHECK (abandon_after_secs > 0),
    ADD COLUMN sale_opens_at_ms BIGINT,
    ADD COLUMN sale_closes_at_ms BIGINT,
    -- Secret until the draw; its SHA-256 is published before.
    ADD COLUMN lottery_seed_hex TEXT,
    ADD COLUMN lottery_drawn_at_ms BIGINT,
    ADD COLUMN flow_admitted_per_round_milli BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_no_show_permille BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_admitted_total BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN flow_abandoned_total BIGINT NOT NULL DEFAULT 0;

CREATE TABLE room_change (
    id            BIGSERIAL PRIMARY KEY,
    concert_id    BIGINT NOT NULL REFERENCES concert (id),
    changed_at_ms BIGINT NOT NULL,
    field         TEXT   NOT NULL,
    old_value     TEXT,
    new_value     TEXT
);
CREATE INDEX room_change_by_concert ON room_change (concert_id, id);

-- The drawn order of a concert's pre-queue: entry ids (not token ids) by place.
CREATE TABLE lottery_entry (
    concert_id    BIGINT NOT NULL REFERENCES concert (id),
    place         BIGINT NOT NULL CHECK (place > 0),
    entry_id      TEXT   NOT NULL,
    PRIMARY KEY (concert_id, place)
);
