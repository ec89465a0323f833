//! The waiting room in process memory.
//!
//! Each concert has a line ordered by arrival. A position is the number of
//! live WAITING tokens that arrived no later than this one, answered in
//! O(log n) by a Fenwick tree over arrival numbers, so polling stays cheap
//! with a hundred thousand people in line. Ended tokens (timed out,
//! abandoned) are swept on every call that touches the concert, before any
//! position is computed, so they are never counted. A scheduled sale's
//! pre-queue is a set beside the line; the opening draw puts it at the
//! front of the line, in the drawn order.
//!
//! The room lives as long as the process: each process's room has an epoch
//! of its own, drawn at random, named in every ticket. A fan who comes back
//! after a restart with a ticket of an earlier epoch rejoins in their place
//! (see [`WaitingRoom::rejoin`]).

use super::lock;
use crate::domain::queue_token::{Lane, QueuePolicy, QueueToken, Rejoin, TokenState};
use crate::domain::{ConcertId, Timestamp, TokenId, UserId};
use crate::ports::{AdmitOutcome, Census, PreQueueDraw, Revocation, RevocationPage, WaitingRoom};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug)]
pub struct MemoryWaitingRoom {
    inner: Mutex<Rooms>,
    /// Admits the back of the line first: a broken room, for tests that
    /// must see the audit of admission order fail.
    newest_first: bool,
}

impl Default for MemoryWaitingRoom {
    fn default() -> Self {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        Self {
            inner: Mutex::new(Rooms {
                // Never 0, the epoch of a room that cannot lose its line.
                epoch: u32::from_le_bytes(bytes).max(1),
                ..Rooms::default()
            }),
            newest_first: false,
        }
    }
}

#[derive(Debug, Default)]
struct Rooms {
    /// This room's epoch, named in its tickets.
    epoch: u32,
    lines: HashMap<ConcertId, Line>,
    tokens: HashMap<TokenId, Entry>,
    /// The latest token of each user per concert.
    by_user: HashMap<(ConcertId, UserId), TokenId>,
    /// Expired tokens by when they may be forgotten.
    forget_queue: BTreeSet<(Timestamp, TokenId)>,
    /// The revocation feed: admissions ended early, by feed number.
    revocations: BTreeMap<u64, Revocation>,
    /// The last feed number handed out.
    revocation_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    concert: ConcertId,
    user: UserId,
    issued_at: Timestamp,
    phase: Phase,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Reserved, waiting for its entry to reach the line (queue entry through Kafka).
    Pending {
        last_seen: Timestamp,
    },
    PreQueue {
        last_seen: Timestamp,
    },
    Waiting {
        arrival: usize,
        last_seen: Timestamp,
    },
    Active {
        expires_at: Timestamp,
    },
    Expired {
        at: Timestamp,
    },
}

/// One concert's line.
#[derive(Debug, Default)]
struct Line {
    arrivals: ArrivalIndex,
    /// WAITING tokens by arrival: admission takes from the front.
    waiting: BTreeMap<usize, TokenId>,
    /// WAITING tokens (reserved ones too) by last poll: abandonment takes
    /// from the front.
    by_last_seen: BTreeSet<(Timestamp, TokenId)>,
    /// ACTIVE tokens by expiry.
    active: BTreeSet<(Timestamp, TokenId)>,
    /// PRE_QUEUE tokens.
    pre_queue: HashSet<TokenId>,
    /// The pre-queue as taken for the draw, once taken, and whether it was
    /// placed in line.
    taken: Option<Vec<TokenId>>,
    placed: bool,
    /// Added to arrival numbers in the admission log: arrival numbers start
    /// afresh whenever the line empties, line keys never do.
    key_base: i64,
    /// `(line key, admitted_at_ms)` of every admission.
    admissions: Vec<(i64, i64)>,
    admitted_total: u64,
    abandoned_total: u64,
    /// Fans back from an earlier epoch, by their key, while the heal
    /// window runs (their tokens are reserved, without a position).
    rejoined: BTreeSet<(i64, TokenId)>,
    /// When the heal window ends, from the first fan back; `healed` once
    /// the fans back were put in line.
    heal_until: Option<Timestamp>,
    healed: bool,
}

