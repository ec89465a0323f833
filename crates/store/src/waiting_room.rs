//! The waiting room in PostgreSQL (`queue.room = "postgres"`): the room
//! for a deployment that has PostgreSQL and no Redis, and the relational
//! mode of the queue-entry comparison (decision 0003, docs/performance.md).
//!
//! It keeps what the memory and Redis rooms keep, in the tables of
//! migration `0017_waiting_room`: one `queue_token` row per token, with its
//! phase; a place in line is the number of waiting tokens of the concert
//! whose line key is at most the token's, counted through a partial index,
//! so a poll costs O(length of the line), unlike Redis's O(log n). Every
//! call first sweeps its concert in one statement (ended admissions,
//! abandoned tokens, expired tokens past their retention), so an ended
//! token is never counted.
//!
//! Concurrency, on READ COMMITTED:
//! - entries, admission rounds, taking the pre-queue and placing the draw
//!   take the concert's advisory lock, one at a time. So a new token's
//!   place counts every token that took a key before it (two entries at
//!   once never share a place), an admission round sees every entry ahead
//!   (nobody is passed over by one who came later), and no entry slips
//!   between the draw's renumbering and its placing. Entries of one concert
//!   are serialised: the price of a line kept in SQL;
//! - one live token per fan and concert is a partial unique index: two
//!   entries at once make one token;
//! - appends to the revocation feed take one advisory lock, so the feed's
//!   order is the order its rows commit in and a reader never skips one.

use crate::errors::DbResult;
use anyhow::{Context, anyhow};
use async_trait::async_trait;
use boxoffice_core::domain::queue_token::{Lane, QueuePolicy, QueueToken, Rejoin, TokenState};
use boxoffice_core::domain::{ConcertId, Timestamp, TokenId, UserId};
use boxoffice_core::ports::{
    AdmitOutcome, Census, PreQueueDraw, Revocation, RevocationPage, WaitingRoom,
};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Row};

/// `queue_token.phase`.
const RESERVED: i16 = 0;
const PRE_QUEUED: i16 = 1;
const WAITING: i16 = 2;
const ACTIVE: i16 = 3;
const EXPIRED: i16 = 4;

/// The span of line keys each renumbering of a line starts afresh in.
const KEY_EPOCH: i64 = 1 << 40;

const LOCK_LINE: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('boxoffice.queue.' || $1::text, 0))";
const LOCK_FEED: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('boxoffice.queue.revocations', 0))";

/// Ends what has ended for one concert: ACTIVE tokens past their expiry,
/// unseen tokens past abandonment (counted as no-shows), and forgets
/// expired tokens past their retention. $1 concert, $2 now, $3 abandon
/// after, $4 retention (milliseconds).
const SWEEP: &str = "WITH ended AS (
        UPDATE queue_token SET phase = 4, expired_at_ms = expires_at_ms, expires_at_ms = NULL
         WHERE concert_id = $1 AND phase = 3 AND expires_at_ms <= $2
        RETURNING 1
    ), gone AS (
        UPDATE queue_token
           SET phase = 4, expired_at_ms = last_seen_ms + $3, last_seen_ms = NULL, line_key = NULL
         WHERE concert_id = $1 AND phase < 3 AND last_seen_ms <= $2 - $3
        RETURNING 1
    ), forgotten AS (
        DELETE FROM queue_token
         WHERE concert_id = $1 AND phase = 4 AND expired_at_ms <= $2 - $4
        RETURNING 1
    ), counted AS (
        UPDATE queue_line SET abandoned_total = abandoned_total + (SELECT COUNT(*) FROM gone)
         WHERE concert_id = $1 AND EXISTS (SELECT 1 FROM gone)
        RETURNING 1
    )
    -- Each step above runs once, whether or not this reads it.
    SELECT 1";

