-- A hold may take a basket of seats of one date (`"seatNumbers": [7, 8]`,
-- up to `holds.max_seats_per_order`), paid for in one payment that makes a
-- reservation per seat (decision 0018).
--
-- - `hold_seat` records every seat of every hold at the price it was held
--   at. `seat_hold.seat_number` is the hold's lowest seat, `price` the
--   basket's total and `seat_count` how many seats it has, which the
--   per-concert ticket limit sums. Holds taken before this migration are
--   copied in as the one seat they are.
-- - A hold's reservations share its `hold_id`: one per seat of the hold.
--   SQLite cannot drop the column's UNIQUE in place: the table is rebuilt,
--   its rows copied as they are.

ALTER TABLE seat_hold ADD COLUMN seat_count INTEGER NOT NULL DEFAULT 1 CHECK (seat_count BETWEEN 1 AND 50);

CREATE TABLE hold_seat (
    hold_id     TEXT    NOT NULL REFERENCES seat_hold (id),
    seat_number INTEGER NOT NULL CHECK (seat_number BETWEEN 1 AND 50),
    price       INTEGER NOT NULL CHECK (price > 0),
    PRIMARY KEY (hold_id, seat_number)
);
INSERT INTO hold_seat (hold_id, seat_number, price) SELECT id, seat_number, price FROM seat_hold;

CREATE TABLE reservation_next (
    id              TEXT    PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    concert_id      INTEGER NOT NULL,
    schedule_id     INTEGER NOT NULL,
    seat_number     INTEGER NOT NULL,
    price           INTEGER NOT NULL,
    hold_id         TEXT    NOT NULL,
    confirmed_at_ms INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'CONFIRMED' CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    cancelled_at_ms INTEGER,
    refund          INTEGER CHECK (refund >= 0),
    fee             INTEGER CHECK (fee >= 0),
    CHECK ((status = 'CONFIRMED' AND cancelled_at_ms IS NULL AND refund IS NULL AND fee IS NULL)
        OR (status = 'CANCELLED' AND cancelled_at_ms IS NOT NULL AND refund + fee = price))
);
INSERT INTO reservation_next
    (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms,
     status, cancelled_at_ms, refund, fee)
SELECT id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms,
       status, cancelled_at_ms, refund, fee
  FROM reservation;
DROP TABLE reservation;
ALTER TABLE reservation_next RENAME TO reservation;
CREATE UNIQUE INDEX reservation_one_per_seat ON reservation (schedule_id, seat_number)
    WHERE status = 'CONFIRMED';
CREATE UNIQUE INDEX reservation_one_per_hold_seat ON reservation (hold_id, seat_number);
CREATE INDEX reservation_by_user ON reservation (user_id, confirmed_at_ms DESC);