impl Rooms {
    /// Ends what has ended at `now` for one concert, and forgets long-expired tokens.
    fn sweep(&mut self, concert: ConcertId, now: Timestamp, policy: &QueuePolicy) {
        let mut ended = Vec::new();
        if let Some(line) = self.lines.get_mut(&concert) {
            while let Some(&(expires_at, token)) = line.active.first() {
                if expires_at > now {
                    break;
                }
                line.active.pop_first();
                ended.push((token, expires_at));
            }
            while let Some(&(last_seen, token)) = line.by_last_seen.first() {
                if policy.abandoned_at(last_seen) > now {
                    break;
                }
                line.by_last_seen.pop_first();
                match self.tokens.get(&token).map(|e| e.phase) {
                    Some(Phase::Waiting { arrival, .. }) => {
                        line.waiting.remove(&arrival);
                        line.arrivals.remove(arrival);
                    }
                    Some(Phase::PreQueue { .. }) => {
                        line.pre_queue.remove(&token);
                    }
                    _ => {}
                }
                line.abandoned_total += 1;
                ended.push((token, policy.abandoned_at(last_seen)));
            }
            line.compact_if_empty();
        }
        for (token, at) in ended {
            self.mark_expired(token, at, policy);
        }
        while let Some(&(forget_at, token)) = self.forget_queue.first() {
            if forget_at > now {
                break;
            }
            self.forget_queue.pop_first();
            if let Some(entry) = self.tokens.remove(&token)
                && self.by_user.get(&(entry.concert, entry.user)) == Some(&token)
            {
                self.by_user.remove(&(entry.concert, entry.user));
            }
        }
    }

    /// Appends to the revocation feed, and drops from its front what no
    /// pass needs any more.
    fn revoke(&mut self, token: TokenId, pass_expires_at: Timestamp, now: Timestamp) {
        self.revocation_seq += 1;
        self.revocations.insert(
            self.revocation_seq,
            Revocation {
                token,
                pass_expires_at,
            },
        );
        while let Some(entry) = self.revocations.first_entry() {
            if entry.get().pass_expires_at > now {
                break;
            }
            entry.remove();
        }
    }

    /// Records that the holder of a WAITING token was seen at `now`.
    fn touch(&mut self, token: TokenId, now: Timestamp) {
        let Rooms { tokens, lines, .. } = self;
        if let Some(entry) = tokens.get_mut(&token)
            && let Phase::Pending { last_seen } | Phase::PreQueue { last_seen } = entry.phase
        {
            if let Some(line) = lines.get_mut(&entry.concert) {
                line.by_last_seen.remove(&(last_seen, token));
                line.by_last_seen.insert((now, token));
            }
            entry.phase = match entry.phase {
                Phase::PreQueue { .. } => Phase::PreQueue { last_seen: now },
                _ => Phase::Pending { last_seen: now },
            };
            return;
        }
        if let Some(entry) = tokens.get_mut(&token)
            && let Phase::Waiting { arrival, last_seen } = entry.phase
            && let Some(line) = lines.get_mut(&entry.concert)
        {
            line.by_last_seen.remove(&(last_seen, token));
            line.by_last_seen.insert((now, token));
            entry.phase = Phase::Waiting {
                arrival,
                last_seen: now,
            };
        }
    }

