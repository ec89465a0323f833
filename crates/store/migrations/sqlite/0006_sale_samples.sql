-- The operator's console's samples; the PostgreSQL migration 0007
-- explains each column.
CREATE TABLE sale_sample (
    concert_id      INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    pre_queued      INTEGER NOT NULL,
    waiting         INTEGER NOT NULL,
    active          INTEGER NOT NULL,
    admitted_total  INTEGER NOT NULL,
    seats_available INTEGER NOT NULL,
    seats_held      INTEGER NOT NULL,
    seats_sold      INTEGER NOT NULL,
    revenue         INTEGER NOT NULL,
    PRIMARY KEY (concert_id, at_ms)
);
CREATE INDEX sale_sample_by_time ON sale_sample (at_ms);
