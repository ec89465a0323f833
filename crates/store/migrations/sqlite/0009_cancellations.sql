-- Reservations may be cancelled for a refund (`POST
-- /api/v1/reservations/{id}/cancel`). A cancelled reservation stays, with
-- when it was cancelled, what it refunded and the fee it kept; the seat goes
-- back on sale, so "one reservation per seat" now holds for confirmed ones
-- only. Refunds are entries of the balance ledger of their own kind.
--
-- SQLite cannot change a table's constraints in place: both tables are
-- rebuilt, their rows copied as they are.

CREATE TABLE reservation_next (
    id              TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    concert_id      INTEGER NOT NULL,
    schedule_id     INTEGER NOT NULL,
    seat_number     INTEGER NOT NULL,
    price           INTEGER NOT NULL,
    hold_id         TEXT    NOT NULL UNIQUE,
    confirmed_at_ms INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'CONFIRMED' CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    cancelled_at_ms INTEGER,
    refund          INTEGER CHECK (refund >= 0),
    fee             INTEGER CHECK (fee >= 0),
    CHECK ((status = 'CONFIRMED' AND cancelled_at_ms IS NULL AND refund IS NULL AND fee IS NULL)
        OR (status = 'CANCELLED' AND cancelled_at_ms IS NOT NULL AND refund + fee = price))
);
INSERT INTO reservation_next
    (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms)
SELECT id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms
  FROM reservation;
DROP TABLE reservation;
ALTER TABLE reservation_next RENAME TO reservation;
CREATE UNIQUE INDEX reservation_one_per_seat ON reservation (schedule_id, seat_number)
    WHERE status = 'CONFIRMED';
CREATE INDEX reservation_by_user ON reservation (user_id, confirmed_at_ms DESC);

CREATE TABLE balance_entry_next (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('CHARGE', 'PAYMENT', 'REFUND')),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reference     TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
INSERT INTO balance_entry_next (id, user_id, kind, amount, balance_after, reference, created_at_ms)
SELECT id, user_id, kind, amount, balance_after, reference, created_at_ms FROM balance_entry;
DROP TABLE balance_entry;
ALTER TABLE balance_entry_next RENAME TO balance_entry;
CREATE INDEX balance_entry_by_user ON balance_entry (user_id, id);
