-- Reservations may be cancelled for a refund (`POST
-- /api/v1/reservations/{id}/cancel`). A cancelled reservation stays, with
-- when it was cancelled, what it refunded and the fee it kept; the seat goes
-- back on sale, so "one reservation per seat" now holds for confirmed ones
-- only. Refunds are entries of the balance ledger of their own kind.
--
-- Every change here is compatible with the previous binary during a rolling
-- deploy: its inserts take the CONFIRMED default, and the one-call hold it
-- calls keeps its signature.

ALTER TABLE reservation
    ADD COLUMN status TEXT NOT NULL DEFAULT 'CONFIRMED' CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    ADD COLUMN cancelled_at_ms BIGINT,
    ADD COLUMN refund BIGINT CHECK (refund >= 0),
    ADD COLUMN fee BIGINT CHECK (fee >= 0),
    ADD CONSTRAINT reservation_cancellation_whole CHECK (
        (status = 'CONFIRMED' AND cancelled_at_ms IS NULL AND refund IS NULL AND fee IS NULL)
     OR (status = 'CANCELLED' AND cancelled_at_ms IS NOT NULL AND refund + fee = price));
ALTER TABLE reservation DROP CONSTRAINT reservation_one_per_seat;
CREATE UNIQUE INDEX reservation_one_per_seat ON reservation (schedule_id, seat_number)
    WHERE status = 'CONFIRMED';

ALTER TABLE balance_entry DROP CONSTRAINT balance_entry_kind_check;
ALTER TABLE balance_entry ADD CONSTRAINT balance_entry_kind_check
    CHECK (kind IN ('CHARGE', 'PAYMENT', 'REFUND'));

-- The one-call hold counts the fan's confirmed reservations only toward
-- the per-concert ticket limit: a cancelled seat is no longer theirs. Same
-- signature, same body as migration 0010 but for that count.
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
           COUNT(*) FILTER (WHERE h.status = 'ACTIVE' AND h.expires_at_ms > p_now_ms
                              AND h.concert_id = concert),
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
        (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms, status)
    VALUES (p_hold_id, p_user_id, held_concert_id, p_schedule_id, p_seat_number, held_price,
            p_now_ms, p_expires_at_ms, 'ACTIVE');
    outcome := 'HELD';
END;
$$;
