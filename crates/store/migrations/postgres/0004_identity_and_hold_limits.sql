-- Who is calling (decision 0011) and hold limits against hoarding.
--
-- subject: identity providers' subjects that are not numeric user ids,
-- each given a user id from 2^52 up, once and for ever.
-- signing_secret: secrets every instance must share (the key that signs
-- queue tickets, admission passes and challenges), stored by the first
-- instance that needed one.
-- concert.proof_of_work_bits: the concert's bot gate.
-- seat_hold_by_user: the hold limits count a fan's live and lapsed holds in
-- one range scan; it replaces the partial index on live holds.

CREATE SEQUENCE subject_user_id START WITH 4503599627370496;

CREATE TABLE subject (
    subject       TEXT   PRIMARY KEY,
    user_id       BIGINT NOT NULL UNIQUE DEFAULT nextval('subject_user_id')
);

CREATE TABLE signing_secret (
    purpose       TEXT   PRIMARY KEY,
    secret_hex    TEXT   NOT NULL
);

ALTER TABLE concert ADD COLUMN proof_of_work_bits BIGINT
    CHECK (proof_of_work_bits BETWEEN 1 AND 30);

DROP INDEX seat_hold_live_by_user;
CREATE INDEX seat_hold_by_user ON seat_hold (user_id, expires_at_ms);

-- The one-call hold, now with the hold limits of `HoldLimits::refusal`
-- (crates/core/src/domain/seat_hold.rs), restated here in the same order:
-- too many lapsed holds, then the live limit, then the live limit of an
-- empty balance.
--
-- Outcomes: HELD (with the seat's price and concert), LAPSED_LIMIT,
-- LIVE_LIMIT, UNFUNDED_LIMIT, NO_SUCH_SEAT, SEAT_SOLD, SEAT_TAKEN.
DROP FUNCTION boxoffice_hold_seat(TEXT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT);

CREATE FUNCTION boxoffice_hold_seat(
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
    OUT outcome     TEXT,
    OUT held_price  BIGINT,
    OUT held_concert_id BIGINT
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    live       BIGINT;
    lapsed     BIGINT;
    funds      BIGINT;
    seat_state TEXT;
BEGIN
    -- The same lock key as the statement-by-statement transaction, so both
    -- forms exclude each other.
    PERFORM pg_advisory_xact_lock(hashtextextended('boxoffice.holds.' || p_user_id::text, 0));
    SELECT COUNT(*) FILTER (WHERE h.status = 'ACTIVE' AND h.expires_at_ms > p_now_ms),
           COUNT(*) FILTER (WHERE h.status = 'RELEASED'
                               OR (h.status = 'ACTIVE' AND h.expires_at_ms <= p_now_ms)),
           (SELECT COALESCE(MAX(b.amount), 0) FROM balance b WHERE b.user_id = p_user_id)
      INTO live, lapsed, funds
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

    UPDATE seat s
       SET status = 'HELD', hold_id = p_hold_id, held_until_ms = p_expires_at_ms, version = s.version + 1
     WHERE s.schedule_id = p_schedule_id AND s.seat_number = p_seat_number
       AND (s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until_ms <= p_now_ms))
    RETURNING s.price, (SELECT c.concert_id FROM schedule c WHERE c.id = p_schedule_id)
         INTO held_price, held_concert_id;
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

    INSERT INTO seat_hold
        (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms, status)
    VALUES (p_hold_id, p_user_id, held_concert_id, p_schedule_id, p_seat_number, held_price,
            p_now_ms, p_expires_at_ms, 'ACTIVE');
    outcome := 'HELD';
END;
$$;
