-- Where an event came from (docs/events.md): the W3C traceparent and the
-- x-request-id of the request that wrote it, kept with the event through
-- the outbox, the embedded inbox and the dead letters. NULL: no request
-- wrote it (a background step), or it was written before this column.
ALTER TABLE outbox ADD COLUMN traceparent TEXT, ADD COLUMN request_id TEXT;
ALTER TABLE event_inbox ADD COLUMN traceparent TEXT, ADD COLUMN request_id TEXT;
ALTER TABLE dead_letter ADD COLUMN traceparent TEXT, ADD COLUMN request_id TEXT;