/// Tokens of one concert as they stand, each waiting one with its place.
/// $1 tokens, $2 concert, $3 the instant before which expired ones count as
/// forgotten (now less the retention).
const VIEW: &str = "SELECT t.token, t.user_id, t.issued_at_ms, t.phase, t.last_seen_ms,
           t.expires_at_ms, t.expired_at_ms,
           CASE WHEN t.phase = 2 THEN
               (SELECT COUNT(*) FROM queue_token w
                 WHERE w.concert_id = t.concert_id AND w.phase = 2 AND w.line_key <= t.line_key)
           END AS place
      FROM queue_token t
     WHERE t.token = ANY($1) AND t.concert_id = $2
       AND NOT (t.phase = 4 AND t.expired_at_ms <= $3)";

/// A sign of life from the holders of reserved, pre-queued and waiting tokens.
const TOUCH: &str = "UPDATE queue_token SET last_seen_ms = GREATEST(last_seen_ms, $2)
     WHERE token = ANY($1) AND concert_id = $3 AND phase < 3";

/// A token arrives: migration 0017's `boxoffice_queue_arrive`, one call
/// under the concert's lock.
const ARRIVE: &str = "SELECT boxoffice_queue_arrive($1, $2, $3, $4, $5)";

/// The front of the line becomes ACTIVE, each admission logged, the
/// running total counted. $1 concert, $2 slots, $3 expiry, $4 now.
const ADMIT: &str = "WITH front AS (
        SELECT token, line_key FROM queue_token
         WHERE concert_id = $1 AND phase = 2
         ORDER BY line_key
         LIMIT $2
           FOR UPDATE
    ), admitted AS (
        UPDATE queue_token t
           SET phase = 3, expires_at_ms = $3, line_key = NULL, last_seen_ms = NULL
          FROM front f
         WHERE t.token = f.token
        RETURNING f.line_key
    ), logged AS (
        INSERT INTO queue_admission (concert_id, line_key, admitted_at_ms)
        SELECT $1, line_key, $4 FROM admitted
        RETURNING 1
    )
    UPDATE queue_line SET admitted_total = admitted_total + (SELECT COUNT(*) FROM logged)
     WHERE concert_id = $1
    RETURNING (SELECT COUNT(*) FROM logged), admitted_total, abandoned_total";

#[derive(Debug, Clone)]
pub struct PgWaitingRoom {
    pool: PgPool,
}

/// How a token arrives in the room, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    Enter(Lane),
    Reserve,
    Place(Lane),
}

impl PgWaitingRoom {
    /// The room on the store's pool; its tables come with the store's migrations.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn sweep(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<()> {
        sqlx::query(SWEEP)
            .bind(concert.get())
            .bind(now.as_millis())
            .bind(secs_to_ms(policy.abandon_after_secs))
            .bind(secs_to_ms(policy.expired_retention_secs))
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    /// `enter`, `reserve` and `place` (see the port). `None` only from
    /// `place`, when `candidate` is not the fan's live token.
    async fn arrive(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        how: Arrival,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.sweep(concert, now, policy).await?;
        let how = match how {
            Arrival::Enter(Lane::Line) => 0,
            Arrival::Enter(Lane::PreQueue) => 1,
            Arrival::Reserve => 2,
            Arrival::Place(Lane::Line) => 3,
            Arrival::Place(Lane::PreQueue) => 4,
        };
        let mut conn = self.pool.acquire().await.db()?;
        let answer: Option<Vec<u8>> = sqlx::query_scalar(ARRIVE)
            .bind(concert.get())
            .bind(user.get())
            .bind(candidate.as_bytes().as_slice())
            .bind(now.as_millis())
            .bind(how as i16)
            .fetch_one(&mut *conn)
            .await
            .db()?;
        let Some(answer) = answer else {
            return Ok(None);
        };
        let token = TokenId::from_bytes(
            answer
                .try_into()
                .map_err(|_| anyhow!("a queue token of the wrong length"))?,
        );
        // Counted once the call committed and gave the lock back: every
        // token that took a key before this one has committed, so its place
        // is final.
        Ok(view(&mut conn, concert, &[token], now, policy)
            .await?
            .pop()
            .flatten())
    }

