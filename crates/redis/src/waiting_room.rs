//! [`RedisWaitingRoom`]: the waiting room in Redis, shared by every instance.
//!
//! Every key of concert `c` starts with its base `{prefix}{c:<c>}`, whose
//! hash tag puts the whole concert in one Redis Cluster slot: its line, its
//! tokens and its fans' latest tokens live on one shard, so each script runs
//! on one node, while concerts spread over the shards. Under the base:
//! - `:wait`: sorted set of WAITING tokens by arrival number (`:seq`); a
//!   position is `ZRANK + 1`, O(log n);
//! - `:seen`: the same tokens by last poll, so abandoned ones are found in order;
//! - `:active`: ACTIVE tokens by expiry;
//! - `:pre`: the set of PRE_QUEUE tokens (also in `:seen`);
//! - `:taken`: set once the pre-queue is taken for the draw (a list of its
//!   entries, or `-` for none), and `:placed` once the drawn order is in
//!   line; drawn entries get scores -N..-1 in `:wait`, ahead of every
//!   arrival number;
//! - `:flow`: hash of running totals, `admitted` and `abandoned`;
//! - `:log`: list of `line key:admitted_at_ms`, the audit of admission
//!   order (the last 2,000,000 admissions);
//! - `:gen`: counts the tokens the concert ever issued (see `lines`);
//! - `:epoch`: a random number set by the concert's first entry and named
//!   in every ticket: if Redis loses its data, the next entry or rejoin
//!   sets another, so a ticket of an older epoch proves its token was lost;
//! - `:rejoined`: sorted set of fans back from an older epoch by their key
//!   (state `P`, no position) while `:heal_until` (the end of the heal
//!   window, set by the first one back) has not passed; the first round
//!   after it puts them in `:wait` with scores key - 2^50, ahead of every
//!   other score, and sets `:healed`;
//! - `:t:{token}`: a hash with the token's concert, user, state and instants;
//! - `:u:{user}`: the user's latest token for the concert.
//!
//! Two keys span concerts, each in a slot of its own:
//! - `{prefix}lines`: the concerts with anyone pre-queued, WAITING or
//!   ACTIVE, each scored by its `:gen` when last listed. A round that finds
//!   a line empty removes the concert only if its score is not above the
//!   `:gen` the round saw, so a fan who entered meanwhile keeps it listed;
//! - `{prefix}revoked`: a stream of admissions ended early (token, pass
//!   expiry), read by every instance to revoke admission passes; trimmed by
//!   Redis time to the last `active_ttl + 60 s`, so it holds every pass that
//!   could still be live.
//!
//! On one Redis (a primary with replicas) the scripts update both in the
//! same atomic step, declared as `KEYS[2]` and `KEYS[3]`. On a cluster they
//! live on other shards, so the adapter updates them right after the
//! concert's script (decision 0021 says what that costs).
//!
//! Every operation is one Lua script that first sweeps the concert (ends
//! ACTIVE tokens past their expiry, drops abandoned WAITING ones), so no
//! position ever counts a token that has ended. Time is the caller's `now`,
//! never Redis's clock, so tests can move it; expired tokens are kept, as
//! EXPIRED, for the retention, then forgotten (logically at once, and their
//! keys expire in real time).

use crate::connection::{Redis, classify};
use anyhow::{Context, bail};
use async_trait::async_trait;
use boxoffice_core::domain::queue_token::{Lane, QueuePolicy, QueueToken, Rejoin, TokenState};
use boxoffice_core::domain::{ConcertId, Timestamp, TokenId, UserId};
use boxoffice_core::ports::{
    AdmitOutcome, Census, PreQueueDraw, Revocation, RevocationPage, WaitingRoom,
};
use redis::Script;
use std::sync::LazyLock;

/// Shared by every concert script. `KEYS[1]` is the concert's base; on one
/// Redis `KEYS[2]` and `KEYS[3]` are `lines` and `revoked`, on a cluster
/// they are absent and the caller updates those keys.
const PRELUDE: &str = r#"
local B = KEYS[1]
local LINES, REVOKED = KEYS[2], KEYS[3]
local function qk(name) return B .. ':' .. name end
local function tk(t) return B .. ':t:' .. t end
local function uk(u) return B .. ':u:' .. u end
local SWEEP_LIMIT = 10000

