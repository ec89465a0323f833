//! A concert's waiting room as its operator runs it: the room's state,
//! its admission settings, the sale's opening and closing times, the
//! pre-queue lottery, what the line has been seen to do (its flow), and
//! the wait estimate and polling interval shown to fans.

use super::queue_token::QueuePolicy;
use super::{ConcertId, Timestamp};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where the operator has put the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoomState {
    /// The sale has not opened: fans who come within the pre-queue window
    /// wait unordered until `sale_opens_at`, then are drawn into line.
    Scheduled,
    /// The line moves at the room's rate.
    Open,
    /// Nobody is admitted; fans keep their places.
    Paused,
    /// Fans are ACTIVE at once while the room is under its cap.
    PassThrough,
    /// No new tokens; fans in line are told the sale is closed.
    Closed,
}

impl RoomState {
    pub const ALL: [RoomState; 5] = [
        RoomState::Scheduled,
        RoomState::Open,
        RoomState::Paused,
        RoomState::PassThrough,
        RoomState::Closed,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            RoomState::Scheduled => "SCHEDULED",
            RoomState::Open => "OPEN",
            RoomState::Paused => "PAUSED",
            RoomState::PassThrough => "PASS_THROUGH",
            RoomState::Closed => "CLOSED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether an operator may move a room from `self` to `next` (`drawn`:
    /// the concert's pre-queue lottery has been drawn). A room goes back to
    /// SCHEDULED only while its lottery is still to be drawn: a concert
    /// draws once.
    pub fn may_move_to(self, next: RoomState, drawn: bool) -> bool {
        match (self, next) {
            (a, b) if a == b => false,
            (_, RoomState::Scheduled) => !drawn,
            (RoomState::Scheduled, RoomState::Open | RoomState::Closed) => true,
            (RoomState::Scheduled, _) => false,
            _ => true,
        }
    }
}

/// A concert's own admission settings; `None` takes the configured default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSettings {
    pub admit_batch: Option<u32>,
    pub admit_interval_secs: Option<u64>,
    pub max_active: Option<u32>,
    pub active_ttl_secs: Option<u64>,
    pub abandon_after_secs: Option<u64>,
}

/// Why a change to a room was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomRejected {
    #[error("{0}")]
    BadSetting(String),
    #[error("a room cannot move from {from} to {to}")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
}

/// The shortest abandon-after a room may have: fans told to poll every
/// `MAX_POLL_AFTER_SECS` must not be abandoned between two polls.
pub const MIN_ABANDON_AFTER_SECS: u64 = 4 * MAX_POLL_AFTER_SECS;

impl RoomSettings {
    /// The policy the room runs on: `defaults` overlaid with these settings.
    pub fn apply(&self, defaults: &QueuePolicy) -> QueuePolicy {
        QueuePolicy {
            admit_batch: self.admit_batch.unwrap_or(defaults.admit_batch),
            admit_interval_secs: self
                .admit_interval_secs
                .unwrap_or(defaults.admit_interval_secs),
            max_active: self.max_active.unwrap_or(defaults.max_active),
            active_ttl_secs: self.active_ttl_secs.unwrap_or(defaults.active_ttl_secs),
            abandon_after_secs: self
                .abandon_after_secs
                .unwrap_or(defaults.abandon_after_secs),
            ..*defaults
        }
    }

    /// Refuses settings the room cannot run on.
    pub fn validate(&self) -> Result<(), RoomRejected> {
        let bad = |what: &str| Err(RoomRejected::BadSetting(what.to_owned()));
        if matches!(self.admit_batch, Some(0 | 100_001..)) {
            return bad("the admission batch must be between 1 and 100000");
        }
        if matches!(self.admit_interval_secs, Some(0 | 3_601..)) {
            return bad("admitIntervalSecs must be between 1 and 3600");
        }
        if matches!(self.max_active, Some(0 | 1_000_001..)) {
            return bad("maxActive must be between 1 and 1000000");
        }
        if matches!(self.active_ttl_secs, Some(0..60 | 86_401..)) {
            return bad("activeTtlSecs must be between 60 and 86400");
        }
        if matches!(self.abandon_after_secs, Some(s) if !(MIN_ABANDON_AFTER_SECS..=86_400).contains(&s))
        {
            return Err(RoomRejected::BadSetting(format!(
                "abandonAfterSecs must be between {MIN_ABANDON_AFTER_SECS} and 86400"
            )));
        }
        Ok(())
    }

    /// The batch that admits `per_minute` fans a minute in rounds of
    /// `interval_secs` (rounded up, so the rate is never below the asked).
    pub fn batch_for_rate(per_minute: u32, interval_secs: u64) -> u32 {
        let batch = (u64::from(per_minute) * interval_secs).div_ceil(60).max(1);
        u32::try_from(batch).unwrap_or(u32::MAX)
    }
}

/// When fans may buy: `None` is no bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleWindow {
    pub opens_at: Option<Timestamp>,
    pub closes_at: Option<Timestamp>,
}

