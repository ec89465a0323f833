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

-- A token arrives: entered (p_how 0 the line, 1 the pre-queue), reserved
-- (2), or a reserved token placed (3 the line, 4 the pre-queue). Under the
-- concert's advisory lock, held until this call's transaction commits, so
-- that entries of a concert take their keys one at a time and a new token's
-- place, counted after the commit, is final. Returns the token to answer:
-- the fan's live token (a sign of life for a waiting one), the new one, or
-- NULL when a placed token is not the fan's live token any more.
CREATE FUNCTION boxoffice_queue_arrive(
    p_concert BIGINT, p_user BIGINT, p_candidate BYTEA, p_now BIGINT, p_how SMALLINT
) RETURNS BYTEA LANGUAGE plpgsql AS $$
DECLARE
    v_base  BIGINT;
    v_taken BOOLEAN;
    v_lane  SMALLINT;
    v_token BYTEA;
    v_phase SMALLINT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('boxoffice.queue.' || p_concert::text, 0));
    INSERT INTO queue_line (concert_id) VALUES (p_concert) ON CONFLICT (concert_id) DO NOTHING;
    SELECT key_base, taken INTO v_base, v_taken FROM queue_line WHERE concert_id = p_concert;
    -- The pre-queue once taken for the draw sends its entries to the line.
    v_lane := CASE WHEN p_how IN (1, 4) AND NOT v_taken THEN 1 ELSE 2 END;
    SELECT token, phase INTO v_token, v_phase FROM queue_token
     WHERE concert_id = p_concert AND user_id = p_user AND phase < 4;
    IF p_how >= 3 THEN
        IF v_token IS DISTINCT FROM p_candidate THEN
            RETURN NULL;
        END IF;
        IF v_phase = 0 THEN
            UPDATE queue_token
               SET phase = v_lane, last_seen_ms = p_now,
                   line_key = CASE WHEN v_lane = 2 THEN v_base + nextval('queue_line_key') END
             WHERE token = p_candidate;
        END IF;
        RETURN p_candidate;
    END IF;
    IF v_token IS NOT NULL THEN
        UPDATE queue_token SET last_seen_ms = GREATEST(last_seen_ms, p_now)
         WHERE token = v_token AND phase < 3;
        RETURN v_token;
    END IF;
    v_phase := CASE WHEN p_how = 2 THEN 0 ELSE v_lane END;
    INSERT INTO queue_token (token, concert_id, user_id, issued_at_ms, phase, line_key, last_seen_ms)
    VALUES (p_candidate, p_concert, p_user, p_now, v_phase,
            CASE WHEN v_phase = 2 THEN v_base + nextval('queue_line_key') END, p_now);
    RETURN p_candidate;
END
$$;
