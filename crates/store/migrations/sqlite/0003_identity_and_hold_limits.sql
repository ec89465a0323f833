-- Who is calling (decision 0011) and hold limits against hoarding; the
-- PostgreSQL migration 0004 explains each table and index. Mapped user
-- ids start at 2^52 (4503599627370496), given in order by the one writer.

CREATE TABLE subject (
    subject       TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL UNIQUE CHECK (user_id >= 4503599627370496)
);

CREATE TABLE signing_secret (
    purpose       TEXT    PRIMARY KEY,
    secret_hex    TEXT    NOT NULL
);

ALTER TABLE concert ADD COLUMN proof_of_work_bits INTEGER
    CHECK (proof_of_work_bits BETWEEN 1 AND 30);

DROP INDEX seat_hold_live_by_user;
CREATE INDEX seat_hold_by_user ON seat_hold (user_id, expires_at_ms);