local function expire_token(t, at, retention)
  local key = tk(t)
  redis.call('HSET', key, 'state', 'E', 'at', at)
  redis.call('PEXPIRE', key, retention)
  local user = redis.call('HGET', key, 'user')
  if user then
    local ukey = uk(user)
    if redis.call('GET', ukey) == t then redis.call('PEXPIRE', ukey, retention) end
  end
end

local function sweep(now, abandon, retention)
  local qa = qk('active')
  local ended = redis.call('ZRANGEBYSCORE', qa, '-inf', now, 'WITHSCORES', 'LIMIT', 0, SWEEP_LIMIT)
  for i = 1, #ended, 2 do
    redis.call('ZREM', qa, ended[i])
    expire_token(ended[i], ended[i + 1], retention)
  end
  local qs = qk('seen')
  local gone = redis.call('ZRANGEBYSCORE', qs, '-inf', now - abandon, 'WITHSCORES', 'LIMIT', 0, SWEEP_LIMIT)
  for i = 1, #gone, 2 do
    redis.call('ZREM', qs, gone[i])
    redis.call('ZREM', qk('wait'), gone[i])
    redis.call('SREM', qk('pre'), gone[i])
    expire_token(gone[i], tonumber(gone[i + 1]) + abandon, retention)
  end
  if #gone > 0 then redis.call('HINCRBY', qk('flow'), 'abandoned', #gone / 2) end
end

local function gen() return tonumber(redis.call('GET', qk('gen')) or '0') end

-- Lists the concert in `lines` (on one Redis; on a cluster the caller does,
-- with the generation the script answers).
local function list(c)
  if LINES then redis.call('ZADD', LINES, 'GT', gen(), c) end
end

local function line_empty()
  return redis.call('ZCARD', qk('wait')) == 0 and redis.call('ZCARD', qk('active')) == 0
      and redis.call('SCARD', qk('pre')) == 0 and redis.call('ZCARD', qk('rejoined')) == 0
end

-- {state, concert, user, position, at, seen, issued, epoch}, or false for an unknown or forgotten token.
local function view(t, now, retention)
  local h = redis.call('HMGET', tk(t), 'state', 'concert', 'user', 'at', 'seen', 'issued')
  if not h[1] then return false end
  if h[1] == 'E' and now >= tonumber(h[4]) + retention then return false end
  local pos = 0
  if h[1] == 'W' then
    local r = redis.call('ZRANK', qk('wait'), t)
    if r then pos = r + 1 end
  end
  local epoch = redis.call('GET', qk('epoch')) or '0'
  return {h[1], h[2], h[3], tostring(pos), tostring(h[4] or 0), tostring(h[5] or 0), tostring(h[6] or 0), epoch}
end

local function touch(t, now)
  redis.call('ZADD', qk('seen'), 'XX', now, t)
  redis.call('HSET', tk(t), 'seen', now)
end
"#;

/// Appends a revocation to the stream `stream`: IDs and trim use Redis's
/// clock (a stream must grow in one clock), the pass expiry is the caller's.
const APPEND_REVOCATION: &str = r#"
local function append_revocation(stream, t, expires, keep)
  local clock = redis.call('TIME')
  local floor = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) - keep
  redis.call('XADD', stream, 'MINID', '~', math.max(floor, 0), '*', 't', t, 'u', expires)
end
"#;

/// ARGV: concert, user, candidate token, now, abandon_ms, retention_ms,
/// mode: `enter`, `reserve` or `place` (see the port), lane: `line` or
/// `pre`, and an epoch for a concert that has none yet. Answers `{token, generation, ...view}`; the generation is the
/// one to list the concert under, or 0 when nothing needs listing.
/// Reserved tokens (state `P`) and pre-queued ones (`Q`) are in `:seen`,
/// so they are abandoned like WAITING ones, but not in `:wait`: they have
/// no position.
const ENTER: &str = r#"
local c, u, cand = ARGV[1], ARGV[2], ARGV[3]
local now, abandon, retention = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local mode, lane = ARGV[7], ARGV[8]
redis.call('SET', qk('epoch'), ARGV[9], 'NX')
sweep(now, abandon, retention)
local issued = now
local existing = redis.call('GET', uk(u))
local live = false
if existing then
  live = view(existing, now, retention)
  if live and live[1] == 'E' then live = false end
