//! [`RedisWaitingRoom`]: the waiting room in Redis, shared by every instance.
//!
//! Per concert `c` (keys under the configured prefix):
//! - `q:{c}:wait`: sorted set of WAITING tokens by arrival number (`q:{c}:seq`);
//!   a position is `ZRANK + 1`, O(log n);
//! - `q:{c}:seen`: the same tokens by last poll, so abandoned ones are found in order;
//! - `q:{c}:active`: ACTIVE tokens by expiry;
//! - `t:{token}`: a hash with the token's concert, user, state and instants;
//! - `u:{c}:{user}`: the user's latest token for the concert;
//! - `lines`: the concerts with anyone WAITING or ACTIVE;
//! - `q:{c}:last_admitted`, `inversions`: the audit of admission order;
//! - `revoked`: a stream of admissions ended early (token, pass expiry),
//!   read by every instance to revoke admission passes; trimmed by Redis
//!   time to the last `active_ttl + 60 s`, so it holds every pass that
//!   could still be live.
//!
//! Every operation is one Lua script that first sweeps the concert (ends
//! ACTIVE tokens past their expiry, drops abandoned WAITING ones), so no
//! position ever counts a token that has ended. Time is the caller's `now`,
//! never Redis's clock, so tests can move it; expired tokens are kept, as
//! EXPIRED, for the retention, then forgotten (logically at once, and their
//! keys expire in real time).
//!
//! Redis Cluster is not supported: scripts touch a concert's keys and
//! token keys together (one Redis, or a primary with replicas, is).

use crate::connection::{Redis, classify};
use anyhow::{Context, bail};
use async_trait::async_trait;
use boxoffice_core::domain::queue_token::{QueuePolicy, QueueToken, TokenState};
use boxoffice_core::domain::{ConcertId, Timestamp, TokenId, UserId};
use boxoffice_core::ports::{Revocation, RevocationPage, WaitingRoom};
use redis::Script;
use std::sync::LazyLock;

/// Shared by every script. `ARGV[1]` is always the key prefix.
const PRELUDE: &str = r#"
local P = ARGV[1]
local function qk(c, name) return P .. 'q:' .. c .. ':' .. name end
local function tk(t) return P .. 't:' .. t end
local function uk(c, u) return P .. 'u:' .. c .. ':' .. u end
local SWEEP_LIMIT = 10000

local function expire_token(t, at, retention)
  local key = tk(t)
  redis.call('HSET', key, 'state', 'E', 'at', at)
  redis.call('PEXPIRE', key, retention)
  local h = redis.call('HMGET', key, 'concert', 'user')
  if h[1] and h[2] then
    local ukey = uk(h[1], h[2])
    if redis.call('GET', ukey) == t then redis.call('PEXPIRE', ukey, retention) end
  end
end

local function sweep(c, now, abandon, retention)
  local qa = qk(c, 'active')
  local ended = redis.call('ZRANGEBYSCORE', qa, '-inf', now, 'WITHSCORES', 'LIMIT', 0, SWEEP_LIMIT)
  for i = 1, #ended, 2 do
    redis.call('ZREM', qa, ended[i])
    expire_token(ended[i], ended[i + 1], retention)
  end
  local qs = qk(c, 'seen')
  local gone = redis.call('ZRANGEBYSCORE', qs, '-inf', now - abandon, 'WITHSCORES', 'LIMIT', 0, SWEEP_LIMIT)
  for i = 1, #gone, 2 do
    redis.call('ZREM', qs, gone[i])
    redis.call('ZREM', qk(c, 'wait'), gone[i])
    expire_token(gone[i], tonumber(gone[i + 1]) + abandon, retention)
  end
end

-- Only admission needs `lines` exact; the hot paths leave it to admission.
local function prune_line(c)
  if redis.call('ZCARD', qk(c, 'wait')) == 0 and redis.call('ZCARD', qk(c, 'active')) == 0 then
    redis.call('SREM', P .. 'lines', c)
  end
end

-- {state, concert, user, position, at, seen, issued}, or false for an unknown or forgotten token.
local function view(t, now, retention)
  local h = redis.call('HMGET', tk(t), 'state', 'concert', 'user', 'at', 'seen', 'issued')
  if not h[1] then return false end
  if h[1] == 'E' and now >= tonumber(h[4]) + retention then return false end
  local pos = 0
  if h[1] == 'W' then
    local r = redis.call('ZRANK', qk(h[2], 'wait'), t)
    if r then pos = r + 1 end
  end
  return {h[1], h[2], h[3], tostring(pos), tostring(h[4] or 0), tostring(h[5] or 0), tostring(h[6] or 0)}
