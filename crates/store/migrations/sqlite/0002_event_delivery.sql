-- Event delivery (docs/events.md): relay claims on the outbox, and the
-- consumer side: what each consumer group processed, what it gave up on,
-- and the embedded mode's inbox standing in for Kafka topics.

-- A relay claims an unpublished event until this instant; a crashed relay's
-- claims lapse. The index finds each aggregate's oldest unpublished event.
ALTER TABLE outbox ADD COLUMN claimed_until_ms INTEGER;
CREATE INDEX outbox_unpublished_by_key ON outbox (aggregate_key, seq) WHERE published_at_ms IS NULL;

-- Events a consumer group is done with: a redelivered one is skipped.
CREATE TABLE consumed_event (
    consumer       TEXT   NOT NULL,
    event_id       TEXT   NOT NULL,
    consumed_at_ms INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Events a consumer group gave up on, for the operator to replay.
CREATE TABLE dead_letter (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer       TEXT   NOT NULL,
    event_id       TEXT   NOT NULL,
    event_type     TEXT   NOT NULL,
    schema_version INTEGER NOT NULL,
    aggregate_key  TEXT   NOT NULL,
    payload        TEXT   NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    last_error     TEXT   NOT NULL,
    failed_at_ms   INTEGER NOT NULL,
    replayed_at_ms INTEGER,
    CONSTRAINT dead_letter_once_per_consumer UNIQUE (consumer, event_id)
);

-- The embedded bus: relayed events queued per consumer group.
CREATE TABLE event_inbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer       TEXT   NOT NULL,
    event_id       TEXT   NOT NULL,
    event_type     TEXT   NOT NULL,
    schema_version INTEGER NOT NULL,
    aggregate_key  TEXT   NOT NULL,
    payload        TEXT   NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    CONSTRAINT event_inbox_once_per_consumer UNIQUE (consumer, event_id)
);
CREATE INDEX event_inbox_by_consumer ON event_inbox (consumer, seq);