/// What the line has been seen to do, kept by the admission rounds and
/// read by every instance's wait estimates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flow {
    /// Admissions per round while fans were waiting, smoothed, in
    /// thousandths; `0` until a round with anyone in line was seen. Shown
    /// to the operator; the estimates go by the cohorts below.
    pub admitted_per_round_milli: u64,
    /// Of the fans who left the line so far, the share that left without
    /// being admitted (abandoned, left, revoked), in thousandths.
    pub no_show_permille: u64,
    /// The waiting room's running totals when the flow was last updated.
    pub admitted_total: u64,
    pub abandoned_total: u64,
    /// The fans ACTIVE when the last round ended (its admissions included)
    /// by when they were admitted, oldest first: they are taken to leave in
    /// that order. At most [`MAX_COHORTS`] entries.
    pub cohorts: Vec<Cohort>,
    /// How long an admitted fan stays ACTIVE (until they pay, leave or time
    /// out), smoothed, in milliseconds; `0` until some were seen to leave.
    pub session_ms: u64,
    /// How far the rounds' sessions were from that, smoothed, in
    /// milliseconds: fans admitted together leave over about twice this.
    pub session_spread_ms: u64,
    /// When the last round ran, in milliseconds since the epoch; `0` before any.
    pub observed_at_ms: i64,
}

/// Fans admitted together (in one round, or in neighbouring rounds merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cohort {
    /// When they were admitted, in milliseconds since the epoch.
    pub at_ms: i64,
    /// How many of them are still ACTIVE.
    pub fans: u64,
    /// How many were admitted.
    pub admitted: u64,
}

/// The most cohorts a flow keeps; beyond, the two closest in time merge.
pub const MAX_COHORTS: usize = 32;

/// What one admission round saw and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// When it ran, in milliseconds since the epoch.
    pub at_ms: i64,
    pub admitted: u64,
    /// WAITING fans in line when it began.
    pub waiting_before: u64,
    /// ACTIVE fans when it began, those who timed out already gone.
    pub active_before: u64,
    /// The waiting room's running totals after it.
    pub admitted_total: u64,
    pub abandoned_total: u64,
}

/// How much the last round weighs in the smoothed figures.
const FLOW_WEIGHT_PERCENT: u64 = 30;

fn smoothed(old: u64, observed: u64, first: bool) -> u64 {
    if first {
        observed
    } else {
        (old * (100 - FLOW_WEIGHT_PERCENT) + observed * FLOW_WEIGHT_PERCENT) / 100
    }
}

impl Flow {
    /// The fans ACTIVE when the last round ended.
    pub fn active(&self) -> u64 {
        self.cohorts.iter().map(|c| c.fans).sum()
    }

    /// The flow after `round`.
    ///
    /// - Rounds with nobody waiting tell nothing about the line's speed and
    ///   leave the admissions per round as they were.
    /// - The ACTIVE fans who left since the previous round (the cohorts
    ///   held more than the round found) are taken from the oldest cohorts;
    ///   how long they had been ACTIVE is a sample of the session length.
    /// - The round's admissions join as the newest cohort.
    pub fn after_round(&self, round: &Round) -> Flow {
        let admitted_per_round_milli = if round.waiting_before == 0 {
            self.admitted_per_round_milli
        } else {
            smoothed(
                self.admitted_per_round_milli,
                round.admitted.saturating_mul(1000),
                self.admitted_per_round_milli == 0,
            )
        };
        let mut cohorts = self.cohorts.clone();
        let mut held = self.active();
        // ACTIVE fans no round admitted (let in by pass-through, or ACTIVE
        // before cohorts were kept) join as the oldest cohort, admitted no
        // later than the last round.
        let untracked = round.active_before.saturating_sub(held);
        if untracked > 0 {
            let at_ms = if self.observed_at_ms > 0 {
                self.observed_at_ms
            } else {
                round.at_ms
            };
            cohorts.insert(
                0,
                Cohort {
                    at_ms,
                    fans: untracked,
                    admitted: untracked,
                },
            );
            held += untracked;
        }
        let mut leaving = held.saturating_sub(round.active_before);
        let (mut left, mut active_ms) = (0u64, 0u128);
        while leaving > 0 {
            let Some(oldest) = cohorts.first_mut() else {
                break;
            };
            let gone = oldest.fans.min(leaving);
            let age = u64::try_from(round.at_ms - oldest.at_ms).unwrap_or(0);
            active_ms += u128::from(age) * u128::from(gone);
            left += gone;
            leaving -= gone;
            oldest.fans -= gone;
            if oldest.fans == 0 {
                cohorts.remove(0);
            }
        }
        let (session_ms, session_spread_ms) =
            match u64::try_from(active_ms.checked_div(u128::from(left)).unwrap_or(0)) {
                Ok(sample) if left > 0 && self.session_ms == 0 => (sample, 0),
                Ok(sample) if left > 0 => (
                    smoothed(self.session_ms, sample, false),
                    smoothed(
                        self.session_spread_ms,
                        sample.abs_diff(self.session_ms),
                        false,
                    ),
                ),
                _ => (self.session_ms, self.session_spread_ms),
            };
        if round.admitted > 0 {
            cohorts.push(Cohort {
                at_ms: round.at_ms,
                fans: round.admitted,
                admitted: round.admitted,
            });
        }
        while cohorts.len() > MAX_COHORTS {
            // Merge the two closest neighbours, at the later one's instant
            // (their fans are then taken to stay a little longer, not less).
            let closest = (1..cohorts.len())
                .min_by_key(|&i| cohorts[i].at_ms - cohorts[i - 1].at_ms)
                .unwrap_or(1);
            let earlier = cohorts.remove(closest - 1);
            cohorts[closest - 1].fans += earlier.fans;
            cohorts[closest - 1].admitted += earlier.admitted;
        }
        let left_line = round.admitted_total + round.abandoned_total;
        let no_show_permille = (round.abandoned_total * 1000)
            .checked_div(left_line)
            .unwrap_or(0);
        Flow {
            admitted_per_round_milli,
            no_show_permille,
            admitted_total: round.admitted_total,
            abandoned_total: round.abandoned_total,
            cohorts,
            session_ms,
            session_spread_ms,
            observed_at_ms: round.at_ms,
        }
    }

