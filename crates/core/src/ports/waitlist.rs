//! The waiting-list port: fans in line for a sold-out date, and the offers
//! that hand them seats that come back. An offer is a hold in the waiter's
//! name, made in the same transaction that marks their entry offered, and
//! paid for as any hold is (the booking port).

use super::HoldAttempt;
use crate::domain::seat_hold::{Basket, Hold, HoldLimits};
pub use crate::domain::waitlist::{JoinRefusal, WaitlistEntry};
use crate::domain::{HoldId, ScheduleId, SeatNumber, Timestamp, UserId};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// On the list now, or already (joining twice keeps the first place).
    Joined(WaitlistEntry),
    Refused(JoinRefusal),
}

/// An offer to make: the first waiter of the date still under the
/// per-concert ticket limit gets its lowest free seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferAttempt {
    pub schedule_id: ScheduleId,
    pub hold_id: HoldId,
    pub now: Timestamp,
    pub expires_at: Timestamp,
    /// Seats of one concert a fan may have, held and bought together.
    pub max_per_concert: u32,
}

impl OfferAttempt {
    /// The hold that offers `seat` to `user`.
    pub fn hold_for(&self, user: UserId, seat: SeatNumber) -> HoldAttempt {
        HoldAttempt {
            hold_id: self.hold_id,
            user_id: user,
            schedule_id: self.schedule_id,
            seats: Basket::one(seat),
            now: self.now,
            expires_at: self.expires_at,
            limits: HoldLimits::per_concert_only(self.max_per_concert, self.now),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferOutcome {
    /// The waiter now holds the seat, as `hold`.
    Offered(Hold),
    /// No seat of the date can be held now.
    NoSeat,
    /// Nobody waits who may take one more seat of the concert.
    NoWaiter,
    /// Another offer or hold took the seat or the waiter first; ask again.
    Raced,
}

/// What settling ended offers came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettledOffers {
    pub bought: u64,
    pub lapsed: u64,
}

#[async_trait]
pub trait Waitlist: Send + Sync + std::fmt::Debug {
    /// Puts `user` at the end of the date's list if
    /// [`crate::domain::waitlist::DateForWaitlist::joinable`] says so at `now`.
    async fn join_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: Timestamp,
    ) -> anyhow::Result<JoinOutcome>;
    /// Takes a waiting `user` off the date's list; false when they were not
    /// waiting on it (an offered fan declines by releasing the hold).
    async fn leave_waitlist(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: Timestamp,
    ) -> anyhow::Result<bool>;
    /// The user's entries, open and past, newest first; a waiting entry
    /// carries its position.
    async fn waitlist_of(&self, user: UserId) -> anyhow::Result<Vec<WaitlistEntry>>;
    /// Dates that go ahead with fans waiting, by id: where the offer round looks.
    async fn dates_with_waiters(&self, limit: u32) -> anyhow::Result<Vec<ScheduleId>>;
    /// Makes one offer on the date, by [`OfferAttempt`]'s rule: claims the
    /// seat, writes the hold and marks the entry offered, all or nothing.
    async fn offer_seat(&self, attempt: &OfferAttempt) -> anyhow::Result<OfferOutcome>;
    /// Closes up to `limit` offers whose hold was paid (bought) or ended
    /// unpaid (lapsed) by `now`, by
    /// [`crate::domain::waitlist::settled_offer`]. The seat of a lapsed
    /// offer is free again for the next offer.
    async fn settle_offers(&self, now: Timestamp, limit: u32) -> anyhow::Result<SettledOffers>;
}
