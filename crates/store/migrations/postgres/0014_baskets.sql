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
-- - The one-call hold (same signature, so the previous binary keeps calling
--   it during a rolling deploy) counts the seats of the fan's live holds
--   toward the concert's limit and records its seat in `hold_seat`. It
--   holds one seat; baskets of several take the statement-by-statement
--   transaction, under the same advisory lock.
--
-- The previous binary's statement-by-statement hold writes no `hold_seat`
-- row: the new one reads such a hold as the one seat of its own row.

ALTER TABLE seat_hold ADD COLUMN seat_count BIGINT NOT NULL DEFAULT 1 CHECK (seat_count BETWEEN 1 AND 50);

CREATE TABLE hold_seat (
    hold_id     TEXT   NOT NULL REFERENCES seat_hold (id),
    seat_number BIGINT NOT NULL CHECK (seat_number BETWEEN 1 AND 50),
    price       BIGINT NOT NULL CHECK (price > 0),
    PRIMARY KEY (hold_id, seat_number)
);
INSERT INTO hold_seat (hold_id, seat_number, price) SELECT id, seat_number, price FROM seat_hold;

ALTER TABLE reservation DROP CONSTRAINT reservation_hold_id_key;
CREATE UNIQUE INDEX reservation_one_per_hold_seat ON reservation (hold_id, seat_number);

CREATE OR REPLACE FUNCTION boxoffice_hold_seat(
    p_hold_id           TEXT,
    p_user_id           BIGINT,
    p_schedule_id       BIGINT,
    p_seat_number       BIGINT,
    p_now_ms            BIGINT,
    p_expires_at_ms     BIGINT,
    p_max_live          BIGINT,
    p_max_live_unfunded BIGINT,
    p_max_lapsed        BIGINT,
    p_lapsed_since_ms   BIGINT,
    p_max_per_concert   BIGINT,
    OUT outcome     TEXT,
    OUT held_price  BIGINT,
    OUT held_concert_id BIGINT
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    live       BIGINT;
    lapsed     BIGINT;
    here       BIGINT;
    bought     BIGINT;
    funds      BIGINT;
    concert    BIGINT;
    seat_state TEXT;
BEGIN
    -- The same lock key as the statement-by-statement transaction, so both
    -- forms exclude each other.
    PERFORM pg_advisory_xact_lock(hashtextextended('boxoffice.holds.' || p_user_id::text, 0));
    SELECT c.concert_id INTO concert FROM schedule c WHERE c.id = p_schedule_id;
    -- One statement, so one snapshot: a payment committing meanwhile
    -- (payments take no advisory lock) is seen either as a live hold or as
    -- a reservation, never as both.
    SELECT COUNT(*) FILTER (WHERE h.status = 'ACTIVE' AND h.expires_at_ms > p_now_ms),
           COUNT(*) FILTER (WHERE h.status = 'RELEASED'
                               OR (h.status = 'ACTIVE' AND h.expires_at_ms <= p_now_ms)),
           COALESCE(SUM(h.seat_count) FILTER (WHERE h.status = 'ACTIVE' AND h.expires_at_ms > p_now_ms
                                                 AND h.concert_id = concert), 0),
           (SELECT COUNT(*) FROM reservation r
             WHERE r.user_id = p_user_id AND r.concert_id = concert AND r.status = 'CONFIRMED'),
           (SELECT COALESCE(MAX(b.amount), 0) FROM balance b WHERE b.user_id = p_user_id)
      INTO live, lapsed, here, bought, funds
      FROM seat_hold h
     WHERE h.user_id = p_user_id AND h.expires_at_ms > p_lapsed_since_ms;
    IF lapsed >= p_max_lapsed THEN
        outcome := 'LAPSED_LIMIT';
        RETURN;
    END IF;
    IF live >= p_max_live THEN
        outcome := 'LIVE_LIMIT';
        RETURN;
    END IF;
    IF funds = 0 AND live >= p_max_live_unfunded THEN
        outcome := 'UNFUNDED_LIMIT';
        RETURN;
    END IF;
    IF here + bought >= p_max_per_concert THEN
        outcome := 'CONCERT_LIMIT';
        RETURN;
    END IF;

    UPDATE seat s
       SET status = 'HELD', hold_id = p_hold_id, held_until_ms = p_expires_at_ms, version = s.version + 1
     WHERE s.schedule_id = p_schedule_id AND s.seat_number = p_seat_number
       AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until_ms <= p_now_ms))
    RETURNING s.price INTO held_price;
    IF NOT FOUND THEN
        SELECT s.status INTO seat_state FROM seat s
         WHERE s.schedule_id = p_schedule_id AND s.seat_number = p_seat_number;
        outcome := CASE
            WHEN seat_state IS NULL THEN 'NO_SUCH_SEAT'
            WHEN seat_state = 'SOLD' THEN 'SEAT_SOLD'
            ELSE 'SEAT_TAKEN'
        END;
        RETURN;
    END IF;
    held_concert_id := concert;

    INSERT INTO seat_hold
        (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms, status,
         seat_count)
    VALUES (p_hold_id, p_user_id, held_concert_id, p_schedule_id, p_seat_number, held_price,
            p_now_ms, p_expires_at_ms, 'ACTIVE', 1);
    INSERT INTO hold_seat (hold_id, seat_number, price) VALUES (p_hold_id, p_seat_number, held_price);
    outcome := 'HELD';
END;
$$;