end
if mode == 'place' then
  if not live or existing ~= cand then return false end
  if live[1] ~= 'P' then
    table.insert(live, 1, '0')
    table.insert(live, 1, existing)
    return live
  end
  -- The reserved token's entry arrived: it joins the line below.
  issued = redis.call('HGET', tk(cand), 'issued')
elseif live then
  local listed = '0'
  if live[1] == 'W' or live[1] == 'P' or live[1] == 'Q' then
    -- Asking again is a sign of life; the position does not change.
    touch(existing, now)
    live[6] = tostring(now)
    listed = tostring(gen())
  end
  table.insert(live, 1, listed)
  table.insert(live, 1, existing)
  return live
end
redis.call('ZADD', qk('seen'), now, cand)
if mode == 'reserve' then
  redis.call('HSET', tk(cand), 'state', 'P', 'concert', c, 'user', u, 'issued', issued, 'seen', now, 'at', 0)
elseif lane == 'pre' and redis.call('EXISTS', qk('taken')) == 0 then
  redis.call('SADD', qk('pre'), cand)
  redis.call('HSET', tk(cand), 'state', 'Q', 'concert', c, 'user', u, 'issued', issued, 'seen', now, 'at', 0)
else
  local seq = redis.call('INCR', qk('seq'))
  redis.call('ZADD', qk('wait'), seq, cand)
  redis.call('HSET', tk(cand), 'state', 'W', 'concert', c, 'user', u, 'issued', issued, 'seen', now, 'at', 0)
end
redis.call('SET', uk(u), cand)
redis.call('INCR', qk('gen'))
list(c)
local v = view(cand, now, retention)
table.insert(v, 1, tostring(gen()))
table.insert(v, 1, cand)
return v
"#;

/// ARGV: concert, user, token, issued_ms, the ticket's epoch, key, lane
/// (`line` or `pre`), now, abandon_ms, retention_ms, heal_ms, an epoch for a
/// concert that has none yet. Answers `{token, generation, ...view}`, as
/// [`ENTER`] does, or false when
/// the ticket is of the current epoch or the fan has a live token (see the
/// port's `rejoin`).
const REJOIN: &str = r#"
local c, u, t = ARGV[1], ARGV[2], ARGV[3]
local issued, ticket_epoch, key, lane = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local now, abandon, retention = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local heal = tonumber(ARGV[11])
redis.call('SET', qk('epoch'), ARGV[12], 'NX')
if redis.call('GET', qk('epoch')) == ticket_epoch then return false end
sweep(now, abandon, retention)
local known = view(t, now, retention)
if known then
  -- Back already (a repeat, or a twin request).
  if known[2] ~= c or known[3] ~= u then return false end
  if known[1] == 'W' or known[1] == 'P' or known[1] == 'Q' then
    touch(t, now)
    known[6] = tostring(now)
  end
  table.insert(known, 1, '0')
  table.insert(known, 1, t)
  return known
end
local existing = redis.call('GET', uk(u))
if existing then
  local live = view(existing, now, retention)
  if live and live[1] ~= 'E' then return false end
end
redis.call('ZADD', qk('seen'), now, t)
local state = 'P'
if lane == 'pre' and redis.call('EXISTS', qk('taken')) == 0 then
  redis.call('SADD', qk('pre'), t)
  state = 'Q'
elseif redis.call('EXISTS', qk('healed')) == 1 then
  redis.call('ZADD', qk('wait'), redis.call('INCR', qk('seq')), t)
  state = 'W'
else
  redis.call('ZADD', qk('rejoined'), key, t)
  redis.call('SET', qk('heal_until'), now + heal, 'NX')
end
redis.call('HSET', tk(t), 'state', state, 'concert', c, 'user', u, 'issued', issued, 'seen', now, 'at', 0)
redis.call('SET', uk(u), t)
redis.call('INCR', qk('gen'))
list(c)
local v = view(t, now, retention)
table.insert(v, 1, tostring(gen()))
table.insert(v, 1, t)
return v
"#;

/// ARGV: token, now, abandon_ms, retention_ms, touch (1 or 0).
const LOOK: &str = r#"
local t = ARGV[1]
local now, abandon, retention = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', tk(t)) == 0 then return false end
sweep(now, abandon, retention)
local v = view(t, now, retention)
if v and (v[1] == 'W' or v[1] == 'P' or v[1] == 'Q') and ARGV[5] == '1' then
  -- A poll is a sign of life; the position does not change.
  touch(t, now)
  v[6] = tostring(now)