    /// When the `j`-th (1-based) of the ACTIVE fans, oldest first, is
    /// expected to leave, at `now_ms`, with sessions of `session_ms` give or
    /// take `spread_ms`. A cohort admitted at `a` leaves evenly over
    /// `a + session ± spread`: its size over twice the spread a millisecond.
    /// Its fans still there leave at that pace from the start of that
    /// window, or from now once it has begun: a cohort slower than the
    /// window is taken to go on at the same pace, not to leave at once.
    fn leaves_at(&self, j: u64, session_ms: i64, spread_ms: i64, now_ms: i64) -> i64 {
        // The `nth` still there of a cohort admitted at `at`, `admitted` strong.
        let leaves = |at: i64, admitted: u64, nth: u64| {
            let from = now_ms.max(at.saturating_add(session_ms).saturating_sub(spread_ms));
            // Each fan at the middle of their share of the window.
            let width =
                i128::from(spread_ms) * (2 * i128::from(nth) - 1) / i128::from(admitted.max(1));
            from.saturating_add(i64::try_from(width).unwrap_or(i64::MAX))
        };
        // Cohorts leave in order: none before the one admitted ahead of it.
        let (mut before, mut floor) = (0, i64::MIN);
        for c in &self.cohorts {
            let admitted = c.admitted.max(c.fans);
            if before + c.fans >= j {
                return leaves(c.at_ms, admitted, j - before).max(floor);
            }
            before += c.fans;
            floor = floor.max(leaves(c.at_ms, admitted, c.fans));
        }
        // Past the last ACTIVE fan (not asked for): when they have all left.
        floor.max(now_ms)
    }
}

/// A concert's room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub concert: ConcertId,
    pub state: RoomState,
    pub settings: RoomSettings,
    pub sale: SaleWindow,
    /// The lottery's secret seed (64 hex digits), set when the sale is
    /// scheduled; revealed once drawn.
    pub lottery_seed: Option<String>,
    /// When the pre-queue was drawn into line; `None` until then.
    pub drawn_at: Option<Timestamp>,
    pub flow: Flow,
    /// Bumped by every change, for optimistic updates.
    pub version: i64,
}

/// The room's effective state at an instant: the stored state with the
/// sale's times applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomPhase {
    /// Scheduled, and the pre-queue has not opened yet.
    NotYetOpen {
        pre_queue_opens_at: Timestamp,
    },
    /// Scheduled, within the pre-queue window (or with no opening time).
    PreQueue {
        opens_at: Option<Timestamp>,
    },
    /// Open; `draw_due` while a scheduled sale's pre-queue is still to be drawn.
    Open {
        draw_due: bool,
    },
    Paused,
    PassThrough,
    /// Closed by the operator or by `sale_closes_at`.
    Closed,
}

impl RoomPhase {
    pub const fn name(self) -> &'static str {
        match self {
            RoomPhase::NotYetOpen { .. } | RoomPhase::PreQueue { .. } => "SCHEDULED",
            RoomPhase::Open { .. } => "OPEN",
            RoomPhase::Paused => "PAUSED",
            RoomPhase::PassThrough => "PASS_THROUGH",
            RoomPhase::Closed => "CLOSED",
        }
    }

    /// Whether admission rounds let anyone in.
    pub const fn admits(self) -> bool {
        matches!(
            self,
            RoomPhase::Open { draw_due: false } | RoomPhase::PassThrough
        )
    }
}

impl Room {
    /// A room as a new concert gets it: open, on the configured defaults.
    pub fn new(concert: ConcertId) -> Self {
        Self {
            concert,
            state: RoomState::Open,
            settings: RoomSettings::default(),
            sale: SaleWindow::default(),
            lottery_seed: None,
            drawn_at: None,
            flow: Flow::default(),
            version: 0,
        }
    }

