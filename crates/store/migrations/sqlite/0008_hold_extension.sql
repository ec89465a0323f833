-- A fan may extend a live hold once (`POST /api/v1/holds/{id}/extend`):
-- `extended` records that they did, so a second extension is refused.
-- Holds taken before this migration were never extended.
ALTER TABLE seat_hold ADD COLUMN extended BIGINT NOT NULL DEFAULT 0 CHECK (extended IN (0, 1));
