-- A concert may have its own cancellation policy instead of the service's
-- (`PUT /api/v1/admin/concerts/{id}/cancellation-policy`): the deadline and
-- fee tiers as JSON, `{"deadlineSecs": 86400, "fees": [{"within_secs":
-- 604800, "percent": 10}]}`, checked by the domain again whenever it is read.
-- NULL: the service's policy. A cancellation reads it in its transaction.
ALTER TABLE concert ADD COLUMN cancellation_policy TEXT;