    /// Sweeps the concert of `token`; returns that concert if the token is known.
    /// Sweeps the token's concert; `None` when the token is unknown or of
    /// another concert than `concert`.
    fn sweep_for(
        &mut self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> Option<()> {
        if self.tokens.get(&token)?.concert != concert {
            return None;
        }
        self.sweep(concert, now, policy);
        Some(())
    }

    /// The user's latest token for the concert, unless it has ended.
    fn live_token(&self, concert: ConcertId, user: UserId) -> Option<(TokenId, Entry)> {
        let token = *self.by_user.get(&(concert, user))?;
        let entry = *self.tokens.get(&token)?;
        (!matches!(entry.phase, Phase::Expired { .. })).then_some((token, entry))
    }

    fn mark_expired(&mut self, token: TokenId, at: Timestamp, policy: &QueuePolicy) {
        if let Some(entry) = self.tokens.get_mut(&token) {
            entry.phase = Phase::Expired { at };
            self.forget_queue.insert((policy.forget_at(at), token));
        }
    }

    fn view(&self, token: TokenId, policy: &QueuePolicy) -> Option<QueueToken> {
        let entry = self.tokens.get(&token)?;
        let state = match entry.phase {
            Phase::Pending { last_seen } => TokenState::Waiting {
                position: None,
                abandoned_at: policy.abandoned_at(last_seen),
            },
            Phase::PreQueue { last_seen } => TokenState::PreQueue {
                abandoned_at: policy.abandoned_at(last_seen),
            },
            Phase::Waiting { arrival, last_seen } => TokenState::Waiting {
                position: Some(
                    self.lines
                        .get(&entry.concert)
                        .map_or(1, |line| line.arrivals.rank(arrival)),
                ),
                abandoned_at: policy.abandoned_at(last_seen),
            },
            Phase::Active { expires_at } => TokenState::Active { expires_at },
            Phase::Expired { at } => TokenState::Expired { expired_at: at },
        };
        Some(QueueToken {
            token,
            concert_id: entry.concert,
            user_id: entry.user,
            issued_at: entry.issued_at,
            state,
            epoch: self.epoch,
        })
    }
}

impl Line {
    /// A line with nobody waiting starts its arrival numbers afresh, so the
    /// index does not grow for ever across rushes.
    fn compact_if_empty(&mut self) {
        if self.waiting.is_empty() && self.arrivals.len() > 0 {
            self.key_base += self.arrivals.len() as i64;
            self.arrivals = ArrivalIndex::default();
        }
    }

    /// Whether an entry for the pre-queue still goes there.
    fn pre_queue_open(&self) -> bool {
        self.taken.is_none()
    }

    /// Numbers the line afresh: `ahead` first, in their order (each with
    /// when it was last seen), then whoever was waiting already.
    fn renumber(&mut self, tokens: &mut HashMap<TokenId, Entry>, ahead: Vec<(TokenId, Timestamp)>) {
        let later: Vec<TokenId> = self.waiting.values().copied().collect();
        self.key_base += self.arrivals.len() as i64;
        self.arrivals = ArrivalIndex::default();
        self.waiting.clear();
        let later = later
            .into_iter()
            .filter_map(|token| match tokens.get(&token)?.phase {
                Phase::Waiting { last_seen, .. } => Some((token, last_seen)),
                _ => None,
            });
        let order: Vec<(TokenId, Timestamp)> = ahead.into_iter().chain(later).collect();
        for (token, last_seen) in order {
            if let Some(entry) = tokens.get_mut(&token) {
                let arrival = self.arrivals.push();
                self.waiting.insert(arrival, token);
                entry.phase = Phase::Waiting { arrival, last_seen };
            }
        }
    }

    /// Puts the fans back from an earlier epoch in line, in key order,
    /// ahead of whoever arrived since; those no longer reserved (abandoned
    /// meanwhile) are skipped.
    fn heal(&mut self, tokens: &mut HashMap<TokenId, Entry>) {
        let ahead = std::mem::take(&mut self.rejoined)
            .into_iter()
            .filter_map(|(_, token)| match tokens.get(&token)?.phase {
                Phase::Pending { last_seen } => Some((token, last_seen)),
                _ => None,
            })
            .collect();
        self.renumber(tokens, ahead);
        self.healed = true;
    }

