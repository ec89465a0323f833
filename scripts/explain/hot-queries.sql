-- The hot queries of a rush, exactly as the store runs them, with the
-- parameters of a typical call. Run by scripts/explain-hot-queries.
\set ON_ERROR_STOP on
\echo '### Seat list of one date'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT seat_number, grade, price, status, held_until_ms FROM seat WHERE schedule_id = 54321 ORDER BY seat_number;

\echo '### Dates of a concert with free seats'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT s.id, s.concert_id, s.starts_at_ms, s.venue,
       (SELECT COUNT(*) FROM seat t WHERE t.schedule_id = s.id
          AND (t.status = 'AVAILABLE' OR (t.status = 'HELD' AND t.held_until_ms <= 1800000001000))) AS available
  FROM schedule s WHERE s.concert_id = 54321 ORDER BY s.starts_at_ms, s.id;

\echo '### Hold: the fan''s live and lapsed holds and balance (the hold limits)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT
    COUNT(CASE WHEN status = 'ACTIVE' AND expires_at_ms > 1800000001000 THEN 1 END) AS live,
    COUNT(CASE WHEN status = 'RELEASED' OR (status = 'ACTIVE' AND expires_at_ms <= 1800000001000) THEN 1 END) AS lapsed,
    (SELECT COALESCE(MAX(b.amount), 0) FROM balance b WHERE b.user_id = 2) AS funds
  FROM seat_hold WHERE user_id = 2 AND expires_at_ms > 1799996401000;

\echo '### Hold: the conditional update of the seat'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
UPDATE seat SET status = 'HELD', hold_id = 'h', held_until_ms = 1800000300000, version = version + 1
 WHERE schedule_id = 54321 AND seat_number = 3
   AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until_ms <= 1800000001000))
RETURNING price, (SELECT concert_id FROM schedule WHERE id = 54321) AS concert_id;
ROLLBACK;

\echo '### Hold: the whole hold in one call (boxoffice_hold_seat runs the two statements above and an insert)'
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF)
SELECT outcome, held_price, held_concert_id
  FROM boxoffice_hold_seat('h-new', 3, 54321, 3, 1800000001000, 1800000300000, 1, 1, 3, 1799996401000);
ROLLBACK;

-- The payment on PostgreSQL (src/hot_paths.rs): two statements. User 2
-- holds hold-4000-1 (seat 1 of date 4000); the balance is topped up first.
\echo '### Payment: consume the hold and debit its price'
BEGIN;
UPDATE balance SET amount = 500000 WHERE user_id = 2;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
WITH consumed AS (
    UPDATE seat_hold SET status = 'CONSUMED'
     WHERE id = 'hold-4000-1' AND user_id = 2
       AND status = 'ACTIVE' AND expires_at_ms > 1800000000000
 RETURNING *
), debited AS (
    UPDATE balance b
       SET amount = b.amount - c.price, updated_at_ms = 1800000000000, version = b.version + 1
      FROM consumed c
     WHERE b.user_id = c.user_id AND b.amount >= c.price
 RETURNING b.amount
)
SELECT c.*, d.amount AS balance_after FROM consumed c LEFT JOIN debited d ON true;

\echo '### Payment: sell the seat; insert the reservation, ledger entry and event; record the answer'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
WITH sold AS (
    UPDATE seat SET status = 'SOLD', held_until_ms = NULL, version = version + 1
     WHERE schedule_id = 4000 AND seat_number = 1 AND hold_id = 'hold-4000-1' AND status = 'HELD'
 RETURNING seat_number
), reserved AS (
    INSERT INTO reservation
        (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms)
    SELECT 'res-new', 2, 4000, 4000, 1, 90000, 'hold-4000-1', 1800000000000 FROM sold
), entry AS (
    INSERT INTO balance_entry (user_id, kind, amount, balance_after, reference, created_at_ms)
    VALUES (2, 'PAYMENT', 90000, 410000, 'res-new', 1800000000000)
), event AS (
    INSERT INTO outbox (id, event_type, schema_version, aggregate_key, payload, created_at_ms)
    VALUES ('evt-new', 'ReservationConfirmed', 1, 'res-new', '{}', 1800000000000)
), answer AS (
    UPDATE idempotency_key SET response = '{}' WHERE user_id = 2 AND scope = 'payment' AND key = 'key-2'
)
SELECT COUNT(*) AS sold FROM sold;
ROLLBACK;

\echo '### Identity: the user id of a subject that is not a number'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT user_id FROM subject WHERE subject = 'auth0|subject-4242';

\echo '### Reservations of a user'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT * FROM reservation WHERE user_id = 4241 ORDER BY confirmed_at_ms DESC, id DESC;

\echo '### Outbox: a relay claims the oldest unpublished event of each key'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
UPDATE outbox SET claimed_until_ms = 1800000030000
 WHERE seq IN (
   SELECT o.seq FROM outbox o
    WHERE o.published_at_ms IS NULL
      AND (o.claimed_until_ms IS NULL OR o.claimed_until_ms <= 1800000000000)
      AND NOT EXISTS (SELECT 1 FROM outbox e
                       WHERE e.aggregate_key = o.aggregate_key
                         AND e.published_at_ms IS NULL
                         AND e.seq < o.seq)
    ORDER BY o.seq
    LIMIT 500 FOR UPDATE SKIP LOCKED)
RETURNING seq, id, event_type, schema_version, aggregate_key, payload, created_at_ms;
ROLLBACK;

\echo '### Consumer: was this event delivered?'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT 1 AS found FROM consumed_event
 WHERE consumer = 'boxoffice.dataplatform' AND event_id = 'evt-123456';

\echo '### Inbox: a consumer group reads its oldest rows'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT seq, event_id AS id, event_type, schema_version, aggregate_key, payload, created_at_ms
  FROM event_inbox WHERE consumer = 'boxoffice.dataplatform' ORDER BY seq LIMIT 100;

\echo '### Sweeper: ended holds'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
UPDATE seat_hold SET status = 'RELEASED'
 WHERE id IN (SELECT id FROM seat_hold WHERE status = 'ACTIVE' AND expires_at_ms <= 1800000000500
               ORDER BY expires_at_ms LIMIT 1000)
   AND status = 'ACTIVE';
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
UPDATE seat SET status = 'AVAILABLE', hold_id = NULL, held_until_ms = NULL, version = version + 1
 WHERE status = 'HELD' AND held_until_ms <= 1800000000500;
ROLLBACK;

\echo '### Row counts'
SELECT 'concert' AS t, COUNT(*) FROM concert UNION ALL SELECT 'schedule', COUNT(*) FROM schedule
UNION ALL SELECT 'seat', COUNT(*) FROM seat UNION ALL SELECT 'seat_hold', COUNT(*) FROM seat_hold
UNION ALL SELECT 'balance', COUNT(*) FROM balance UNION ALL SELECT 'balance_entry', COUNT(*) FROM balance_entry
UNION ALL SELECT 'reservation', COUNT(*) FROM reservation UNION ALL SELECT 'idempotency_key', COUNT(*) FROM idempotency_key
UNION ALL SELECT 'outbox', COUNT(*) FROM outbox UNION ALL SELECT 'consumed_event', COUNT(*) FROM consumed_event
UNION ALL SELECT 'event_inbox', COUNT(*) FROM event_inbox UNION ALL SELECT 'dead_letter', COUNT(*) FROM dead_letter
UNION ALL SELECT 'subject', COUNT(*) FROM subject;
