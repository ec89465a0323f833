//! The offer round: seats that come back on a date with a waiting list go
//! to its fans first. Each round closes the offers that were paid or ran
//! out, then hands each free seat of each such date to the first waiter
//! under the per-concert limit, as a hold in their name for
//! `waitlist.offer_secs` (decision 0020).
//!
//! While fans wait, no one else can hold the date's seats (the booking
//! port refuses), so a seat that came back waits for the next round at
//! worst. A cancellation or a released hold runs the date's offers at
//! once; expiries wait for the round.

use super::App;
use super::list_schedules::schedules_key;
use crate::domain::ScheduleId;
use crate::ports::{OfferAttempt, OfferOutcome};

/// What an offer round came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OfferRound {
    /// Offers paid for since the last round.
    pub bought: u64,
    /// Offers that ended unpaid since the last round; their seats passed on.
    pub lapsed: u64,
    /// Offers made.
    pub offered: u64,
}

/// The most offers one date gets in one round: a date has at most 50 seats,
/// and a few tries more cover offers lost to a race.
const OFFERS_PER_DATE: u32 = 64;

/// Dates the round run after a release looks at.
const RELEASE_ROUND_DATES: u32 = 100;

impl App {
    /// One offer round over up to `limit` dates with fans waiting.
    pub async fn offer_returned_seats_once(&self, limit: u32) -> anyhow::Result<OfferRound> {
        let settled = self.store().settle_offers(self.now(), limit).await?;
        let mut round = OfferRound {
            bought: settled.bought,
            lapsed: settled.lapsed,
            offered: 0,
        };
        for date in self.store().dates_with_waiters(limit).await? {
            round.offered += self.offer_seats_on(date).await?;
        }
        Ok(round)
    }

    /// Offers each free seat of `schedule` to the next fan waiting for one;
    /// returns how many offers it made.
    pub async fn offer_seats_on(&self, schedule: ScheduleId) -> anyhow::Result<u64> {
        let mut offered = 0;
        for _ in 0..OFFERS_PER_DATE {
            let now = self.now();
            let attempt = OfferAttempt {
                schedule_id: schedule,
                hold_id: self.new_hold_id(),
                now,
                expires_at: self.policies.waitlist.offer_expires_at(now),
                max_per_concert: self.policies.holds.max_tickets_per_concert,
            };
            match self.store().offer_seat(&attempt).await? {
                OfferOutcome::Offered(hold) => {
                    offered += 1;
                    tracing::info!(
                        user = %hold.user_id,
                        schedule = %schedule,
                        hold = %hold.id,
                        "a returned seat is offered to the next fan on the waiting list"
                    );
                    self.invalidate(&[schedules_key(hold.concert_id)]).await;
                }
                OfferOutcome::Raced => {}
                OfferOutcome::NoSeat | OfferOutcome::NoWaiter => break,
            }
        }
        Ok(offered)
    }

    /// Runs the date's offers after a seat came back on it, at once rather
    /// than at the next round; a failure only leaves them to the round.
    pub(super) async fn offer_after_return(&self, schedule: ScheduleId) {
        if let Err(err) = self.offer_seats_on(schedule).await {
            tracing::warn!(error = %err, schedule = %schedule, "returned seats not offered yet; the offer round will");
        }
    }

    /// Runs a whole round after a hold was released: a declined offer
    /// passes to the next fan at once, and a seat a fan let go on a date
    /// with a waiting list goes to it. A failure leaves it to the round.
    pub(super) async fn offer_after_release(&self) {
        if let Err(err) = self.offer_returned_seats_once(RELEASE_ROUND_DATES).await {
            tracing::warn!(error = %err, "released seats not offered yet; the offer round will");
        }
    }
}