    /// Whether admission waits for fans still coming back at `now`; at the
    /// window's end, puts them in line first.
    fn healing(&mut self, tokens: &mut HashMap<TokenId, Entry>, now: Timestamp) -> bool {
        match self.heal_until {
            Some(until) if !self.healed && now < until => true,
            Some(_) if !self.healed => {
                self.heal(tokens);
                false
            }
            _ => false,
        }
    }
}

impl MemoryWaitingRoom {
    /// A room that admits the back of its line first. Only for tests that
    /// must show the audit of admission order catching a broken room.
    #[doc(hidden)]
    pub fn admitting_newest_first() -> Self {
        Self {
            newest_first: true,
            ..Self::default()
        }
    }

    /// `enter`, `reserve` and `place` (see the port): the user's live
    /// token, or `candidate` put at the end of the line or reserved. `None`
    /// only from `place`, when `candidate` is not the user's live token.
    fn arrive(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        how: Arrival,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut rooms = lock(&self.inner);
        rooms.sweep(concert, now, policy);
        let live = rooms.live_token(concert, user);
        let mut issued_at = now;
        match (how, live) {
            (Arrival::Place(_), Some((existing, entry)))
                if existing == candidate && matches!(entry.phase, Phase::Pending { .. }) =>
            {
                // The reserved token's entry arrived: it joins the line below.
                issued_at = entry.issued_at;
                if let Phase::Pending { last_seen } = entry.phase
                    && let Some(line) = rooms.lines.get_mut(&concert)
                {
                    line.by_last_seen.remove(&(last_seen, candidate));
                }
            }
            (Arrival::Place(_), live) => {
                // Placed already, or no longer the user's live token (expired,
                // forgotten, replaced): a repeated entry changes nothing.
                return Ok(live
                    .filter(|(existing, _)| *existing == candidate)
                    .and_then(|(existing, _)| rooms.view(existing, policy)));
            }
            (Arrival::Enter(_) | Arrival::Reserve, Some((existing, _))) => {
                // Asking again is a sign of life, like a poll.
                rooms.touch(existing, now);
                return Ok(rooms.view(existing, policy));
            }
            (Arrival::Enter(_) | Arrival::Reserve, None) => {}
        }
        let line = rooms.lines.entry(concert).or_default();
        line.by_last_seen.insert((now, candidate));
        let phase = match how {
            Arrival::Reserve => Phase::Pending { last_seen: now },
            Arrival::Enter(Lane::PreQueue) | Arrival::Place(Lane::PreQueue)
                if line.pre_queue_open() =>
            {
                line.pre_queue.insert(candidate);
                Phase::PreQueue { last_seen: now }
            }
            Arrival::Enter(_) | Arrival::Place(_) => {
                let arrival = line.arrivals.push();
                line.waiting.insert(arrival, candidate);
                Phase::Waiting {
                    arrival,
                    last_seen: now,
                }
            }
        };
        rooms.tokens.insert(
            candidate,
            Entry {
                concert,
                user,
                issued_at,
                phase,
            },
        );
        rooms.by_user.insert((concert, user), candidate);
        Ok(rooms.view(candidate, policy))
    }
}

/// How a token arrives in the room, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    Enter(Lane),
    Reserve,
    Place(Lane),
}

