-- The organiser may call off a date, or every date of a concert
-- (`POST /api/v1/admin/concerts/{id}/cancel`). A called-off date holds no
-- new seat and its live holds are released in the same transaction; every
-- reservation on it is then refunded in full, a batch at a time, by each
-- instance's refund round (decision 0019). NULL: the date goes ahead.
ALTER TABLE schedule ADD COLUMN cancelled_at_ms BIGINT;

-- The refund round's search: the few called-off dates, then their
-- confirmed reservations through reservation_one_per_seat.
CREATE INDEX schedule_cancelled ON schedule (id) WHERE cancelled_at_ms IS NOT NULL;

-- Calling a date off releases its live holds.
CREATE INDEX seat_hold_active_by_schedule ON seat_hold (schedule_id) WHERE status = 'ACTIVE';
