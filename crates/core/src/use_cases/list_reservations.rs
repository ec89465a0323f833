//! The user's reservations, newest first, with the concert and the date each
//! is for, so a buyer can tell them apart, and what cancelling each one now
//! would refund.

use super::App;
use crate::domain::Timestamp;
use crate::domain::cancellation::{CancellationPolicy, RefundQuote};
use crate::domain::concert::{Concert, Schedule};
use crate::domain::reservation::Reservation;
use crate::domain::{ConcertId, ScheduleId, UserId};
use anyhow::Context;
use std::collections::HashMap;

/// A reservation, with its concert and its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationView {
    pub reservation: Reservation,
    pub concert: Concert,
    pub schedule: Schedule,
    /// While confirmed: the last instant it may be cancelled; `None` on a
    /// called-off date, which may be cancelled at any time.
    pub cancellable_until: Option<Timestamp>,
    /// While confirmed and before that instant: what cancelling it now
    /// would refund and keep. The fee grows as the show nears, so this is
    /// true of the moment it was read.
    pub refund_now: Option<RefundQuote>,
}

impl App {
    pub async fn list_reservations(&self, user: UserId) -> anyhow::Result<Vec<ReservationView>> {
        let reservations = self.booking().reservations_of(user).await?;
        let now = self.now();
        let mut policies: HashMap<ConcertId, CancellationPolicy> = HashMap::new();
        let mut concerts: HashMap<ConcertId, Concert> = self
            .list_concerts()
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut schedules: HashMap<ScheduleId, Schedule> = HashMap::new();
        let mut views = Vec::with_capacity(reservations.len());
        for reservation in reservations {
            let schedule = match schedules.get(&reservation.schedule_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self
                        .store()
                        .schedule(reservation.schedule_id)
                        .await?
                        .with_context(|| format!("no schedule {}", reservation.schedule_id))?;
                    schedules.insert(found.id, found.clone());
                    found
                }
            };
            // The cached catalog may predate a concert added a moment ago.
            let concert = match concerts.get(&reservation.concert_id) {
                Some(known) => known.clone(),
                None => {
                    let found = self
                        .store()
                        .concert(reservation.concert_id)
                        .await?
                        .with_context(|| format!("no concert {}", reservation.concert_id))?;
                    concerts.insert(found.id, found.clone());
                    found
                }
            };
            let policy = match policies.get(&reservation.concert_id) {
                Some(known) => *known,
                None => {
                    let own = self
                        .store()
                        .cancellation_policy(reservation.concert_id)
                        .await?
                        .flatten();
                    let policy = own.unwrap_or(self.policies.cancellation);
                    policies.insert(reservation.concert_id, policy);
                    policy
                }
            };
            let confirmed = reservation.cancellation.is_none();
            let called_off = schedule.cancelled_at.is_some();
            // A called-off date's reservation is refunded in full, at any
            // time, by the fan or by the refund round.
            let cancellable_until =
                (confirmed && !called_off).then(|| policy.deadline(schedule.starts_at));
            let refund_now = match (confirmed, called_off) {
                (false, _) => None,
                (true, true) => Some(RefundQuote {
                    refund: reservation.price,
                    fee: crate::domain::Won::ZERO,
                }),
                (true, false) => policy
                    .quote(reservation.price, schedule.starts_at, now)
                    .ok(),
            };
            views.push(ReservationView {
                reservation,
                concert,
                schedule,
                cancellable_until,
                refund_now,
            });
        }
        Ok(views)
    }
}

#[cfg(test)]
mod tests {
    use crate::ports::Clock as _;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn a_reservation_names_its_concert_and_its_date() {
        let t = TestApp::new().await;
        t.buy_seat(user(1), 3).await;
        let views = t.app.list_reservations(user(1)).await.unwrap();
        assert_eq!(views.len(), 1);
        let view = &views[0];
        assert_eq!(view.concert.id, t.concert);
        assert_eq!(view.schedule.id, t.schedule);
        assert_eq!(view.reservation.schedule_id, t.schedule);
        let dates = t
            .store
            .schedules_with_availability(t.concert, t.clock.now())
            .await
            .unwrap();
        assert_eq!(view.schedule.starts_at, dates[0].schedule.starts_at);
        assert_eq!(view.schedule.venue, dates[0].schedule.venue);
        assert!(t.app.list_reservations(user(2)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_confirmed_reservation_carries_its_deadline_and_the_refund_now_and_loses_both_once_cancelled_or_closed()
     {
        let t = TestApp::new().await;
        let receipt = t.buy_seat(user(1), 3).await;
        let starts_at = t.starts_at().await;
        let policy = t.app.policies().cancellation;
        let view = t.app.list_reservations(user(1)).await.unwrap().remove(0);
        assert_eq!(view.cancellable_until, Some(policy.deadline(starts_at)));
        let expected = policy
            .quote(receipt.price, starts_at, t.clock.now())
            .expect("the test date is far enough off to cancel");
        assert_eq!(view.refund_now, Some(expected));
        assert_eq!(
            expected.refund.amount() + expected.fee.amount(),
            receipt.price.amount()
        );

        // Past the deadline the date is still shown, with no refund on offer.
        t.advance_to(policy.deadline(starts_at).plus_millis(1));
        let closed = t.app.list_reservations(user(1)).await.unwrap().remove(0);
        assert_eq!(closed.cancellable_until, Some(policy.deadline(starts_at)));
        assert_eq!(closed.refund_now, None);
    }

    #[tokio::test]
    async fn a_cancelled_reservation_offers_no_refund_and_no_deadline() {
        let t = TestApp::new().await;
        let receipt = t.buy_seat(user(1), 3).await;
        t.app
            .cancel_reservation(user(1), receipt.reservations[0].reservation_id, None)
            .await
            .unwrap();
        let view = t.app.list_reservations(user(1)).await.unwrap().remove(0);
        assert!(view.reservation.cancellation.is_some());
        assert_eq!(view.cancellable_until, None);
        assert_eq!(view.refund_now, None);
    }
}