    /// The tokens as they stand now, in the order asked; `None` for those
    /// unknown or of another concert. `touched`: counts as a poll.
    async fn look(
        &self,
        concert: ConcertId,
        tokens: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
        touched: bool,
    ) -> anyhow::Result<Vec<Option<QueueToken>>> {
        self.sweep(concert, now, policy).await?;
        let mut conn = self.pool.acquire().await.db()?;
        if touched {
            touch(&mut conn, concert, tokens, now).await?;
        }
        view(&mut conn, concert, tokens, now, policy).await
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

async fn lock(
    conn: &mut PgConnection,
    statement: &'static str,
    concert: ConcertId,
) -> anyhow::Result<()> {
    sqlx::query(statement)
        .bind(concert.get())
        .execute(conn)
        .await
        .db()?;
    Ok(())
}

async fn touch(
    conn: &mut PgConnection,
    concert: ConcertId,
    tokens: &[TokenId],
    now: Timestamp,
) -> anyhow::Result<()> {
    sqlx::query(TOUCH)
        .bind(token_bytes(tokens))
        .bind(now.as_millis())
        .bind(concert.get())
        .execute(conn)
        .await
        .db()?;
    Ok(())
}

async fn view(
    conn: &mut PgConnection,
    concert: ConcertId,
    tokens: &[TokenId],
    now: Timestamp,
    policy: &QueuePolicy,
) -> anyhow::Result<Vec<Option<QueueToken>>> {
    let forgotten_before = now.as_millis() - secs_to_ms(policy.expired_retention_secs);
    let rows = sqlx::query(VIEW)
        .bind(token_bytes(tokens))
        .bind(concert.get())
        .bind(forgotten_before)
        .fetch_all(conn)
        .await
        .db()?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        found.push(token_view(row, concert, policy)?);
    }
    Ok(tokens
        .iter()
        .map(|asked| found.iter().find(|t| t.token == *asked).copied())
        .collect())
}

fn token_bytes(tokens: &[TokenId]) -> Vec<[u8; 16]> {
    tokens.iter().map(|t| *t.as_bytes()).collect()
}

fn token_of(row: &PgRow, column: usize) -> anyhow::Result<TokenId> {
    let bytes: Vec<u8> = row.try_get(column)?;
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| anyhow!("a queue token of the wrong length"))?;
    Ok(TokenId::from_bytes(bytes))
}

