//! The waiting room: tokens, their states, and the arithmetic of admission.
//!
//! A token is WAITING from the moment it is issued, ACTIVE once admitted, and
//! EXPIRED when its active time runs out, when its holder pays, or when a
//! waiting holder stops polling for `abandon_after_secs` (abandoned). Before
//! a scheduled sale opens, a token is PRE_QUEUE: in the concert's pre-queue,
//! without a place until the pre-queue is drawn into line at the opening.

use super::{ConcertId, Timestamp, TokenId, UserId};

/// The admission settings of the waiting room (the `queue.*` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// How many WAITING tokens each admission round may activate, per concert.
    pub admit_batch: u32,
    /// Seconds between admission rounds.
    pub admit_interval_secs: u64,
    /// The most ACTIVE tokens a concert may have at once.
    pub max_active: u32,
    /// How long an ACTIVE token lasts.
    pub active_ttl_secs: u64,
    /// A WAITING token not polled for this long is abandoned.
    pub abandon_after_secs: u64,
    /// How long an EXPIRED token is still reported as EXPIRED before it is forgotten.
    pub expired_retention_secs: u64,
    /// How long before a scheduled sale opens its pre-queue takes fans.
    pub pre_queue_window_secs: u64,
    /// ACTIVE fans allowed per seat still sellable (0: no such cap), so
    /// that thousands are not let in to find nothing.
    pub max_active_per_seat: u32,
    /// How long an admitted fan is expected to stay ACTIVE before paying
    /// or leaving, for the wait estimates until the line has shown its own.
    pub expected_checkout_secs: u64,
    /// After a room lost its line (Redis lost its data, the embedded
    /// process restarted), how long admission waits from the first fan
    /// who comes back, so that everyone still polling is back in their
    /// place before anyone is let in.
    pub heal_window_secs: u64,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            admit_batch: 100,
            admit_interval_secs: 10,
            max_active: 1_000,
            active_ttl_secs: 600,
            abandon_after_secs: 120,
            expired_retention_secs: 3_600,
            pre_queue_window_secs: 1_800,
            max_active_per_seat: 2,
            expected_checkout_secs: 120,
            heal_window_secs: 35,
        }
    }
}

impl QueuePolicy {
    /// The policy with its cap lowered to `max_active_per_seat` fans per
    /// seat still sellable; no admission at all when nothing is sellable.
    pub fn capped_by_seats(&self, sellable_seats: u64) -> QueuePolicy {
        if self.max_active_per_seat == 0 {
            return *self;
        }
        let by_seats = sellable_seats.saturating_mul(u64::from(self.max_active_per_seat));
        QueuePolicy {
            max_active: u32::try_from(by_seats)
                .unwrap_or(u32::MAX)
                .min(self.max_active),
            ..*self
        }
    }

    /// How many tokens one admission round may activate, given how many are ACTIVE now.
    pub fn admission_slots(&self, active_now: u64) -> u64 {
        let room = u64::from(self.max_active).saturating_sub(active_now);
        room.min(u64::from(self.admit_batch))
    }

    pub fn active_until(&self, now: Timestamp) -> Timestamp {
        now.plus_secs(self.active_ttl_secs)
    }

    /// The instant a WAITING token last seen at `last_seen` is abandoned.
    pub fn abandoned_at(&self, last_seen: Timestamp) -> Timestamp {
        last_seen.plus_secs(self.abandon_after_secs)
    }

    pub fn forget_at(&self, expired_at: Timestamp) -> Timestamp {
        expired_at.plus_secs(self.expired_retention_secs)
    }

    /// Until when admission waits once the first fan came back at `first`.
    pub fn healed_at(&self, first: Timestamp) -> Timestamp {
        first.plus_secs(self.heal_window_secs)
    }
}

/// The state of a token at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// In line. `position` is 1-based among the concert's live WAITING
    /// tokens, `None` while the token's entry has not reached the line yet
    /// (queue entry through Kafka); `abandoned_at` is when the token lapses
    /// if its holder stops polling.
    Waiting {
        position: Option<u64>,
        abandoned_at: Timestamp,
    },
    /// In a scheduled sale's pre-queue: no place until the opening draw.
    PreQueue { abandoned_at: Timestamp },
    /// Admitted: may browse, hold and pay until `expires_at`.
    Active { expires_at: Timestamp },
    /// Done: timed out, abandoned, or used for a payment.
    Expired { expired_at: Timestamp },
}