#[async_trait]
impl WaitingRoom for MemoryWaitingRoom {
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
        lane: Lane,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, Arrival::Enter(lane))?
            .ok_or_else(|| anyhow::anyhow!("a token vanished while it was being issued"))
    }

    async fn reserve(
        &self,
        concert: ConcertId,
        user: UserId,
        candidate: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<QueueToken> {
        self.arrive(concert, user, candidate, now, policy, Arrival::Reserve)?
            .ok_or_else(|| anyhow::anyhow!("a token vanished while it was being reserved"))
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
    }

    async fn poll(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut rooms = lock(&self.inner);
        if rooms.sweep_for(concert, token, now, policy).is_none() {
            return Ok(None);
        }
        rooms.touch(token, now);
        Ok(rooms.view(token, policy))
    }

    async fn rejoin(
        &self,
        r: &Rejoin,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut rooms = lock(&self.inner);
        if r.epoch == rooms.epoch {
            return Ok(None);
        }
        rooms.sweep(r.concert, now, policy);
        if let Some(entry) = rooms.tokens.get(&r.token) {
            // Back already (a repeat, or a twin request).
            if (entry.concert, entry.user) != (r.concert, r.user) {
                return Ok(None);
            }
            rooms.touch(r.token, now);
            return Ok(rooms.view(r.token, policy));
        }
        if rooms.live_token(r.concert, r.user).is_some() {
            return Ok(None);
        }
        let Rooms { tokens, lines, .. } = &mut *rooms;
        let line = lines.entry(r.concert).or_default();
        line.by_last_seen.insert((now, r.token));
        let phase = if r.lane == Lane::PreQueue && line.pre_queue_open() {
            line.pre_queue.insert(r.token);
            Phase::PreQueue { last_seen: now }
        } else if line.healed {
            let arrival = line.arrivals.push();
            line.waiting.insert(arrival, r.token);
            Phase::Waiting {
                arrival,
                last_seen: now,
            }
        } else {
            line.rejoined.insert((r.key, r.token));
            line.heal_until.get_or_insert(policy.healed_at(now));
            Phase::Pending { last_seen: now }
        };
        tokens.insert(
            r.token,
            Entry {
                concert: r.concert,
                user: r.user,
                issued_at: r.issued_at,
                phase,
            },
        );
        rooms.by_user.insert((r.concert, r.user), r.token);
        Ok(rooms.view(r.token, policy))
    }

    async fn peek(
        &self,
        concert: ConcertId,
        token: TokenId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut rooms = lock(&self.inner);
        if rooms.sweep_for(concert, token, now, policy).is_none() {
            return Ok(None);
        }
        Ok(rooms.view(token, policy))
    }

    async fn poll_many(
        &self,
        concert: ConcertId,
        tokens: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Vec<Option<QueueToken>>> {
        let mut rooms = lock(&self.inner);
        rooms.sweep(concert, now, policy);
        Ok(tokens
            .iter()
            .map(|&token| {
                let ours = rooms.tokens.get(&token).map(|e| e.concert) == Some(concert);
                ours.then(|| {
                    rooms.touch(token, now);
                    rooms.view(token, policy)
                })
                .flatten()
            })
            .collect())
    }

    async fn admit(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<AdmitOutcome> {
        let mut rooms = lock(&self.inner);
        rooms.sweep(concert, now, policy);
        let Rooms { tokens, lines, .. } = &mut *rooms;
        let Some(line) = lines.get_mut(&concert) else {
            return Ok(AdmitOutcome::default());
        };
        let healing = line.healing(tokens, now);
        let mut outcome = AdmitOutcome {
            waiting_before: line.waiting.len() as u64,
            active_before: line.active.len() as u64,
            draw_pending: line.taken.is_some() && !line.placed,
            ..AdmitOutcome::default()
        };
        let slots = if outcome.draw_pending || healing {
            0
        } else {
            policy.admission_slots(line.active.len() as u64)
        };
        let expires_at = policy.active_until(now);
        while outcome.admitted < slots {
            let next = if self.newest_first {
                line.waiting.pop_last()
            } else {
                line.waiting.pop_first()
            };
            let Some((arrival, token)) = next else {
                break;
            };
            line.arrivals.remove(arrival);
            line.admissions
                .push((line.key_base + arrival as i64, now.as_millis()));
            if let Some(entry) = tokens.get_mut(&token) {
                if let Phase::Waiting { last_seen, .. } = entry.phase {
                    line.by_last_seen.remove(&(last_seen, token));
                }
                entry.phase = Phase::Active { expires_at };
            }
            line.active.insert((expires_at, token));
            outcome.admitted += 1;
        }
        line.admitted_total += outcome.admitted;
        outcome.admitted_total = line.admitted_total;
        outcome.abandoned_total = line.abandoned_total;
        line.compact_if_empty();
        Ok(outcome)
    }

    async fn take_pre_queue(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<PreQueueDraw> {
        let mut rooms = lock(&self.inner);
        rooms.sweep(concert, now, policy);
        let line = rooms.lines.entry(concert).or_default();
        let entries = line
            .taken
            .get_or_insert_with(|| {
                let mut entries: Vec<TokenId> = line.pre_queue.iter().copied().collect();
                entries.sort();
                entries
            })
            .clone();
        Ok(PreQueueDraw {
            entries,
            placed: line.placed,
        })
    }

    async fn place_drawn(
        &self,
        concert: ConcertId,
        order: &[TokenId],
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<bool> {
        let mut rooms = lock(&self.inner);
        rooms.sweep(concert, now, policy);
        let Rooms { tokens, lines, .. } = &mut *rooms;
        let line = lines.entry(concert).or_default();
        if line.placed || line.taken.is_none() {
            return Ok(false);
        }
        // The drawn entries go first, then whoever arrived since the
        // opening, in their order: the line is numbered afresh.
        let mut ahead = Vec::new();
        for token in order {
            if let Some(Phase::PreQueue { last_seen }) = tokens.get(token).map(|e| e.phase)
                && line.pre_queue.remove(token)
            {
                ahead.push((*token, last_seen));
            }
        }
        line.renumber(tokens, ahead);
        line.placed = true;
        Ok(true)
    }

    async fn census(
        &self,
        concert: ConcertId,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Census> {
        let mut rooms = lock(&self.inner);
        rooms.sweep(concert, now, policy);
        Ok(rooms
            .lines
            .get(&concert)
            .map(|line| Census {
                pre_queued: line.pre_queue.len() as u64,
                waiting: line.waiting.len() as u64,
                active: line.active.len() as u64,
            })
            .unwrap_or_default())
    }

    async fn expire(
        &self,
        concert: ConcertId,
        user: UserId,
        issued_by: Timestamp,
        now: Timestamp,
        policy: &QueuePolicy,
    ) -> anyhow::Result<Option<QueueToken>> {
        let mut rooms = lock(&self.inner);
        let Some(&token) = rooms.by_user.get(&(concert, user)) else {
            return Ok(None);
        };
        let Some(entry) = rooms.tokens.get(&token).copied() else {
            return Ok(None);
        };
        if entry.issued_at > issued_by {
            return Ok(None);
        }
        let before = rooms.view(token, policy);
        if let Some(line) = rooms.lines.get_mut(&concert) {
            match entry.phase {
                Phase::Pending { last_seen } => {
                    line.by_last_seen.remove(&(last_seen, token));
                    line.abandoned_total += 1;
                }
                Phase::PreQueue { last_seen } => {
                    line.by_last_seen.remove(&(last_seen, token));
                    line.pre_queue.remove(&token);
                    line.abandoned_total += 1;
                }
                Phase::Waiting { arrival, last_seen } => {
                    line.waiting.remove(&arrival);
                    line.arrivals.remove(arrival);
                    line.by_last_seen.remove(&(last_seen, token));
                    line.abandoned_total += 1;
                }
                Phase::Active { expires_at } => {
                    line.active.remove(&(expires_at, token));
                }
                Phase::Expired { .. } => return Ok(None),
            }
            line.compact_if_empty();
        }
        rooms.mark_expired(token, now, policy);
        if let Phase::Active { expires_at } = entry.phase {
            rooms.revoke(token, expires_at, now);
        }
        Ok(before)
    }

    async fn revocations_since(&self, cursor: &str, limit: u32) -> anyhow::Result<RevocationPage> {
        let rooms = lock(&self.inner);
        let after: u64 = if cursor.is_empty() {
            0
        } else {
            cursor.parse()?
        };
        let mut last = after;
        let revocations = rooms
            .revocations
            .range(after + 1..)
            .take(limit as usize)
            .map(|(seq, r)| {
                last = *seq;
                *r
            })
            .collect();
        Ok(RevocationPage {
            revocations,
            cursor: last.to_string(),
        })
    }

    async fn concerts_in_line(&self) -> anyhow::Result<Vec<ConcertId>> {
        let rooms = lock(&self.inner);
        let mut concerts: Vec<_> = rooms
            .lines
            .iter()
            .filter(|(_, line)| {
                !line.waiting.is_empty()
                    || !line.active.is_empty()
                    || !line.pre_queue.is_empty()
                    || !line.rejoined.is_empty()
            })
            .map(|(c, _)| *c)
            .collect();
        concerts.sort();
        Ok(concerts)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn admissions(&self, concert: ConcertId) -> anyhow::Result<Vec<(i64, i64)>> {
        Ok(lock(&self.inner)
            .lines
            .get(&concert)
            .map(|line| line.admissions.clone())
            .unwrap_or_default())
    }
}

/// A Fenwick (binary indexed) tree over arrival numbers 1, 2, 3, ... holding
/// 1 for each arrival still waiting and 0 once it left the line. `rank(a)` is
/// the number of waiting arrivals up to and including `a`: its 1-based position.
#[derive(Debug, Clone)]
struct ArrivalIndex {
    /// `tree[0]` is unused; `tree[i]` sums the values in `(i - lowbit(i), i]`.
    tree: Vec<i64>,
}

impl Default for ArrivalIndex {
    fn default() -> Self {
        Self { tree: vec![0] }
    }
}

const fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl ArrivalIndex {
    fn len(&self) -> usize {
        self.tree.len() - 1
    }

    /// Appends a waiting arrival and returns its number, in O(log n).
    fn push(&mut self) -> usize {
        let i = self.tree.len();
        let covered = self.prefix(i - 1) - self.prefix(i - lowbit(i));
        self.tree.push(1 + covered);
        i
    }

    /// Marks an arrival as gone from the line.
    fn remove(&mut self, arrival: usize) {
        if arrival == 0 || arrival >= self.tree.len() || self.value(arrival) == 0 {
            return;
        }
        let mut i = arrival;
        while i < self.tree.len() {
            self.tree[i] -= 1;
            i += lowbit(i);
        }
    }

    fn value(&self, i: usize) -> i64 {
        self.prefix(i) - self.prefix(i - 1)
    }

    fn prefix(&self, mut i: usize) -> i64 {
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i];
            i -= lowbit(i);
        }
        sum
    }

    fn rank(&self, arrival: usize) -> u64 {
        u64::try_from(self.prefix(arrival.min(self.len()))).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::ArrivalIndex;
    use proptest::prelude::*;

    proptest! {
        /// The index agrees with counting by hand after any pushes and removals.
        #[test]
        fn ranks_match_a_naive_count(ops in proptest::collection::vec((any::<bool>(), 0usize..300), 1..400)) {
            let mut index = ArrivalIndex::default();
            let mut alive = vec![false]; // alive[0] unused
            for (is_push, pick) in ops {
                if is_push || alive.len() == 1 {
                    let a = index.push();
                    prop_assert_eq!(a, alive.len());
                    alive.push(true);
                } else {
                    let a = 1 + pick % (alive.len() - 1);
                    index.remove(a);
                    alive[a] = false;
                }
                for a in 1..alive.len() {
                    let naive = alive[1..=a].iter().filter(|x| **x).count() as u64;
                    prop_assert_eq!(index.rank(a), naive);
                }
            }
        }
    }
}