end

local function touch(c, t, now)
  redis.call('ZADD', qk(c, 'seen'), 'XX', now, t)
  redis.call('HSET', tk(t), 'seen', now)
end
"#;

/// ARGV: prefix, concert, user, candidate token, now, abandon_ms,
/// retention_ms, mode: `enter`, `reserve` or `place` (see the port).
/// Reserved tokens (state `P`) are in `q:{c}:seen`, so they are abandoned
/// like WAITING ones, but not in `q:{c}:wait`: they have no position.
const ENTER: &str = r#"
local c, u, cand = ARGV[2], ARGV[3], ARGV[4]
local now, abandon, retention = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local mode = ARGV[8]
sweep(c, now, abandon, retention)
local issued = now
local existing = redis.call('GET', uk(c, u))
local live = false
if existing then
  live = view(existing, now, retention)
  if live and live[1] == 'E' then live = false end
end
if mode == 'place' then
  if not live or existing ~= cand then return false end
  if live[1] ~= 'P' then
    table.insert(live, 1, existing)
    return live
  end
  -- The reserved token's entry arrived: it joins the line below.
  issued = redis.call('HGET', tk(cand), 'issued')
elseif live then
  if live[1] == 'W' or live[1] == 'P' then
    -- Asking again is a sign of life; the position does not change.
    touch(c, existing, now)
    live[6] = tostring(now)
  end
  table.insert(live, 1, existing)
  return live
end
redis.call('ZADD', qk(c, 'seen'), now, cand)
if mode == 'reserve' then
  redis.call('HSET', tk(cand), 'state', 'P', 'concert', c, 'user', u, 'issued', issued, 'seen', now, 'at', 0)
else
  local seq = redis.call('INCR', qk(c, 'seq'))
  redis.call('ZADD', qk(c, 'wait'), seq, cand)
  redis.call('HSET', tk(cand), 'state', 'W', 'concert', c, 'user', u, 'issued', issued, 'seen', now, 'at', 0)
end
redis.call('SET', uk(c, u), cand)
redis.call('SADD', P .. 'lines', c)
local v = view(cand, now, retention)
table.insert(v, 1, cand)
return v
"#;

/// ARGV: prefix, token, now, abandon_ms, retention_ms, touch (1 or 0).
const LOOK: &str = r#"
local t = ARGV[2]
local now, abandon, retention = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local c = redis.call('HGET', tk(t), 'concert')
if not c then return false end
sweep(c, now, abandon, retention)
local v = view(t, now, retention)
if v and (v[1] == 'W' or v[1] == 'P') and ARGV[6] == '1' then
  -- A poll is a sign of life; the position does not change.
  touch(c, t, now)
  v[6] = tostring(now)
end
return v
"#;

/// ARGV: prefix, concert, now, abandon_ms, retention_ms, batch, cap, active_ttl_ms.
const ADMIT: &str = r#"
local c = ARGV[2]
local now, abandon, retention = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local batch, cap, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
sweep(c, now, abandon, retention)
prune_line(c)
local active = redis.call('ZCARD', qk(c, 'active'))
local slots = math.min(batch, cap - active)
if slots <= 0 then return 0 end
local next = redis.call('ZRANGE', qk(c, 'wait'), 0, slots - 1, 'WITHSCORES')
local expires = now + ttl
local last = tonumber(redis.call('GET', qk(c, 'last_admitted')) or '0')
for i = 1, #next, 2 do
  local t, arrival = next[i], tonumber(next[i + 1])
  if arrival < last then redis.call('INCR', P .. 'inversions') else last = arrival end
  redis.call('ZREM', qk(c, 'wait'), t)
  redis.call('ZREM', qk(c, 'seen'), t)
  redis.call('ZADD', qk(c, 'active'), expires, t)
  redis.call('HSET', tk(t), 'state', 'A', 'at', expires)
end
redis.call('SET', qk(c, 'last_admitted'), last)
return #next / 2
"#;