impl TokenState {
    pub const fn status_name(&self) -> &'static str {
        match self {
            TokenState::Waiting { .. } => "WAITING",
            TokenState::PreQueue { .. } => "PRE_QUEUE",
            TokenState::Active { .. } => "ACTIVE",
            TokenState::Expired { .. } => "EXPIRED",
        }
    }
}

/// A token and what it currently grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueToken {
    pub token: TokenId,
    pub concert_id: ConcertId,
    pub user_id: UserId,
    /// When the token was issued: its place in arrival order, named in its ticket.
    pub issued_at: Timestamp,
    pub state: TokenState,
    /// Which life of the room keeps the token, named in its ticket: a room
    /// that can lose its line (Redis, process memory) starts a new epoch
    /// when it does, so a ticket of an older epoch proves its token was
    /// lost, not ended. 0: a room that never loses its line (PostgreSQL).
    pub epoch: u32,
}

/// A fan coming back with a ticket of a room's earlier epoch: where they
/// go back ([`crate::ports::WaitingRoom::rejoin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejoin {
    pub concert: ConcertId,
    pub user: UserId,
    pub token: TokenId,
    pub issued_at: Timestamp,
    /// The ticket's epoch.
    pub epoch: u32,
    /// The pre-queue while the sale has not opened, else the line.
    pub lane: Lane,
    /// The place in line, smallest first: a drawn fan's place in the draw
    /// before any arrival time, then the ticket's arrival time.
    pub key: i64,
}

impl Rejoin {
    /// The key of a fan drawn at 0-based `place` of the opening draw:
    /// below every arrival time.
    pub fn drawn_key(place: usize) -> i64 {
        i64::try_from(place).unwrap_or(i64::MAX >> 2) - (1 << 40)
    }
}

/// Which queue an arriving token joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The end of the line.
    Line,
    /// The concert's pre-queue; the line once the pre-queue has been
    /// taken for the draw, so a late pre-queue entry is never lost.
    PreQueue,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admission_never_passes_the_cap_or_the_batch() {
        let policy = QueuePolicy {
            admit_batch: 10,
            max_active: 25,
            ..QueuePolicy::default()
        };
        assert_eq!(policy.admission_slots(0), 10);
        assert_eq!(policy.admission_slots(20), 5);
        assert_eq!(policy.admission_slots(25), 0);
        assert_eq!(policy.admission_slots(40), 0);
    }

    #[test]
    fn the_cap_follows_the_seats_still_sellable() {
        let policy = QueuePolicy {
            max_active: 1_000,
            max_active_per_seat: 2,
            ..QueuePolicy::default()
        };
        assert_eq!(policy.capped_by_seats(100).max_active, 200);
        assert_eq!(policy.capped_by_seats(10_000).max_active, 1_000);
        assert_eq!(policy.capped_by_seats(0).max_active, 0);
        let uncapped = QueuePolicy {
            max_active_per_seat: 0,
            ..policy
        };
        assert_eq!(uncapped.capped_by_seats(0).max_active, 1_000);
    }

    proptest! {
        /// The ACTIVE count is drawn near the cap, below it as often as
        /// past it, so both branches are tried in earnest.
        #[test]
        fn admission_fills_the_room_up_to_the_cap_and_never_past_it(
            batch in 0u32..500, cap in 0u32..5_000, below in 0u64..600, above in 0u64..50,
            past in any::<bool>()
        ) {
            let policy = QueuePolicy { admit_batch: batch, max_active: cap, ..QueuePolicy::default() };
            let cap = u64::from(cap);
            let active = if past { cap + above } else { cap.saturating_sub(below) };
            let slots = policy.admission_slots(active);
            prop_assert!(slots <= u64::from(batch));
            if active >= cap {
                prop_assert_eq!(slots, 0);
            } else {
                prop_assert!(active + slots <= cap);
                // Nobody is kept waiting while there is room and batch left.
                prop_assert!(slots == u64::from(batch) || active + slots == cap);
            }
        }
    }
}