end
return v
"#;

/// ARGV: now, abandon_ms, retention_ms, tokens... Answers one reply per
/// token: its view, or an empty table when the token is unknown (or of
/// another concert, whose tokens live under another base).
const POLL_MANY: &str = r#"
local now, abandon, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
sweep(now, abandon, retention)
local out = {}
for i = 4, #ARGV do
  local t = ARGV[i]
  local v = view(t, now, retention)
  if v then
    if v[1] == 'W' or v[1] == 'P' or v[1] == 'Q' then
      touch(t, now)
      v[6] = tostring(now)
    end
    out[#out + 1] = v
  else
    out[#out + 1] = {}
  end
end
return out
"#;

/// ARGV: now, abandon_ms, retention_ms, concert, batch, cap, active_ttl_ms.
/// Answers {admitted, waiting before, active before, admitted total,
/// abandoned total, draw pending, line empty, generation}: a line found
/// empty is to be unlisted if its generation is still the one answered.
const ADMIT: &str = r#"
local now, abandon, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local c = ARGV[4]
local batch, cap, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
sweep(now, abandon, retention)
-- Only admission needs `lines` exact; the hot paths leave it to admission.
local empty = 0
if line_empty() then
  empty = 1
  if LINES then redis.call('ZREM', LINES, c) end
end
local waiting = redis.call('ZCARD', qk('wait'))
local active = redis.call('ZCARD', qk('active'))
local flow = qk('flow')
local function totals(admitted, pending)
  local f = redis.call('HMGET', flow, 'admitted', 'abandoned')
  return {admitted, waiting, active, tonumber(f[1] or '0'), tonumber(f[2] or '0'), pending, empty, gen()}
end
local heal_until = redis.call('GET', qk('heal_until'))
if heal_until and redis.call('EXISTS', qk('healed')) == 0 then
  -- Fans are still coming back after a loss: nobody is let in before the
  -- window ends; then they are put in line in key order, ahead of all.
  if now < tonumber(heal_until) then return totals(0, 0) end
  local back = redis.call('ZRANGE', qk('rejoined'), 0, -1, 'WITHSCORES')
  for i = 1, #back, 2 do
    local t = back[i]
    if redis.call('HGET', tk(t), 'state') == 'P' then
      redis.call('ZADD', qk('wait'), tonumber(back[i + 1]) - 1125899906842624, t)
      redis.call('HSET', tk(t), 'state', 'W')
    end
  end
  redis.call('DEL', qk('rejoined'))
  redis.call('SET', qk('healed'), 1)
  waiting = redis.call('ZCARD', qk('wait'))
end
if redis.call('EXISTS', qk('taken')) == 1 and redis.call('EXISTS', qk('placed')) == 0 then
  return totals(0, 1)
end
local slots = math.min(batch, cap - active)
if slots <= 0 then return totals(0, 0) end
local next = redis.call('ZRANGE', qk('wait'), 0, slots - 1, 'WITHSCORES')
local expires = now + ttl
local log = qk('log')
for i = 1, #next, 2 do
  local t = next[i]
  redis.call('ZREM', qk('wait'), t)
  redis.call('ZREM', qk('seen'), t)
  redis.call('ZADD', qk('active'), expires, t)
  redis.call('HSET', tk(t), 'state', 'A', 'at', expires)
  redis.call('RPUSH', log, next[i + 1] .. ':' .. now)
end
local n = #next / 2
if n > 0 then
  redis.call('HINCRBY', flow, 'admitted', n)
  redis.call('LTRIM', log, -2000000, -1)
end
return totals(n, 0)
"#;

/// ARGV: now, abandon_ms, retention_ms, concert. Answers {placed (0 or 1),
/// generation, entries...}: the pre-queue as first taken.
const TAKE_PRE_QUEUE: &str = r#"
local now, abandon, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local c = ARGV[4]
sweep(now, abandon, retention)
local taken = qk('taken')
if redis.call('EXISTS', taken) == 0 then
  local members = redis.call('SMEMBERS', qk('pre'))
  redis.call('RPUSH', taken, '-')
  for i = 1, #members, 1000 do
    redis.call('RPUSH', taken, unpack(members, i, math.min(i + 999, #members)))
  end
  redis.call('INCR', qk('gen'))
  list(c)
end
local out = {tostring(redis.call('EXISTS', qk('placed'))), tostring(gen())}
local entries = redis.call('LRANGE', taken, 1, -1)
for i = 1, #entries do out[#out + 1] = entries[i] end
return out
"#;

/// ARGV: total, offset, last (1 or 0), tokens... Places one chunk of the
/// drawn order: the token at 0-based place `offset + i` of `total` gets
/// score `offset + i - total` (so -total..-1), if it is still pre-queued.
/// The last chunk marks the draw placed. Answers 0 when the draw was
/// placed already.
const PLACE_DRAWN: &str = r#"
local total, offset, last = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if redis.call('EXISTS', qk('placed')) == 1 then return 0 end
for i = 4, #ARGV do
  local t = ARGV[i]
  if redis.call('HGET', tk(t), 'state') == 'Q' then
    redis.call('ZADD', qk('wait'), offset + (i - 4) - total, t)
    redis.call('HSET', tk(t), 'state', 'W')
    redis.call('SREM', qk('pre'), t)
  end
end
if last == '1' then redis.call('SET', qk('placed'), 1) end
return 1
"#;

/// ARGV: now, abandon_ms, retention_ms. Answers {pre-queued, waiting, active}.
const CENSUS: &str = r#"
local now, abandon, retention = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
sweep(now, abandon, retention)
return {redis.call('SCARD', qk('pre')), redis.call('ZCARD', qk('wait')), redis.call('ZCARD', qk('active'))}
"#;

/// ARGV: user, issued_by, now, retention_ms, feed_keep_ms. Answers the
/// token as it was (`{token, ...view}`), or false. Ending an ACTIVE token
/// revokes its pass: on one Redis the revocation is appended here, on a
/// cluster by the caller ([`REVOKE`]).
const EXPIRE: &str = r#"
local u = ARGV[1]
local issued_by, now, retention = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
local t = redis.call('GET', uk(u))
if not t then return false end
local h = redis.call('HMGET', tk(t), 'state', 'issued')
if not h[1] or h[1] == 'E' then return false end
if tonumber(h[2]) > issued_by then return false end
local before = view(t, now, retention)
if before[1] ~= 'A' then redis.call('HINCRBY', qk('flow'), 'abandoned', 1) end
redis.call('ZREM', qk('wait'), t)
redis.call('ZREM', qk('seen'), t)
redis.call('SREM', qk('pre'), t)
redis.call('ZREM', qk('active'), t)
expire_token(t, now, retention)
if before[1] == 'A' and REVOKED then append_revocation(REVOKED, t, before[5], keep) end
table.insert(before, 1, t)
return before
"#;

/// On a cluster, after [`EXPIRE`] ended an ACTIVE token: KEYS[1] is the
/// `revoked` stream; ARGV: token, pass expiry (ms), feed_keep_ms.
const REVOKE: &str = r#"
append_revocation(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
"#;

/// On a cluster, after a round found a line empty: KEYS[1] is `lines`;
/// ARGV: concert, the generation the round saw. A concert listed since
/// under a newer generation stays.
const UNLIST: &str = r#"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"#;

/// Tokens per POLL_MANY script call.
const POLL_MANY_CHUNK: usize = 1_000;
/// Tokens per PLACE_DRAWN script call.
const PLACE_DRAWN_CHUNK: usize = 5_000;

/// How long past an admission's longest life the revocation stream keeps it.
const FEED_MARGIN_MS: i64 = 60_000;

/// The concerts with a line (a sorted set, by generation).
const LINES: &str = "lines";
/// The stream of admissions ended early.
const REVOKED: &str = "revoked";

/// The first line of every script: with it, a cluster node refuses a
/// script that touches keys of two slots, even when it serves both, so
/// the cluster tests catch any such script. One Redis lets it through.
const SHEBANG: &str = "#!lua";

/// A concert script: the prelude, then `body`.
fn script(body: &str) -> Script {
    Script::new(&format!(
        "{SHEBANG}\n{PRELUDE}\n{APPEND_REVOCATION}\n{body}"
    ))
}

static ENTER_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(ENTER));
static LOOK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(LOOK));
static REJOIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(REJOIN));
static ADMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(ADMIT));
static POLL_MANY_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(POLL_MANY));
static TAKE_PRE_QUEUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(TAKE_PRE_QUEUE));
static PLACE_DRAWN_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(PLACE_DRAWN));
static CENSUS_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(CENSUS));
static EXPIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(EXPIRE));
static REVOKE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{SHEBANG}\n{APPEND_REVOCATION}\n{REVOKE}")));
static UNLIST_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{SHEBANG}\n{UNLIST}")));

