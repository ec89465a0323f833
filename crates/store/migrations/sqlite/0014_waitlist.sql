-- A sold-out date's waiting list (decision 0020). A fan joins once per
-- date; while anyone waits, a seat that comes back on the date is held
-- for the first waiter under the per-concert limit, as a hold in their
-- name (`hold_id`) that ends at `offer_expires_at_ms`. An offer paid is
-- BOUGHT; released or left to end, LAPSED, and the seat passes on.
CREATE TABLE waitlist_entry (
    id                  INTEGER PRIMARY KEY,
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