fn token_view(row: &PgRow, concert: ConcertId, policy: &QueuePolicy) -> anyhow::Result<QueueToken> {
    let millis = |column: &str| -> anyhow::Result<Timestamp> {
        let value: Option<i64> = row.try_get(column)?;
        value
            .map(Timestamp::from_millis)
            .with_context(|| format!("queue_token.{column} is NULL in its phase"))
    };
    let phase: i16 = row.try_get("phase")?;
    let state = match phase {
        RESERVED => TokenState::Waiting {
            position: None,
            abandoned_at: policy.abandoned_at(millis("last_seen_ms")?),
        },
        PRE_QUEUED => TokenState::PreQueue {
            abandoned_at: policy.abandoned_at(millis("last_seen_ms")?),
        },
        WAITING => {
            let place: Option<i64> = row.try_get("place")?;
            TokenState::Waiting {
                position: Some(place.and_then(|p| u64::try_from(p).ok()).unwrap_or(1)),
                abandoned_at: policy.abandoned_at(millis("last_seen_ms")?),
            }
        }
        ACTIVE => TokenState::Active {
            expires_at: millis("expires_at_ms")?,
        },
        EXPIRED => TokenState::Expired {
            expired_at: millis("expired_at_ms")?,
        },
        other => return Err(anyhow!("queue_token.phase {other} is not a phase")),
    };
    let user: i64 = row.try_get("user_id")?;
    Ok(QueueToken {
        token: token_of(row, 0)?,
        concert_id: concert,
        user_id: UserId::new(user).map_err(|e| anyhow!("queue_token.user_id: {e}"))?,
        issued_at: Timestamp::from_millis(row.try_get("issued_at_ms")?),
        state,
        // The line is kept in PostgreSQL: it is never lost, so there is
        // one epoch.
        epoch: 0,
    })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl WaitingRoom for PgWaitingRoom {
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        lane: Lane,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, Arrival::Enter(lane))
            .await?
            .ok_or_else(|| anyhow!("a token vanished while it was being issued"))
    }

    async fn reserve(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, Arrival::Reserve)
            .await?
            .ok_or_else(|| anyhow!("a token vanished while it was being reserved"))
    }

    async fn place(
        &self,
        concert: ConcertId,
        user: UserId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        lane: Lane,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.arrive(concert, user, token, now, policy, Arrival::Place(lane))
            .await
    }

    async fn poll(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        Ok(self
            .look(concert, &[token], now, policy, true)
            .await?
            .pop()
            .flatten())
    }

    async fn rejoin(
        &self,
        _: &Rejoin,
        _: Timestamp,
        _: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        // A token this room does not know ended, or never was: nothing was lost.
        Ok(None)
    }

    async fn peek(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        Ok(self
            .look(concert, &[token], now, policy, false)
            .await?
            .pop()
            .flatten())
    }

    async fn poll_many(
        &self,
        concert: ConcertId,
        tokens: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Vec<Option<QueueToken>>> {
        self.look(concert, tokens, now, policy, true).await
    }

    async fn admit(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<AdmitOutcome> {
        self.sweep(concert, now, policy).await?;
        let mut tx = self.pool.begin().await.db()?;
        lock(&mut tx, LOCK_LINE, concert).await?;
        let Some(line) = sqlx::query(
            "SELECT taken, placed, admitted_total, abandoned_total,
                    (SELECT COUNT(*) FROM queue_token WHERE concert_id = $1 AND phase = 2),
                    (SELECT COUNT(*) FROM queue_token WHERE concert_id = $1 AND phase = 3)
               FROM queue_line WHERE concert_id = $1",
        )
        .bind(concert.get())
        .fetch_optional(&mut *tx)
        .await
        .db()?
        else {
            return Ok(AdmitOutcome::default());
        };
        let (taken, placed): (bool, bool) = (line.try_get(0)?, line.try_get(1)?);
        let mut outcome = AdmitOutcome {
            waiting_before: count(line.try_get(4)?),
            active_before: count(line.try_get(5)?),
            draw_pending: taken && !placed,
            admitted_total: count(line.try_get(2)?),
            abandoned_total: count(line.try_get(3)?),
            ..AdmitOutcome::default()
        };
        let slots = if outcome.draw_pending {
            0
        } else {
            policy.admission_slots(outcome.active_before)
        };
        if slots > 0 && outcome.waiting_before > 0 {
            let admitted = sqlx::query(ADMIT)
                .bind(concert.get())
                .bind(i64::try_from(slots).unwrap_or(i64::MAX))
                .bind(policy.active_until(now).as_millis())
                .bind(now.as_millis())
                .fetch_one(&mut *tx)
                .await
                .db()?;
            outcome.admitted = count(admitted.try_get(0)?);
            outcome.admitted_total = count(admitted.try_get(1)?);
            outcome.abandoned_total = count(admitted.try_get(2)?);
        }
        tx.commit().await.db()?;
        Ok(outcome)
    }

    async fn take_pre_queue(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<PreQueueDraw> {
        self.sweep(concert, now, policy).await?;
        let mut tx = self.pool.begin().await.db()?;
        lock(&mut tx, LOCK_LINE, concert).await?;
        sqlx::query(
            "INSERT INTO queue_line (concert_id) VALUES ($1) ON CONFLICT (concert_id) DO NOTHING",
        )
        .bind(concert.get())
        .execute(&mut *tx)
        .await
        .db()?;
        let first = sqlx::query(
            "UPDATE queue_line SET taken = true WHERE concert_id = $1 AND NOT taken RETURNING 1",
        )
        .bind(concert.get())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if first.is_some() {
            sqlx::query(
                "INSERT INTO queue_draw (concert_id, token)
                 SELECT concert_id, token FROM queue_token WHERE concert_id = $1 AND phase = 1",
            )
            .bind(concert.get())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        let rows = sqlx::query(
            "SELECT d.token, l.placed FROM queue_line l
               LEFT JOIN queue_draw d ON d.concert_id = l.concert_id
              WHERE l.concert_id = $1
              ORDER BY d.token",
        )
        .bind(concert.get())
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        let mut draw = PreQueueDraw {
            entries: Vec::with_capacity(rows.len()),
            placed: false,
        };
        for row in &rows {
            draw.placed = row.try_get(1)?;
            if row.try_get::<Option<Vec<u8>>, _>(0)?.is_some() {
                draw.entries.push(token_of(row, 0)?);
            }
        }
        Ok(draw)
    }

    async fn place_drawn(
        &self,
        concert: ConcertId,
        order: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<bool> {
        self.sweep(concert, now, policy).await?;
        let mut tx = self.pool.begin().await.db()?;
        lock(&mut tx, LOCK_LINE, concert).await?;
        let line = sqlx::query(
            "SELECT key_base FROM queue_line WHERE concert_id = $1 AND taken AND NOT placed",
        )
        .bind(concert.get())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(line) = line else {
            return Ok(false);
        };
        let key_base: i64 = line.try_get(0)?;
        // The drawn entries go first, then whoever arrived since the
        // opening, in their order: each in a key span of its own above every
        // key the line had.
        let (drawn_base, later_base) = (key_base + KEY_EPOCH, key_base + 2 * KEY_EPOCH);
        sqlx::query(
            "UPDATE queue_token SET line_key = line_key - $2 + $3
              WHERE concert_id = $1 AND phase = 2",
        )
        .bind(concert.get())
        .bind(key_base)
        .bind(later_base)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "UPDATE queue_token t SET phase = 2, line_key = $3 + d.place
               FROM unnest($2::bytea[]) WITH ORDINALITY AS d(token, place)
              WHERE t.token = d.token AND t.concert_id = $1 AND t.phase = 1",
        )
        .bind(concert.get())
        .bind(token_bytes(order))
        .bind(drawn_base)
        .execute(&mut *tx)
        .await
        .db()?;
        sqlx::query("UPDATE queue_line SET placed = true, key_base = $2 WHERE concert_id = $1")
            .bind(concert.get())
            .bind(later_base)
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn census(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Census> {
        self.sweep(concert, now, policy).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE phase = 1), COUNT(*) FILTER (WHERE phase = 2),
                    COUNT(*) FILTER (WHERE phase = 3)
               FROM queue_token WHERE concert_id = $1 AND phase BETWEEN 1 AND 3",
        )
        .bind(concert.get())
        .fetch_one(&self.pool)
        .await
        .db()?;
        Ok(Census {
            pre_queued: count(row.try_get(0)?),
            waiting: count(row.try_get(1)?),
            active: count(row.try_get(2)?),
        })
    }

    async fn expire(
        &self,
        concert: ConcertId,
        user: UserId,
        issued_by: Timestamp,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut tx = self.pool.begin().await.db()?;
        let live = sqlx::query(
            "SELECT token, phase, issued_at_ms, expires_at_ms FROM queue_token
              WHERE concert_id = $1 AND user_id = $2 AND phase < 4
                FOR UPDATE",
        )
        .bind(concert.get())
        .bind(user.get())
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(live) = live else {
            return Ok(None);
        };
        let token = token_of(&live, 0)?;
        let phase: i16 = live.try_get(1)?;
        if Timestamp::from_millis(live.try_get(2)?) > issued_by {
            return Ok(None);
        }
        let before = view(&mut tx, concert, &[token], now, policy)
            .await?
            .pop()
            .flatten();
        sqlx::query(
            "UPDATE queue_token
                SET phase = 4, expired_at_ms = $2, line_key = NULL, last_seen_ms = NULL,
                    expires_at_ms = NULL
              WHERE token = $1",
        )
        .bind(token.as_bytes().as_slice())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await
        .db()?;
        if phase == ACTIVE {
            // The pass it was admitted with is revoked.
            let pass_expires_at: Option<i64> = live.try_get(3)?;
            sqlx::query(LOCK_FEED).execute(&mut *tx).await.db()?;
            sqlx::query("INSERT INTO queue_revocation (token, pass_expires_at_ms) VALUES ($1, $2)")
                .bind(token.as_bytes().as_slice())
                .bind(pass_expires_at.context("an ACTIVE token without its expiry")?)
                .execute(&mut *tx)
                .await
                .db()?;
            sqlx::query("DELETE FROM queue_revocation WHERE pass_expires_at_ms <= $1")
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await
                .db()?;
        } else {
            // Left the line (or the pre-queue) before admission: a no-show.
            sqlx::query(
                "UPDATE queue_line SET abandoned_total = abandoned_total + 1 WHERE concert_id = $1",
            )
            .bind(concert.get())
            .execute(&mut *tx)
            .await
            .db()?;
        }
        tx.commit().await.db()?;
        Ok(before)
    }

    async fn revocations_since(&self, cursor: &str, limit: u32) -> anyhow::Result<RevocationPage> {
        let after: i64 = if cursor.is_empty() {
            0
        } else {
            cursor
                .parse()
                .with_context(|| format!("revocation cursor {cursor:?}"))?
        };
        let rows = sqlx::query(
            "SELECT seq, token, pass_expires_at_ms FROM queue_revocation
              WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut page = RevocationPage {
            revocations: Vec::with_capacity(rows.len()),
            cursor: after.to_string(),
        };
        for row in &rows {
            page.cursor = row.try_get::<i64, _>(0)?.to_string();
            page.revocations.push(Revocation {
                token: token_of(row, 1)?,
                pass_expires_at: Timestamp::from_millis(row.try_get(2)?),
            });
        }
        Ok(page)
    }

    async fn concerts_in_line(&self) -> anyhow::Result<Vec<ConcertId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT l.concert_id FROM queue_line l
              WHERE EXISTS (SELECT 1 FROM queue_token t WHERE t.concert_id = l.concert_id AND t.phase = 2)
                 OR EXISTS (SELECT 1 FROM queue_token t WHERE t.concert_id = l.concert_id AND t.phase = 3)
                 OR EXISTS (SELECT 1 FROM queue_token t WHERE t.concert_id = l.concert_id AND t.phase = 1)
              ORDER BY l.concert_id",
        )
        .fetch_all(&self.pool)
        .await
        .db()?;
        ids.into_iter()
            .map(|id| ConcertId::new(id).map_err(|e| anyhow!("queue_line.concert_id: {e}")))
            .collect()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        Ok(())
    }

    async fn admissions(&self, concert: ConcertId) -> anyhow::Result<Vec<(i64, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT line_key, admitted_at_ms FROM queue_admission WHERE concert_id = $1",
        )
        .bind(concert.get())
        .fetch_all(&self.pool)
        .await
        .db()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod contract {
    use super::PgWaitingRoom;
    use crate::PgStore;
    use crate::testing::fresh_pg;
    use std::sync::Arc;

    async fn fresh() -> Arc<PgWaitingRoom> {
        let settings = fresh_pg().await;
        let store = PgStore::connect(&settings, crate::Concurrency::Conditional)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        Arc::new(store.waiting_room())
    }

    boxoffice_core::waiting_room_contract_tests!(fresh().await);
}