    pub fn phase_at(&self, now: Timestamp, pre_queue_window_secs: u64) -> RoomPhase {
        if self.state == RoomState::Closed || self.sale.closes_at.is_some_and(|at| at <= now) {
            return RoomPhase::Closed;
        }
        match (self.state, self.sale.opens_at) {
            (RoomState::Scheduled, Some(opens_at)) if opens_at <= now => {
                RoomPhase::Open { draw_due: true }
            }
            (RoomState::Scheduled, Some(opens_at)) => {
                let window_ms =
                    i64::try_from(pre_queue_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                let pre_queue_opens_at =
                    Timestamp::from_millis(opens_at.as_millis().saturating_sub(window_ms));
                if now < pre_queue_opens_at {
                    RoomPhase::NotYetOpen { pre_queue_opens_at }
                } else {
                    RoomPhase::PreQueue {
                        opens_at: Some(opens_at),
                    }
                }
            }
            (RoomState::Scheduled, None) => RoomPhase::PreQueue { opens_at: None },
            (RoomState::Open, _) => RoomPhase::Open {
                draw_due: self.lottery_seed.is_some() && self.drawn_at.is_none(),
            },
            (RoomState::Paused, _) => RoomPhase::Paused,
            (RoomState::PassThrough, _) => RoomPhase::PassThrough,
            (RoomState::Closed, _) => RoomPhase::Closed,
        }
    }

    /// The SHA-256 of the seed, in hex: published before the draw.
    pub fn lottery_commitment(&self) -> Option<String> {
        self.lottery_seed.as_deref().map(commitment_of)
    }
}

/// The SHA-256 of a seed's text, in hex.
pub fn commitment_of(seed_hex: &str) -> String {
    hex(&Sha256::digest(seed_hex.as_bytes()))
}

/// A pre-queue entry's public id: the SHA-256 of "entry:" and its token id,
/// first 16 bytes in hex. It names the entry in the published draw without
/// naming the token.
pub fn lottery_entry_id(token_hex: &str) -> String {
    let digest = Sha256::digest(format!("entry:{token_hex}").as_bytes());
    hex(&digest[..16])
}

/// The draw's key of an entry: HMAC-SHA256(seed, entry id), in hex.
pub fn lottery_key(seed_hex: &str, entry_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(seed_hex.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(entry_id.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// How the draw orders the pre-queue, as published with it.
pub const LOTTERY_ALGORITHM: &str = "entries sorted by lowercase hex HMAC-SHA256(key = seed text, message = entryId), ties by entryId; entryId = first 16 bytes of SHA-256(\"entry:\" + token id), in hex; commitment = SHA-256(seed text)";

/// The drawn order of the pre-queue: entry ids sorted by their key (ties,
/// which SHA-256 makes as good as impossible, by id). Anyone holding the
/// seed and the entry ids gets the same order.
pub fn draw(seed_hex: &str, entry_ids: &[String]) -> Vec<String> {
    let mut keyed: Vec<(String, &String)> = entry_ids
        .iter()
        .map(|id| (lottery_key(seed_hex, id), id))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, id)| id.clone()).collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A wait estimate: the expected seconds, a range, and the instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eta {
    pub secs: u64,
    pub low: u64,
    pub high: u64,
    /// When the fan is expected to be admitted.
    pub at: Timestamp,
}

/// The wait of the fan at 1-based `position` at `now`, in a line running
/// on `policy` (its cap already lowered to the seats still sellable) with
/// `flow` observed so far.
///
/// - Only the fans ahead who will really take a slot count: of the
///   `position - 1` ahead, the observed no-show share leaves.
/// - Rounds run on the interval's boundaries, the first at the next one;
///   the k-th admission from now comes no earlier than round k / batch
///   (rounded up). Later rounds are not held to the batch again: the slots
///   that free together are a cohort admitted in one round, a batch at most.
/// - The slots free at the last round go first.
/// - Past those, a slot frees when an ACTIVE fan leaves (pays, leaves,
///   times out). They are taken to leave in the order they were admitted,
///   those admitted together evenly over a session after their admission,
///   give or take the observed spread (half the session until it is
///   seen); once that window began, those still there at its pace from
///   now. The session is the one observed so far
///   (`expected_checkout_secs` before anyone was seen to leave, and never
///   longer than the active TTL). The fans ACTIVE now free the first slots;
///   after them, the fans admitted from now on, a session after their own
///   admission, and so on.
/// - The fan is admitted in the first round at or after the instant their
///   slot frees.
///
/// The range takes half and one and a half times the no-show share, and
/// sessions a quarter shorter and longer.
pub fn eta(position: u64, policy: &QueuePolicy, flow: &Flow, now: Timestamp) -> Eta {
    let session_ms = if flow.session_ms > 0 {
        flow.session_ms
    } else {
        policy.expected_checkout_secs.saturating_mul(1000)
    }
    .min(policy.active_ttl_secs.max(1).saturating_mul(1000));
    let f = flow.no_show_permille;
    let line = Line {
        policy,
        flow,
        now_ms: now.as_millis(),
    };
    let expected = line.admitted_at(position, f, session_ms);
    let ttl_ms = policy.active_ttl_secs.max(1).saturating_mul(1000);
    let low = line.admitted_at(position, f + f / 2, session_ms - session_ms / 4);
    let high = line.admitted_at(
        position,
        f / 2,
        session_ms.saturating_add(session_ms / 4).min(ttl_ms),
    );
    let secs = |at: i64| u64::try_from(at - line.now_ms).unwrap_or(0).div_ceil(1000);
    Eta {
        secs: secs(expected),
        low: secs(low),
        high: secs(high),
        at: Timestamp::from_millis(expected),
    }
}

/// The arithmetic of [`eta`].
struct Line<'a> {
    policy: &'a QueuePolicy,
    flow: &'a Flow,
    now_ms: i64,
}

/// How many generations of ACTIVE fans [`Line::admitted_at`] follows one by
/// one; a slot further back adds a session for each generation beyond.
const MAX_GENERATIONS: u64 = 256;

impl Line<'_> {
    fn interval_ms(&self) -> i64 {
        i64::try_from(self.policy.admit_interval_secs.max(1) * 1000).unwrap_or(i64::MAX)
    }

    /// The first round boundary at or after `at`, and not before the next
    /// round from now.
    fn round_from(&self, at: i64) -> i64 {
        let interval = self.interval_ms();
        let next = self.now_ms - self.now_ms.rem_euclid(interval) + interval;
        if at <= next {
            next
        } else {
            at.saturating_add((interval - at.rem_euclid(interval)) % interval)
        }
    }

    /// When the fan at `position` is admitted, with `no_show_permille` of
    /// those ahead leaving and sessions of `session_ms`.
    fn admitted_at(&self, position: u64, no_show_permille: u64, session_ms: u64) -> i64 {
        let ahead = position.saturating_sub(1);
        let showing = ahead * (1000 - no_show_permille.min(950)) / 1000;
        let session = i64::try_from(session_ms).unwrap_or(i64::MAX);
        let batch = u64::from(self.policy.admit_batch.max(1));
        let cap = u64::from(self.policy.max_active).max(1);
        let active = self.flow.active();
        let free = cap.saturating_sub(active);
        // Above a lowered cap, the first leavers free no slot.
        let surplus = active.saturating_sub(cap);
        let by_batch = |slot: u64| {
            let rounds = i64::try_from(slot.div_ceil(batch)).unwrap_or(i64::MAX);
            self.round_from(self.now_ms)
                .saturating_add((rounds - 1).saturating_mul(self.interval_ms()))
        };
        // One sample, or none, tells no spread: half the session.
        let spread = match self.flow.session_spread_ms {
            0 => session_ms / 2,
            d => d.min(session_ms),
        };
        let spread = i64::try_from(spread).unwrap_or(0);
        let active_leaves = |j: u64| self.flow.leaves_at(j, session, spread, self.now_ms);
        // Fans admitted from now on leave after all those ACTIVE now.
        let last_active_leaves = if active > 0 {
            active_leaves(active)
        } else {
            i64::MIN
        };
        // The first cap of slots: the free ones, then those the fans ACTIVE
        // now free (leaver number slot - free + surplus). Slot k beyond
        // frees when the fan admitted into slot k - cap leaves, a session
        // after their admission: a generation later.
        let slot = showing + 1;
        let base = (slot - 1) % cap + 1;
        let mut at = if base <= free {
            by_batch(base)
        } else {
            self.round_from(active_leaves(base - free + surplus))
                .max(by_batch(base))
        };
        let generations = (slot - base) / cap;
        let skipped = generations.saturating_sub(MAX_GENERATIONS);
        if skipped > 0 {
            // Far back: a session for each generation, the batch aside.
            let sessions = i64::try_from(skipped - 1)
                .unwrap_or(i64::MAX)
                .saturating_mul(session);
            at = self.round_from(
                at.saturating_add(session)
                    .max(last_active_leaves)
                    .saturating_add(sessions),
            );
        }
        for generation in skipped + 1..=generations {
            let k = base + generation * cap;
            at = self
                .round_from(at.saturating_add(session).max(last_active_leaves))
                .max(by_batch(k));
        }
        at
    }
}

/// The longest a fan is told to wait before checking again.
pub const MAX_POLL_AFTER_SECS: u64 = 30;

/// How long a fan expecting to wait `eta_secs` should wait before checking
/// again: a tenth of the wait, between 1 and 30 s. The front of the line
/// checks every second or two; the far back every 30 s.
pub fn poll_after_secs(eta_secs: u64) -> u64 {
    (eta_secs / 10).clamp(1, MAX_POLL_AFTER_SECS)
}

/// How many pairs of admissions went out of line order: `(line_key,
/// admitted_at_ms)` per admitted fan, where a smaller key was ahead in
/// line. A pair counts when the fan ahead was admitted strictly later.
/// O(n log n), by merge sort.
pub fn admission_inversions(admissions: &[(i64, i64)]) -> u64 {
    let mut sorted = admissions.to_vec();
    sorted.sort_by_key(|&(key, at)| (key, at));
    let mut times: Vec<i64> = sorted.into_iter().map(|(_, at)| at).collect();
    let mut buffer = vec![0; times.len()];
    count_descents(&mut times, &mut buffer)
}

/// Sorts `xs` and returns the pairs i < j with xs[i] > xs[j].
fn count_descents(xs: &mut [i64], buffer: &mut [i64]) -> u64 {
    let n = xs.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = {
        let (left, right) = xs.split_at_mut(mid);
        count_descents(left, &mut buffer[..mid]) + count_descents(right, &mut buffer[mid..])
    };
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if xs[i] <= xs[j] {
            buffer[k] = xs[i];
            i += 1;
        } else {
            buffer[k] = xs[j];
            count += (mid - i) as u64;
            j += 1;
        }
        k += 1;
    }
    buffer[k..k + mid - i].copy_from_slice(&xs[i..mid]);
    let k = k + mid - i;
    buffer[k..k + n - j].copy_from_slice(&xs[j..n]);
    xs.copy_from_slice(&buffer[..n]);
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn scheduled(opens: i64) -> Room {
        Room {
            state: RoomState::Scheduled,
            sale: SaleWindow {
                opens_at: Some(at(opens)),
                closes_at: None,
            },
            lottery_seed: Some("00".repeat(32)),
            ..Room::new(ConcertId::new(1).unwrap())
        }
    }

