-- A sold-out date's waiting list (decision 0020). A fan joins once per
-- date; while anyone waits, a seat that comes back on the date is held
-- for the first waiter under the per-concert limit, as a hold in their
-- name (`hold_id`) that ends at `offer_expires_at_ms`. An offer paid is
-- BOUGHT; released or left to end, LAPSED, and the seat passes on.
CREATE TABLE waitlist_entry (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id         BIGINT NOT NULL REFERENCES schedule (id),
    concert_id          BIGINT NOT NULL,
    user_id             BIGINT NOT NULL,
    joined_at_ms        BIGINT NOT NULL,
    status              TEXT   NOT NULL
        CHECK (status IN ('WAITING', 'OFFERED', 'BOUGHT', 'LAPSED', 'LEFT')),
    hold_id             TEXT   REFERENCES seat_hold (id),
    offer_expires_at_ms BIGINT,
    closed_at_ms        BIGINT
);
-- One open place per fan and date; a fan who left or let an offer lapse
-- may join again, at the back.
CREATE UNIQUE INDEX waitlist_one_open_entry ON waitlist_entry (schedule_id, user_id)
    WHERE status IN ('WAITING', 'OFFERED');
-- The line of a date, in joining order, and the guard every hold asks.
CREATE INDEX waitlist_waiting ON waitlist_entry (schedule_id, id) WHERE status = 'WAITING';
-- The offer round settles open offers.
CREATE INDEX waitlist_offered ON waitlist_entry (id) WHERE status = 'OFFERED';
CREATE INDEX waitlist_by_user ON waitlist_entry (user_id, id);

-- The one-call hold asks the same guard as the statement-by-statement
-- hold, after the fan's limits and before the claim. Same signature and
-- outcomes, so a previous binary keeps calling it during a rolling deploy.
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
    -- While fans wait on the date's list, a seat that comes back is theirs.
    IF EXISTS (SELECT 1 FROM waitlist_entry w
                WHERE w.schedule_id = p_schedule_id AND w.status = 'WAITING') THEN
        outcome := 'SEAT_TAKEN';
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
