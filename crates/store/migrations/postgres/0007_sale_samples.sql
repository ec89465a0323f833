-- The operator's console charts each sale over time. One instance per
-- sampling interval (`console.sample_interval_secs`) writes a row per
-- concert: the line's head counts, the admissions so far, the seats by
-- status and the money taken. Rows older than
-- `console.sample_retention_secs` are deleted as new ones are written.
CREATE TABLE sale_sample (
    concert_id      BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    pre_queued      BIGINT NOT NULL,
    waiting         BIGINT NOT NULL,
    active          BIGINT NOT NULL,
    -- The room's admittedTotal: the console charts its differences.
    admitted_total  BIGINT NOT NULL,
    seats_available BIGINT NOT NULL,
    seats_held      BIGINT NOT NULL,
    seats_sold      BIGINT NOT NULL,
    -- Whole won: the prices of the concert's reservations.
    revenue         BIGINT NOT NULL,
    PRIMARY KEY (concert_id, at_ms)
);
CREATE INDEX sale_sample_by_time ON sale_sample (at_ms);
