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
                    self.seats_changed(hold.concert_id, hold.schedule_id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::QueueCredential;
    use crate::domain::waitlist::WaitlistStatus;
    use crate::domain::{SeatNumber, UserId};
    use crate::testing::{TestApp, user};
    use crate::use_cases::{HoldSeatError, JoinWaitlistError};

    /// Admits `who` to the concert and holds its one seat.
    async fn admitted_hold(
        t: &TestApp,
        who: UserId,
        concert: crate::domain::ConcertId,
        schedule: ScheduleId,
    ) -> Result<crate::domain::seat_hold::Hold, HoldSeatError> {
        let view = t.issue_for(who, concert).await;
        t.app.activate_batch_once().await.unwrap();
        let credential = QueueCredential::Ticket(TestApp::ticket_of(&view));
        let seat = SeatNumber::new(1).unwrap();
        t.app.hold_seat(who, credential, schedule, seat).await
    }

    #[tokio::test]
    async fn a_cancelled_seat_is_offered_to_the_first_waiter_at_once_and_a_declined_offer_passes_on()
     {
        let t = TestApp::new().await;
        let (concert, schedule) = t.small_concert(1).await;
        t.charge(user(1), 100_000).await;
        let first = admitted_hold(&t, user(1), concert, schedule).await.unwrap();
        let sold = t.app.pay_for_hold(user(1), first.id, None).await.unwrap();
        assert!(matches!(
            t.app.join_waitlist(user(9), t.schedule).await,
            Err(JoinWaitlistError::NotSoldOut)
        ));
        for who in [2, 3] {
            let entry = t.app.join_waitlist(user(who), schedule).await.unwrap();
            assert_eq!(entry.position, Some(who as u64 - 1));
        }

        // The refund puts the seat back, and it goes to fan 2 in the same call.
        t.app
            .cancel_reservation(user(1), sold.reservations[0].reservation_id, None)
            .await
            .unwrap();
        let offered = &t.app.list_waitlist(user(2)).await.unwrap()[0];
        assert_eq!(offered.status, WaitlistStatus::Offered);
        let holds = t.app.live_holds(user(2)).await.unwrap();
        assert_eq!(holds.len(), 1);
        assert_eq!(Some(holds[0].id), offered.hold_id);
        assert_eq!(
            Some(holds[0].expires_at),
            Some(t.app.policies().waitlist.offer_expires_at(holds[0].held_at))
        );
        // Fan 4, admitted through the room, cannot take it meanwhile.
        assert!(matches!(
            admitted_hold(&t, user(4), concert, schedule).await,
            Err(HoldSeatError::SeatAlreadyHeld)
        ));

        // Fan 2 turns it down: fan 3 gets it at once, and pays.
        t.app.release_hold(user(2), holds[0].id).await.unwrap();
        assert_eq!(
            t.app.list_waitlist(user(2)).await.unwrap()[0].status,
            WaitlistStatus::Lapsed
        );
        let third = &t.app.list_waitlist(user(3)).await.unwrap()[0];
        assert_eq!(third.status, WaitlistStatus::Offered);
        t.charge(user(3), 100_000).await;
        let hold = third.hold_id.unwrap();
        t.app.pay_for_hold(user(3), hold, None).await.unwrap();
        let round = t.app.offer_returned_seats_once(10).await.unwrap();
        assert_eq!((round.bought, round.offered), (1, 0));
        assert_eq!(
            t.app.list_waitlist(user(3)).await.unwrap()[0].status,
            WaitlistStatus::Bought
        );
        let report = t.app.check_invariants().await.unwrap();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert!(report.ledger.ok());
    }
}