#[derive(Debug, Clone)]
pub struct RedisWaitingRoom {
    redis: Redis,
}

impl RedisWaitingRoom {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    /// The key every key of the concert starts with; its hash tag keeps the
    /// concert on one cluster slot.
    pub(crate) fn base(&self, concert: ConcertId) -> String {
        self.redis.key(&format!("{{c:{concert}}}"))
    }

    /// `script` called on the concert's keys: its base and, on one Redis,
    /// the two keys that span concerts, updated in the same step.
    fn on_concert<'a>(
        &self,
        script: &'a Script,
        concert: ConcertId,
    ) -> redis::ScriptInvocation<'a> {
        let mut call = script.prepare_invoke();
        call.key(self.base(concert));
        if !self.redis.cluster {
            call.key(self.redis.key(LINES)).key(self.redis.key(REVOKED));
        }
        call
    }

    /// On a cluster, lists the concert in `lines` under `generation`, after
    /// its script answered (on one Redis the script did it).
    async fn list(&self, concert: ConcertId, generation: i64) -> anyhow::Result<()> {
        if !self.redis.cluster || generation <= 0 {
            return Ok(());
        }
        let mut conn = self.redis.conn.clone();
        redis::cmd("ZADD")
            .arg(self.redis.key(LINES))
            .arg("GT")
            .arg(generation)
            .arg(concert.get())
            .query_async::<i64>(&mut conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// On a cluster, appends an ended admission to the revocation stream,
    /// after the concert's script ended it; tried twice. The room has
    /// already ended the token, so a failure cannot be undone or retried by
    /// the caller: it is logged and counted, and other instances honour the
    /// pass until `expires_at` (this one revokes it at once).
    async fn revoke(&self, token: TokenId, expires_at: Timestamp, keep: i64) {
        for attempt in 1..=2 {
            let mut conn = self.redis.conn.clone();
            let appended = REVOKE_SCRIPT
                .key(self.redis.key(REVOKED))
                .arg(token.to_string())
                .arg(expires_at.as_millis())
                .arg(keep)
                .invoke_async::<i64>(&mut conn)
                .await;
            match appended {
                Ok(_) => return,
                Err(err) if attempt == 2 => {
                    metrics::counter!("boxoffice_revocations_unpublished_total").increment(1);
                    tracing::error!(
                        error = %err,
                        pass_expires_at_ms = expires_at.as_millis(),
                        "an ended admission could not join the revocation stream; \
                         other instances honour its pass until it expires"
                    );
                }
                Err(err) => {
                    tracing::warn!(error = %err, "revocation append failed; trying once more")
                }
            }
        }
    }

    /// The ENTER script in `mode` (`enter`, `reserve` or `place`), to `lane`.
    async fn arrive(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        (mode, lane): (&str, Lane),
    ) -> anyhow::Result<Option<QueueToken>> {
        let raw: Option<Vec<String>> = once_more_after_timeout(|| {
            let mut conn = self.redis.conn.clone();
            let mut call = self.on_concert(&ENTER_SCRIPT, concert);
            call.arg(concert.get())
                .arg(user.get())
                .arg(candidate.to_string())
                .arg(now.as_millis())
                .arg(millis(policy.abandon_after_secs))
                .arg(millis(policy.expired_retention_secs))
                .arg(mode)
                .arg(lane_name(lane))
                .arg(fresh_epoch());
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(classify)?;
        self.arrived(concert, raw, policy).await
    }

    /// The token of an [`ENTER`] or [`REJOIN`] reply (`{token, generation,
    /// ...view}`), once the concert is listed under that generation.
    async fn arrived(
        &self,
        concert: ConcertId,
        raw: Option<Vec<String>>,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let [token, generation, fields @ ..] = &raw[..] else {
            bail!("short waiting-room reply {raw:?}");
        };
        let token = decode(token.parse()?, fields, policy)?;
        self.list(concert, generation.parse()?).await?;
        Ok(Some(token))
    }

    /// A call of `script` on the concert with the ARGV the sweeping
    /// scripts start with: now, abandon_ms, retention_ms.
    fn concert_call<'a>(
        &self,
        script: &'a Script,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> redis::ScriptInvocation<'a> {
        let mut call = self.on_concert(script, concert);
        call.arg(now.as_millis())
            .arg(millis(policy.abandon_after_secs))
            .arg(millis(policy.expired_retention_secs));
        call
    }

    async fn look(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        touch: bool,
    ) -> anyhow::Result<Option<QueueToken>> {
        let raw: Option<Vec<String>> = once_more_after_timeout(|| {
            let mut conn = self.redis.conn.clone();
            let mut call = self.on_concert(&LOOK_SCRIPT, concert);
            call.arg(token.to_string())
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

fn lane_name(lane: Lane) -> &'static str {
    match lane {
        Lane::Line => "line",
        Lane::PreQueue => "pre",
    }
}

/// An epoch for a concert that has none yet: random, never 0 (the epoch
/// of a room that cannot lose its line).
fn fresh_epoch() -> u32 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes).max(1)
}

fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Decodes a script's `{state, concert, user, position, at, seen, issued, epoch}`.
fn decode(token: TokenId, f: &[String], policy: &QueuePolicy) -> anyhow::Result<QueueToken> {
    let [state, concert, user, position, at, seen, issued, epoch] = f else {
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
        "Q" => TokenState::PreQueue {
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
        epoch: epoch
            .parse()
            .with_context(|| format!("not an epoch: {epoch}"))?,
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
        lane: Lane,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, ("enter", lane))
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
        self.arrive(
            concert,
            user,
            candidate,
            now,
            policy,
            ("reserve", Lane::Line),
        )
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
        lane: Lane,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.arrive(concert, user, token, now, policy, ("place", lane))
            .await
    }

    async fn poll(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.look(concert, token, now, policy, true).await
    }

    async fn rejoin(
        &self,
        r: &Rejoin,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        // Idempotent: a repeat finds the token back already.
        let raw: Option<Vec<String>> = once_more_after_timeout(|| {
            let mut conn = self.redis.conn.clone();
            let mut call = self.on_concert(&REJOIN_SCRIPT, r.concert);
            call.arg(r.concert.get())
                .arg(r.user.get())
                .arg(r.token.to_string())
                .arg(r.issued_at.as_millis())
                .arg(r.epoch)
                .arg(r.key)
                .arg(lane_name(r.lane))
                .arg(now.as_millis())
                .arg(millis(policy.abandon_after_secs))
                .arg(millis(policy.expired_retention_secs))
                .arg(millis(policy.heal_window_secs))
                .arg(fresh_epoch());
            async move { call.invoke_async(&mut conn).await }
        })
        .await
        .map_err(classify)?;
        self.arrived(r.concert, raw, policy).await
    }

    async fn peek(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        self.look(concert, token, now, policy, false).await
    }

    async fn poll_many(
        &self,
        concert: ConcertId,
        tokens: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Vec<Option<QueueToken>>> {
        let mut found = Vec::with_capacity(tokens.len());
        // Chunks keep one script from holding Redis for long.
        for chunk in tokens.chunks(POLL_MANY_CHUNK) {
            let mut conn = self.redis.conn.clone();
            let mut call = self.concert_call(&POLL_MANY_SCRIPT, concert, now, policy);
            for token in chunk {
                call.arg(token.to_string());
            }
            let replies: Vec<Vec<String>> = call.invoke_async(&mut conn).await.map_err(classify)?;
            for (token, fields) in chunk.iter().zip(replies) {
                found.push(if fields.is_empty() {
                    None
                } else {
                    Some(decode(*token, &fields, policy)?)
                });
            }
        }
        Ok(found)
    }

    async fn admit(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<AdmitOutcome> {
        let mut conn = self.redis.conn.clone();
        let reply: Vec<i64> = self
            .concert_call(&ADMIT_SCRIPT, concert, now, policy)
            .arg(concert.get())
            .arg(policy.admit_batch)
            .arg(policy.max_active)
            .arg(millis(policy.active_ttl_secs))
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        let [
            admitted,
            waiting_before,
            active_before,
            admitted_total,
            abandoned_total,
            pending,
            empty,
            generation,
        ] = reply[..]
        else {
            bail!("unexpected admission reply {reply:?}");
        };
        if empty == 1 && self.redis.cluster {
            UNLIST_SCRIPT
                .key(self.redis.key(LINES))
                .arg(concert.get())
                .arg(generation)
                .invoke_async::<i64>(&mut conn)
                .await
                .map_err(classify)?;
        }
        Ok(AdmitOutcome {
            admitted: u64::try_from(admitted)?,
            waiting_before: u64::try_from(waiting_before)?,
            active_before: u64::try_from(active_before)?,
            admitted_total: u64::try_from(admitted_total)?,
            abandoned_total: u64::try_from(abandoned_total)?,
            draw_pending: pending == 1,
        })
    }

    async fn take_pre_queue(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<PreQueueDraw> {
        let mut conn = self.redis.conn.clone();
        let reply: Vec<String> = self
            .concert_call(&TAKE_PRE_QUEUE_SCRIPT, concert, now, policy)
            .arg(concert.get())
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        let [placed, generation, entries @ ..] = &reply[..] else {
            bail!("short pre-queue reply {reply:?}");
        };
        self.list(concert, generation.parse()?).await?;
        Ok(PreQueueDraw {
            entries: entries
                .iter()
                .map(|t| t.parse())
                .collect::<Result<_, _>>()?,
            placed: placed == "1",
        })
    }

    async fn place_drawn(
        &self,
        concert: ConcertId,
        order: &[TokenId],
        _now: Timestamp,
        _policy: &QueuePolicy,
    ) -> anyhow::Result<bool> {
        let chunks: Vec<&[TokenId]> = if order.is_empty() {
            vec![&[]]
        } else {
            order.chunks(PLACE_DRAWN_CHUNK).collect()
        };
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut conn = self.redis.conn.clone();
            let mut call = self.on_concert(&PLACE_DRAWN_SCRIPT, concert);
            call.arg(order.len())
                .arg(i * PLACE_DRAWN_CHUNK)
                .arg(if i == last { "1" } else { "0" });
            for token in chunk {
                call.arg(token.to_string());
            }
            let placed: i64 = call.invoke_async(&mut conn).await.map_err(classify)?;
            if placed == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn census(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Census> {
        let mut conn = self.redis.conn.clone();
        let reply: Vec<u64> = self
            .concert_call(&CENSUS_SCRIPT, concert, now, policy)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        let [pre_queued, waiting, active] = reply[..] else {
            bail!("unexpected census reply {reply:?}");
        };
        Ok(Census {
            pre_queued,
            waiting,
            active,
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
        let mut conn = self.redis.conn.clone();
        let keep = millis(policy.active_ttl_secs).saturating_add(FEED_MARGIN_MS);
        let raw: Option<Vec<String>> = self
            .on_concert(&EXPIRE_SCRIPT, concert)
            .arg(user.get())
            .arg(issued_by.as_millis())
            .arg(now.as_millis())
            .arg(millis(policy.expired_retention_secs))
            .arg(keep)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Some((token, fields)) = raw.split_first() else {
            bail!("empty waiting-room reply");
        };
        let before = decode(token.parse()?, fields, policy)?;
        if let TokenState::Active { expires_at } = before.state
            && self.redis.cluster
        {
            self.revoke(before.token, expires_at, keep).await;
        }
        Ok(Some(before))
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
            .arg(self.redis.key(REVOKED))
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
        let members: Vec<i64> = redis::cmd("ZRANGE")
            .arg(self.redis.key(LINES))
            .arg(0)
            .arg(-1)
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

    async fn admissions(&self, concert: ConcertId) -> anyhow::Result<Vec<(i64, i64)>> {
        let mut conn = self.redis.conn.clone();
        let entries: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{}:log", self.base(concert)))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        entries
            .iter()
            .map(|entry| {
                let (key, at) = entry
                    .split_once(':')
                    .with_context(|| format!("a malformed admission record {entry}"))?;
                Ok((key.parse::<f64>()? as i64, at.parse()?))
            })
            .collect()
    }
}