/// ARGV: prefix, concert, user, issued_by, now, retention_ms, feed_keep_ms.
/// Answers the token as it was (`{token, ...view}`), or false. Ending an
/// ACTIVE token appends it to the revocation stream, whose IDs and trim
/// use Redis's clock (a stream must grow in one clock), while the pass
/// expiry it records is the caller's.
const EXPIRE: &str = r#"
local c, u = ARGV[2], ARGV[3]
local issued_by, now, retention = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local keep = tonumber(ARGV[7])
local t = redis.call('GET', uk(c, u))
if not t then return false end
local h = redis.call('HMGET', tk(t), 'state', 'issued')
if not h[1] or h[1] == 'E' then return false end
if tonumber(h[2]) > issued_by then return false end
local before = view(t, now, retention)
redis.call('ZREM', qk(c, 'wait'), t)
redis.call('ZREM', qk(c, 'seen'), t)
redis.call('ZREM', qk(c, 'active'), t)
expire_token(t, now, retention)
if before[1] == 'A' then
  local clock = redis.call('TIME')
  local floor = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) - keep
  redis.call('XADD', P .. 'revoked', 'MINID', '~', math.max(floor, 0), '*', 't', t, 'u', before[5])
end
table.insert(before, 1, t)
return before
"#;

/// How long past an admission's longest life the revocation stream keeps it.
const FEED_MARGIN_MS: i64 = 60_000;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

static ENTER_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(ENTER));
static LOOK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(LOOK));
static ADMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(ADMIT));
static EXPIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(EXPIRE));

#[derive(Debug, Clone)]
pub struct RedisWaitingRoom {
    redis: Redis,
}

impl RedisWaitingRoom {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    /// The ENTER script in `mode` (`enter`, `reserve` or `place`).
    async fn arrive(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        mode: &str,
    ) -> anyhow::Result<Option<QueueToken>> {
        let raw: Option<Vec<String>> = once_more_after_timeout(|| {
            let mut conn = self.redis.conn.clone();
            let mut call = ENTER_SCRIPT.prepare_invoke();
            call.arg(&self.redis.prefix)
                .arg(concert.get())
                .arg(user.get())
                .arg(candidate.to_string())
                .arg(now.as_millis())
                .arg(millis(policy.abandon_after_secs))
                .arg(millis(policy.expired_retention_secs))
                .arg(mode);
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(classify)?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Some((token, fields)) = raw.split_first() else {
            bail!("empty waiting-room reply");
        };
        let token: TokenId = token.parse()?;
        decode(token, fields, policy).map(Some)
    }

    async fn look(
        &self,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        touch: bool,
    ) -> anyhow::Result<Option<QueueToken>> {
        let raw: Option<Vec<String>> = once_more_after_timeout(|| {
            let mut conn = self.redis.conn.clone();
            let mut call = LOOK_SCRIPT.prepare_invoke();
            call.arg(&self.redis.prefix)
                .arg(token.to_string())
                .arg(now.as_millis())
                .arg(millis(policy.abandon_after_secs))
                .arg(millis(policy.expired_retention_secs))
                .arg(if touch { "1" } else { "0" });
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(classify)?;
        raw.map(|fields| decode(token, &fields, policy)).transpose()
    }
}

/// Runs `call` again, once, when it timed out. Only for calls that are
/// idempotent even when the timed-out attempt did run: entering (the user's
/// live token comes back), reserving, placing and looking at a token. A
/// timeout is most often a burst queued behind one multiplexed connection,
/// gone a moment later; a second timeout fails the request with 503.
async fn once_more_after_timeout<T, F, Fut>(call: F) -> redis::RedisResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match call().await {
        Err(err) if err.is_timeout() => {
            tracing::warn!(error = %err, "waiting-room call timed out; trying once more");
            call().await
        }
        answered => answered,
    }
}

fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Decodes a script's `{state, concert, user, position, at, seen, issued}`.
fn decode(token: TokenId, f: &[String], policy: &QueuePolicy) -> anyhow::Result<QueueToken> {
    let [state, concert, user, position, at, seen, issued] = f else {
        bail!("unexpected waiting-room reply {f:?}");
    };
    let int = |s: &String| {
        s.parse::<i64>()
            .with_context(|| format!("not a number: {s}"))
    };
    let state = match state.as_str() {
        "W" => TokenState::Waiting {
            position: Some(u64::try_from(int(position)?)?),
            abandoned_at: policy.abandoned_at(Timestamp::from_millis(int(seen)?)),
        },
        "P" => TokenState::Waiting {
            position: None,
            abandoned_at: policy.abandoned_at(Timestamp::from_millis(int(seen)?)),
        },
        "A" => TokenState::Active {
            expires_at: Timestamp::from_millis(int(at)?),
        },
        "E" => TokenState::Expired {
            expired_at: Timestamp::from_millis(int(at)?),
        },
        other => bail!("unknown token state {other}"),
    };
    Ok(QueueToken {
        token,
        concert_id: ConcertId::new(int(concert)?)?,
        user_id: UserId::new(int(user)?)?,
        issued_at: Timestamp::from_millis(int(issued)?),
        state,
    })
}

#[async_trait]
impl WaitingRoom for RedisWaitingRoom {
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, "enter")
            .await?
            .context("the waiting room lost a token it had just issued")
    }

    async fn reserve(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, "reserve")
            .await?
            .context("the waiting room lost a token it had just reserved")
    }

