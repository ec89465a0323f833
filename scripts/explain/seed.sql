-- Fills a PostgreSQL schema (already migrated) with at least 100,000 rows
-- per table, shaped like a busy season: 100,000 concerts of one date each
-- (5,000,000 seats), a sale in progress, and a long history.
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO concert (id, title, artist, created_at_ms)
SELECT g, 'Concert ' || g, 'Artist ' || (g % 997), 0 FROM generate_series(1, 100000) g;
INSERT INTO schedule (id, concert_id, starts_at_ms, venue)
SELECT g, g, 1900000000000 + g * 1000, 'Hall ' || (g % 50) FROM generate_series(1, 100000) g;
INSERT INTO seat (schedule_id, seat_number, grade, price, status, hold_id, held_until_ms)
SELECT s, n, CASE WHEN n <= 10 THEN 'VIP' ELSE 'R' END, 90000,
       CASE WHEN (s * 50 + n) % 10 = 0 THEN 'SOLD' WHEN (s * 50 + n) % 10 = 1 THEN 'HELD' ELSE 'AVAILABLE' END,
       CASE WHEN (s * 50 + n) % 10 = 1 THEN 'hold-' || s || '-' || n END,
       CASE WHEN (s * 50 + n) % 10 = 1 THEN 1800000000000 + (s * 50 + n) END
  FROM generate_series(1, 100000) s, generate_series(1, 50) n;
INSERT INTO seat_hold (id, user_id, concert_id, schedule_id, seat_number, price, created_at_ms, expires_at_ms, status)
SELECT 'hold-' || s || '-' || n, (s * 50 + n) % 200000 + 1, s, s, n, 90000, 1799999700000, 1800000000000 + (s * 50 + n),
       CASE WHEN s % 4 = 0 THEN 'ACTIVE' WHEN s % 4 = 1 THEN 'CONSUMED' ELSE 'RELEASED' END
  FROM generate_series(1, 40000) s, generate_series(1, 5) n;
INSERT INTO balance (user_id, amount, updated_at_ms)
SELECT g, (g * 7919) % 1000000, 0 FROM generate_series(1, 200000) g;
INSERT INTO balance_entry (user_id, kind, amount, balance_after, reference, created_at_ms)
SELECT g % 200000 + 1, CASE WHEN g % 3 = 0 THEN 'PAYMENT' ELSE 'CHARGE' END, 1000, 5000, 'ref-' || g, g
  FROM generate_series(1, 300000) g;
INSERT INTO reservation (id, user_id, concert_id, schedule_id, seat_number, price, hold_id, confirmed_at_ms)
SELECT 'res-' || s || '-' || n, (s * 50 + n) % 200000 + 1, s, s, n, 90000, 'paid-' || s || '-' || n, 1700000000000 + s * 50 + n
  FROM generate_series(1, 100000) s, generate_series(10, 50, 10) n;
INSERT INTO idempotency_key (user_id, scope, key, fingerprint, response, lease_until_ms, created_at_ms)
SELECT g, 'payment', 'key-' || g, 'fp', '{}', 0, g FROM generate_series(1, 100000) g;
INSERT INTO outbox (id, event_type, schema_version, aggregate_key, payload, created_at_ms, published_at_ms)
SELECT 'evt-' || g, 'ReservationConfirmed', 1, 'res-' || g, '{}', g, CASE WHEN g <= 199000 THEN g + 1 END
  FROM generate_series(1, 200000) g;
-- Users charge more than once: some keys have several pending events.
INSERT INTO outbox (id, event_type, schema_version, aggregate_key, payload, created_at_ms)
SELECT 'evt-user-' || g, 'BalanceCharged', 1, 'user-' || (g % 300), '{}', 200000 + g
  FROM generate_series(1, 1000) g;
INSERT INTO consumed_event (consumer, event_id, consumed_at_ms)
SELECT 'boxoffice.dataplatform', 'evt-' || g, g FROM generate_series(1, 199000) g;
INSERT INTO event_inbox (consumer, event_id, event_type, schema_version, aggregate_key, payload, created_at_ms)
SELECT 'boxoffice.dataplatform', 'inbox-' || g, 'ReservationConfirmed', 1, 'res-' || g, '{}', g
  FROM generate_series(1, 100000) g;
INSERT INTO dead_letter (consumer, event_id, event_type, schema_version, aggregate_key, payload,
                         created_at_ms, attempts, last_error, failed_at_ms)
SELECT 'boxoffice.dataplatform', 'dead-' || g, 'ReservationConfirmed', 1, 'res-' || g, '{}', g, 8, '503', g
  FROM generate_series(1, 1000) g;
INSERT INTO subject (subject)
SELECT 'auth0|subject-' || g FROM generate_series(1, 100000) g;
COMMIT;
ANALYZE;
