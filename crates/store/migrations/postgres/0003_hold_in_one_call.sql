-- A seat hold in one round trip (decision 0010). The function runs the same
-- statements, in the same order, as the shared hold transaction in
-- src/sql_store.rs: lock the user's holds, count the live ones, claim the
-- seat with a conditional update, insert the hold. Called as a single
-- statement it is its own transaction, so it needs no BEGIN or COMMIT round
-- trip either. PL/pgSQL takes a new snapshot for each statement of a
-- volatile function, so the count sees every hold committed before the lock
-- was granted, exactly as the statement-by-statement transaction does.
--
-- Outcomes: HELD (with the seat's price and concert), LIMIT_REACHED,
-- NO_SUCH_SEAT, SEAT_SOLD, SEAT_TAKEN.
CREATE FUNCTION boxoffice_hold_seat(
    p_hold_id       TEXT,
    p_user_id       BIGINT,
    p_schedule_id   BIGINT,
    p_seat_number   BIGINT,
    p_now_ms        BIGINT,
    p_expires_at_ms BIGINT,
    p_max_live      BIGINT,
    OUT outcome     TEXT,
    OUT held_price  BIGINT,
    OUT held_concert_id BIGINT
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    live       BIGINT;
    seat_state TEXT;
BEGIN
    -- The same lock key as the statement-by-statement transaction, so both
    -- forms exclude each other.
    PERFORM pg_advisory_xact_lock(hashtextextended('boxoffice.holds.' || p_user_id::text, 0));
    SELECT COUNT(*) INTO live FROM seat_hold h
     WHERE h.user_id = p_user_id AND h.status = 'ACTIVE' AND h.expires_at_ms > p_now_ms;
    IF live >= p_max_live THEN
        outcome := 'LIMIT_REACHED';
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
