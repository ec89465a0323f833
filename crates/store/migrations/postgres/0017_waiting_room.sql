-- The waiting room in PostgreSQL (queue.room = "postgres", decision 0003):
-- for deployments without Redis, and for comparing the three shared rooms.
-- Redis and process memory keep the same state; nothing else reads these
-- tables, and a room kept elsewhere leaves them empty.

-- One row per queue token. `phase`: 0 reserved (queue entry through Kafka,
-- no place yet), 1 pre-queued, 2 waiting in line, 3 active (admitted),
-- 4 expired. A waiting token's place is the number of waiting tokens of its
-- concert whose `line_key` is at most its own.
CREATE TABLE queue_token (
    token         BYTEA    PRIMARY KEY CHECK (length(token) = 16),
    concert_id    BIGINT   NOT NULL,
    user_id       BIGINT   NOT NULL,
    issued_at_ms  BIGINT   NOT NULL,
    phase         SMALLINT NOT NULL CHECK (phase BETWEEN 0 AND 4),
    line_key      BIGINT,
    last_seen_ms  BIGINT,
    expires_at_ms BIGINT,
    expired_at_ms BIGINT,
    CHECK ((phase = 2) = (line_key IS NOT NULL)),
    CHECK ((phase < 3) = (last_seen_ms IS NOT NULL)),
    CHECK ((phase = 3) = (expires_at_ms IS NOT NULL)),
    CHECK ((phase = 4) = (expired_at_ms IS NOT NULL))
);
-- One live token per fan and concert: two entries at once make one token.
CREATE UNIQUE INDEX queue_token_live_per_fan ON queue_token (concert_id, user_id)
    WHERE phase < 4;
-- The line: places are counted and admission takes from the front here.
CREATE INDEX queue_token_line ON queue_token (concert_id, line_key) WHERE phase = 2;
-- Abandonment: the least recently seen reserved, pre-queued and waiting tokens.
CREATE INDEX queue_token_by_last_seen ON queue_token (concert_id, last_seen_ms)
    WHERE phase < 3;
-- Admissions that ended, and the ACTIVE count against the cap.
CREATE INDEX queue_token_active ON queue_token (concert_id, expires_at_ms) WHERE phase = 3;
-- Expired tokens are forgotten after queue.expired_retention_secs.
CREATE INDEX queue_token_expired ON queue_token (concert_id, expired_at_ms) WHERE phase = 4;

-- Line keys grow across every concert; `queue_line.key_base` is added, so a
-- concert's drawn pre-queue can be put ahead of everyone who arrived after
-- the opening without renumbering the line again.
CREATE SEQUENCE queue_line_key;

-- One row per concert that ever had a line.
CREATE TABLE queue_line (
    concert_id      BIGINT  PRIMARY KEY,
    key_base        BIGINT  NOT NULL DEFAULT 0,
    -- The pre-queue was taken for the opening draw (its entries are in
    -- queue_draw), and then placed in line.
    taken           BOOLEAN NOT NULL DEFAULT false,
    placed          BOOLEAN NOT NULL DEFAULT false,
    admitted_total  BIGINT  NOT NULL DEFAULT 0,
    abandoned_total BIGINT  NOT NULL DEFAULT 0
);

-- The pre-queue as it was taken for the draw.
CREATE TABLE queue_draw (
    concert_id BIGINT NOT NULL,
    token      BYTEA  NOT NULL,
    PRIMARY KEY (concert_id, token)
);

-- Every admission, by line key: the audit of admission order.
CREATE TABLE queue_admission (
    concert_id     BIGINT NOT NULL,
    line_key       BIGINT NOT NULL,
    admitted_at_ms BIGINT NOT NULL
);
CREATE INDEX queue_admission_by_concert ON queue_admission (concert_id);

-- The revocation feed: admissions ended early, in the order they were
-- written (appends are serialised, so `seq` order is commit order).
CREATE TABLE queue_revocation (
    seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token              BYTEA  NOT NULL,
    pass_expires_at_ms BIGINT NOT NULL
);
CREATE INDEX queue_revocation_by_expiry ON queue_revocation (pass_expires_at_ms);