    #[test]
    fn a_scheduled_room_is_closed_then_pre_queued_then_due_to_draw() {
        let room = scheduled(100_000);
        assert_eq!(
            room.phase_at(at(0), 30),
            RoomPhase::NotYetOpen {
                pre_queue_opens_at: at(70_000)
            }
        );
        assert_eq!(
            room.phase_at(at(70_000), 30),
            RoomPhase::PreQueue {
                opens_at: Some(at(100_000))
            }
        );
        assert_eq!(
            room.phase_at(at(100_000), 30),
            RoomPhase::Open { draw_due: true }
        );
        let drawn = Room {
            state: RoomState::Open,
            drawn_at: Some(at(100_000)),
            ..room
        };
        assert_eq!(
            drawn.phase_at(at(100_001), 30),
            RoomPhase::Open { draw_due: false }
        );
    }

    #[test]
    fn the_closing_time_closes_any_room() {
        let mut room = Room::new(ConcertId::new(1).unwrap());
        room.sale.closes_at = Some(at(5_000));
        assert_eq!(
            room.phase_at(at(4_999), 0),
            RoomPhase::Open { draw_due: false }
        );
        assert_eq!(room.phase_at(at(5_000), 0), RoomPhase::Closed);
    }

    #[test]
    fn transitions_back_to_scheduled_need_an_undrawn_lottery() {
        use RoomState::*;
        assert!(Open.may_move_to(Scheduled, false));
        assert!(!Open.may_move_to(Scheduled, true));
        assert!(!Scheduled.may_move_to(Paused, false));
        assert!(Scheduled.may_move_to(Open, false));
        assert!(Paused.may_move_to(PassThrough, true));
        assert!(Closed.may_move_to(Open, true));
        assert!(!Open.may_move_to(Open, true));
    }