    async fn place(
        &self,
        concert: ConcertId,
        user: UserId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.arrive(concert, user, token, now, policy, "place")
            .await
    }

    async fn poll(
        &self,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.look(token, now, policy, true).await
    }

    async fn peek(
        &self,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.look(token, now, policy, false).await
    }

    async fn admit(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<u64> {
        let mut conn = self.redis.conn.clone();
        let admitted: i64 = ADMIT_SCRIPT
            .arg(&self.redis.prefix)
            .arg(concert.get())
            .arg(now.as_millis())
            .arg(millis(policy.abandon_after_secs))
            .arg(millis(policy.expired_retention_secs))
            .arg(policy.admit_batch)
            .arg(policy.max_active)
            .arg(millis(policy.active_ttl_secs))
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(u64::try_from(admitted)?)
    }

    async fn expire(
        &self,
        concert: ConcertId,
        user: UserId,
        issued_by: Timestamp,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut conn = self.redis.conn.clone();
        let raw: Option<Vec<String>> = EXPIRE_SCRIPT
            .arg(&self.redis.prefix)
            .arg(concert.get())
            .arg(user.get())
            .arg(issued_by.as_millis())
            .arg(now.as_millis())
            .arg(millis(policy.expired_retention_secs))
            .arg(millis(policy.active_ttl_secs).saturating_add(FEED_MARGIN_MS))
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Some((token, fields)) = raw.split_first() else {
            bail!("empty waiting-room reply");
        };
        decode(token.parse()?, fields, policy).map(Some)
    }

    async fn revocations_since(&self, cursor: &str, limit: u32) -> anyhow::Result<RevocationPage> {
        let mut conn = self.redis.conn.clone();
        // `(id` starts after the cursor (Redis 6.2 and later).
        let start = if cursor.is_empty() {
            "-".to_owned()
        } else {
            format!("({cursor}")
        };
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(self.redis.key("revoked"))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let mut page = RevocationPage {
            revocations: Vec::with_capacity(entries.len()),
            cursor: cursor.to_owned(),
        };
        for (id, fields) in entries {
            let (mut token, mut until) = (None, None);
            for pair in fields.chunks_exact(2) {
                match pair[0].as_str() {
                    "t" => token = Some(pair[1].parse::<TokenId>()?),
                    "u" => until = Some(Timestamp::from_millis(pair[1].parse()?)),
                    _ => {}
                }
            }
            let (Some(token), Some(pass_expires_at)) = (token, until) else {
                bail!("a revocation entry without its token or expiry: {fields:?}");
            };
            page.revocations.push(Revocation {
                token,
                pass_expires_at,
            });
            page.cursor = id;
        }
        Ok(page)
    }

    async fn concerts_in_line(&self) -> anyhow::Result<Vec<ConcertId>> {
        let mut conn = self.redis.conn.clone();
        let members: Vec<i64> = redis::cmd("SMEMBERS")
            .arg(self.redis.key("lines"))
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let mut concerts = members
            .into_iter()
            .map(ConcertId::new)
            .collect::<Result<Vec<_>, _>>()?;
        concerts.sort();
        Ok(concerts)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.redis.ping().await
    }

    async fn admission_inversions(&self) -> anyhow::Result<u64> {
        let mut conn = self.redis.conn.clone();
        let n: Option<u64> = redis::cmd("GET")
            .arg(self.redis.key("inversions"))
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(n.unwrap_or(0))
    }
}
