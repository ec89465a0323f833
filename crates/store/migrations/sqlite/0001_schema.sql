-- boxoffice schema, SQLite flavour. Instants are INTEGER epoch milliseconds
-- (`*_ms`), money is INTEGER whole won, ids of holds, reservations and events
-- are UUID text.

CREATE TABLE concert (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    artist        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE schedule (
    id           INTEGER PRIMARY KEY,
    concert_id   INTEGER NOT NULL REFERENCES concert (id),
    starts_at_ms INTEGER NOT NULL,
    venue        TEXT    NOT NULL
);
CREATE INDEX schedule_by_concert ON schedule (concert_id, starts_at_ms);

-- A seat is free when AVAILABLE, or HELD with held_until_ms in the past:
-- an ended hold never blocks anyone, whether or not the sweeper has run.
CREATE TABLE seat (
    schedule_id   INTEGER NOT NULL REFERENCES schedule (id),
    seat_number   INTEGER NOT NULL CHECK (seat_number BETWEEN 1 AND 50),
    grade         TEXT    NOT NULL,
    price         INTEGER NOT NULL CHECK (price > 0),
    status        TEXT    NOT NULL CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
    hold_id       TEXT,
    held_until_ms INTEGER,
    -- Bumped on every change; used by the optimistic concurrency strategy.
    version       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (schedule_id, seat_number)
) WITHOUT ROWID;
CREATE INDEX seat_held_until ON seat (held_until_ms) WHERE status = 'HELD';

CREATE TABLE seat_hold (
    id            TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL,
    concert_id    INTEGER NOT NULL,
    schedule_id   INTEGER NOT NULL,
    seat_number   INTEGER NOT NULL,
    price         INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('ACTIVE', 'CONSUMED', 'RELEASED'))
);
CREATE INDEX seat_hold_live_by_user ON seat_hold (user_id, expires_at_ms) WHERE status = 'ACTIVE';
CREATE INDEX seat_hold_active_by_expiry ON seat_hold (expires_at_ms) WHERE status = 'ACTIVE';

CREATE TABLE balance (
    user_id       INTEGER PRIMARY KEY,
    amount        INTEGER NOT NULL CHECK (amount >= 0),
    updated_at_ms INTEGER NOT NULL,
    version       INTEGER NOT NULL DEFAULT 0
);

-- Every change of a balance, for audits and the money invariant
-- (sum of charges = sum of balances + sum of payments).
CREATE TABLE balance_entry (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('CHARGE', 'PAYMENT')),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reference     TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX balance_entry_by_user ON balance_entry (user_id, id);

-- One reservation per seat, enforced by the database itself.
CREATE TABLE reservation (
    id              TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    concert_id      INTEGER NOT NULL,
    schedule_id     INTEGER NOT NULL,
    seat_number     INTEGER NOT NULL,
    price           INTEGER NOT NULL,
    hold_id         TEXT    NOT NULL UNIQUE,
    confirmed_at_ms INTEGER NOT NULL,
    CONSTRAINT reservation_one_per_seat UNIQUE (schedule_id, seat_number)
);
CREATE INDEX reservation_by_user ON reservation (user_id, confirmed_at_ms DESC);

CREATE TABLE idempotency_key (
    user_id        INTEGER NOT NULL,
    scope          TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    response       TEXT,
    lease_until_ms INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_key_by_age ON idempotency_key (created_at_ms);

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    aggregate_key   TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    published_at_ms INTEGER
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at_ms IS NULL;
CREATE INDEX outbox_by_aggregate ON outbox (aggregate_key);