    #[test]
    fn settings_overlay_the_defaults_and_refuse_nonsense() {
        let defaults = QueuePolicy::default();
        let settings = RoomSettings {
            max_active: Some(7),
            ..RoomSettings::default()
        };
        let policy = settings.apply(&defaults);
        assert_eq!(policy.max_active, 7);
        assert_eq!(policy.admit_batch, defaults.admit_batch);
        for bad in [
            RoomSettings {
                admit_batch: Some(0),
                ..RoomSettings::default()
            },
            RoomSettings {
                abandon_after_secs: Some(MIN_ABANDON_AFTER_SECS - 1),
                ..RoomSettings::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(RoomSettings::batch_for_rate(600, 10), 100);
        assert_eq!(RoomSettings::batch_for_rate(1, 10), 1);
    }

    #[test]
    fn the_draw_is_a_function_of_the_seed_and_the_entries_alone() {
        let ids: Vec<String> = (0..50)
            .map(|i| lottery_entry_id(&format!("{i:032x}")))
            .collect();
        let seed = "ab".repeat(32);
        let order = draw(&seed, &ids);
        let mut reversed = ids.clone();
        reversed.reverse();
        assert_eq!(draw(&seed, &reversed), order, "input order does not matter");
        assert_ne!(draw(&"cd".repeat(32), &ids), order, "the seed does");
        assert_ne!(order, ids, "the order is shuffled");
        let mut sorted = order.clone();
        sorted.sort();
        let mut all = ids.clone();
        all.sort();
        assert_eq!(sorted, all, "every entry drawn once");
        assert_eq!(commitment_of(&seed).len(), 64);
    }

    /// A round boundary of a 5 s interval, and 2 s into that round.
    const ON_ROUND: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const INTO_ROUND: Timestamp = Timestamp::from_millis(1_700_000_002_000);

    fn line(batch: u32, cap: u32) -> QueuePolicy {
        QueuePolicy {
            admit_batch: batch,
            admit_interval_secs: 5,
            max_active: cap,
            active_ttl_secs: 600,
            expected_checkout_secs: 100,
            ..QueuePolicy::default()
        }
    }

    #[test]
    fn while_the_cap_has_room_the_line_moves_a_batch_a_round() {
        let policy = line(10, 1_000);
        let fresh = Flow::default();
        // The first round comes at the next boundary, 5 s or 3 s away.
        assert_eq!(eta(1, &policy, &fresh, ON_ROUND).secs, 5);
        assert_eq!(eta(1, &policy, &fresh, INTO_ROUND).secs, 3);
        assert_eq!(eta(11, &policy, &fresh, ON_ROUND).secs, 10);
        let at = eta(11, &policy, &fresh, INTO_ROUND).at;
        assert_eq!(at.as_millis() - INTO_ROUND.as_millis(), 8_000);
        // Half the line leaves: the 21st waits as the 11th would.
        let halving = Flow {
            no_show_permille: 500,
            ..fresh
        };
        assert_eq!(eta(21, &policy, &halving, ON_ROUND).secs, 10);
        let range = eta(500, &policy, &halving, ON_ROUND);
        assert!(range.low <= range.secs && range.secs <= range.high);
    }

    fn admitted(at_secs: i64, fans: u64) -> Cohort {
        Cohort {
            at_ms: ON_ROUND.as_millis() + at_secs * 1000,
            fans,
            admitted: fans,
        }
    }

    #[test]
    fn past_the_free_slots_a_slot_frees_a_session_after_its_fan_was_admitted() {
        // A cap of 100: 50 admitted 20 s ago, 40 admitted 10 s ago, 10 free;
        // fans stay ACTIVE about 50 s.
        let policy = line(50, 100);
        let flow = Flow {
            cohorts: vec![admitted(-20, 50), admitted(-10, 40)],
            // Just under 50 s, with next to no spread: each cohort leaves
            // at once, just before a round.
            session_ms: 49_990,
            session_spread_ms: 1,
            observed_at_ms: ON_ROUND.as_millis(),
            ..Flow::default()
        };
        // The 10th takes the last free slot in the next round.
        assert_eq!(eta(10, &policy, &flow, ON_ROUND).secs, 5);
        // The 11th to the 60th wait for the first 50 to leave, 30 s on.
        assert_eq!(eta(11, &policy, &flow, ON_ROUND).secs, 30);
        assert_eq!(eta(60, &policy, &flow, ON_ROUND).secs, 30);
        // The 61st to the 100th wait for the 40 admitted 10 s ago.
        assert_eq!(eta(61, &policy, &flow, ON_ROUND).secs, 40);
        assert_eq!(eta(100, &policy, &flow, ON_ROUND).secs, 40);
        // The 101st waits for the fan who takes the first free slot now
        // (in 5 s) to leave: 55 s.
        assert_eq!(eta(101, &policy, &flow, ON_ROUND).secs, 55);
        // Before anyone left, the configured checkout time stands in: 100 s.
        let unseen = Flow {
            session_ms: 0,
            session_spread_ms: 0,
            ..flow.clone()
        };
        // With no spread seen, half of it: the first 50 leave from 30 s to
        // 130 s, the 11th fan's slot at 31 s, so the round at 35 s.
        assert_eq!(eta(11, &policy, &unseen, ON_ROUND).secs, 35);
    }

    #[test]
    fn a_session_is_never_taken_as_longer_than_the_active_ttl() {
        let policy = QueuePolicy {
            active_ttl_secs: 20,
            ..line(50, 100)
        };
        let full = Flow {
            cohorts: vec![admitted(0, 100)],
            session_ms: 500_000,
            session_spread_ms: 1,
            observed_at_ms: ON_ROUND.as_millis(),
            ..Flow::default()
        };
        assert_eq!(eta(1, &policy, &full, ON_ROUND).secs, 20);
    }

    #[test]
    fn a_cap_lowered_below_the_active_fans_frees_slots_only_after_the_surplus_leaves() {
        // 100 ACTIVE, the cap lowered to 80 (seats sold): the 20 oldest
        // leave first and free nothing.
        let policy = line(50, 80);
        let flow = Flow {
            cohorts: vec![admitted(-30, 20), admitted(-10, 80)],
            session_ms: 39_990,
            session_spread_ms: 1,
            observed_at_ms: ON_ROUND.as_millis(),
            ..Flow::default()
        };
        assert_eq!(eta(1, &policy, &flow, ON_ROUND).secs, 30);
    }

    #[test]
    fn rounds_learn_how_long_admitted_fans_stay() {
        let round = |at_secs: i64, admitted, active_before| Round {
            at_ms: ON_ROUND.as_millis() + at_secs * 1000,
            admitted,
            waiting_before: 100,
            active_before,
            admitted_total: 0,
            abandoned_total: 0,
        };
        // The first round fills 40 slots: nothing is known of sessions yet.
        let first = Flow::default().after_round(&round(0, 40, 0));
        assert_eq!((first.active(), first.session_ms), (40, 0));
        assert_eq!(first.cohorts, vec![admitted(0, 40)]);
        // Ten seconds on, 4 of the 40 have left (after 10 s) and 4 more come.
        let second = first.after_round(&round(10, 4, 36));
        assert_eq!(second.active(), 40);
        assert_eq!(second.session_ms, 10_000);
        let cohort = |at_secs: i64, fans, admitted| Cohort {
            at_ms: ON_ROUND.as_millis() + at_secs * 1000,
            fans,
            admitted,
        };
        assert_eq!(second.cohorts, vec![cohort(0, 36, 40), cohort(10, 4, 4)]);
        // At 30 s, all of the first 36 have left (after 30 s), and 2 of the
        // second cohort (after 20 s): 29 s on average, smoothed with 10 s.
        let third = second.after_round(&round(30, 0, 2));
        assert_eq!(third.cohorts, vec![cohort(10, 2, 4)]);
        let sample = (36 * 30_000 + 2 * 20_000) / 38;
        assert_eq!(third.session_ms, (10_000 * 70 + sample * 30) / 100);
        assert_eq!(third.session_spread_ms, (sample - 10_000) * 30 / 100);
    }

    #[test]
    fn fans_admitted_together_leave_over_the_session_spread() {
        let policy = line(100, 100);
        // 100 admitted 20 s ago; sessions of 30 s, give or take 10 s: they
        // leave evenly from now to 20 s on.
        let full = Flow {
            cohorts: vec![admitted(-20, 100)],
            session_ms: 30_000,
            session_spread_ms: 10_000,
            observed_at_ms: ON_ROUND.as_millis(),
            ..Flow::default()
        };
        assert_eq!(eta(50, &policy, &full, ON_ROUND).secs, 10);
        assert_eq!(eta(100, &policy, &full, ON_ROUND).secs, 20);
        // Admitted 60 s ago and none left yet: they go on at the window's
        // pace, 100 over 20 s, from now.
        let overdue = Flow {
            cohorts: vec![admitted(-60, 100)],
            ..full.clone()
        };
        assert_eq!(eta(50, &policy, &overdue, ON_ROUND).secs, 10);
        // Half of them left already: the other half over the next 10 s.
        let halfway = Flow {
            cohorts: vec![Cohort {
                fans: 50,
                ..admitted(-20, 100)
            }],
            ..full
        };
        assert_eq!(eta(50 + 25, &policy, &halfway, ON_ROUND).secs, 5);
    }

    #[test]
    fn cohorts_beyond_the_limit_merge_with_their_closest_neighbour() {
        let mut flow = Flow::default();
        for i in 0..(MAX_COHORTS as i64 + 1) {
            // Rounds 5 s apart, except the last two, 1 s apart.
            let at = if i == MAX_COHORTS as i64 {
                i * 5 - 4
            } else {
                i * 5
            };
            flow = flow.after_round(&Round {
                at_ms: ON_ROUND.as_millis() + at * 1000,
                admitted: 1,
                waiting_before: 1,
                active_before: flow.active(),
                ..Round::default()
            });
        }
        assert_eq!(flow.cohorts.len(), MAX_COHORTS);
        assert_eq!(
            flow.cohorts.iter().map(|c| c.fans).sum::<u64>(),
            flow.active()
        );
        // The last two merged, at the later one's instant, sizes added.
        let last_round = ON_ROUND.as_millis() + (MAX_COHORTS as i64 * 5 - 4) * 1000;
        assert_eq!(
            flow.cohorts.last(),
            Some(&Cohort {
                at_ms: last_round,
                fans: 2,
                admitted: 2
            })
        );
    }

    #[test]
    fn active_fans_no_round_admitted_join_as_the_oldest_cohort() {
        // Ten let in by pass-through since the last round, which left 40.
        let before = Flow {
            cohorts: vec![admitted(-10, 40)],
            observed_at_ms: ON_ROUND.as_millis() - 10_000,
            ..Flow::default()
        };
        let after = before.after_round(&Round {
            at_ms: ON_ROUND.as_millis(),
            admitted: 0,
            waiting_before: 5,
            active_before: 50,
            ..Round::default()
        });
        assert_eq!(after.cohorts, vec![admitted(-10, 10), admitted(-10, 40)]);
        assert_eq!(after.active(), 50);
        assert_eq!(after.session_ms, 0, "nobody was seen to leave");
    }

    #[test]
    fn polling_slows_with_the_distance_from_the_front() {
        assert_eq!(poll_after_secs(0), 1);
        assert_eq!(poll_after_secs(15), 1);
        assert_eq!(poll_after_secs(120), 12);
        assert_eq!(poll_after_secs(50_000), MAX_POLL_AFTER_SECS);
    }

    #[test]
    fn inversions_count_pairs_admitted_out_of_line_order() {
        assert_eq!(admission_inversions(&[(1, 10), (2, 10), (3, 20)]), 0);
        assert_eq!(admission_inversions(&[(1, 20), (2, 10)]), 1);
        assert_eq!(admission_inversions(&[(-2, 30), (-1, 20), (5, 10)]), 3);
    }

    proptest! {
        #[test]
        fn inversions_match_a_naive_count(xs in proptest::collection::vec((0i64..50, 0i64..50), 0..60)) {
            let naive = xs.iter().enumerate().flat_map(|(i, a)| xs[i + 1..].iter().map(move |b| (a, b)))
                .filter(|(a, b)| (a.0 < b.0 && a.1 > b.1) || (b.0 < a.0 && b.1 > a.1))
                .count() as u64;
            prop_assert_eq!(admission_inversions(&xs), naive);
        }

        #[test]
        fn a_later_place_never_waits_less(
            p in 1u64..1_000_000,
            batch in 1u32..1_000,
            f in 0u64..1000,
            active in 0u64..2_000,
            exits in 0u64..5_000_000,
            now in 1_000i64..100_000,
        ) {
            let policy = QueuePolicy { admit_batch: batch, ..QueuePolicy::default() };
            let flow = Flow {
                no_show_permille: f,
                cohorts: vec![
                    Cohort { at_ms: now - 1_000, fans: active / 2, admitted: active / 2 },
                    Cohort { at_ms: now, fans: active - active / 2, admitted: active },
                ],
                session_ms: exits,
                observed_at_ms: now,
                ..Flow::default()
            };
            let now = Timestamp::from_millis(now);
            let (here, next) = (eta(p, &policy, &flow, now), eta(p + 1, &policy, &flow, now));
            prop_assert!(here.secs <= next.secs);
            prop_assert!(here.low <= here.secs && here.secs <= here.high);
        }
    }
}
