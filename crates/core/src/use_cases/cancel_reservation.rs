//! Cancelling a reservation for a refund: the reservation is marked
//! cancelled, the refund (the price less the fee) goes back to the balance,
//! the seat goes back on sale and `ReservationCancelled` is appended, together
//! or not at all; once, however many times the fan asks.

use super::idempotent::{NotRun, Once};
use super::list_schedules::schedules_key;
use super::{App, IdempotencyConflict};
use crate::domain::cancellation::{CancelAttempt, CancelRefused, CancellationReceipt, Canceller};
use crate::domain::idempotency::{IdempotencyKey, IdempotencyScope, Recorded};
use crate::domain::{ReservationId, UserId};
use crate::ports::CancelOutcome;
use std::convert::Infallible;

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("cancellation refused: {0:?}")]
    Refused(CancelRefused),
    #[error("idempotency conflict: {0:?}")]
    Conflict(IdempotencyConflict),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Cancels `reservation` as `user`, who must own it, before the
    /// cancellation deadline of its date. With a key, a repeat returns the
    /// first answer; without one, a repeat is refused as already cancelled.
    pub async fn cancel_reservation(
        &self,
        user: UserId,
        reservation: ReservationId,
        key: Option<&IdempotencyKey>,
    ) -> Result<CancellationReceipt, CancelError> {
        let now = self.now();
        let id_text = reservation.to_string();
        let once = Once {
            user,
            scope: IdempotencyScope::Cancellation,
            key,
            fingerprint: &[&id_text],
        };
        let answer = self
            .run_once(once, move |ticket| async move {
                let attempt = CancelAttempt {
                    user_id: user,
                    by: Canceller::Fan,
                    reservation_id: reservation,
                    now,
                    event_id: self.new_event_id(),
                    policy: self.policies.cancellation,
                };
                Ok(Ok::<_, Infallible>(
                    match self
                        .booking()
                        .cancel_reservation(&attempt, ticket.as_ref())
                        .await?
                    {
                        CancelOutcome::Cancelled(receipt) => Recorded::Done(receipt),
                        CancelOutcome::Refused(refused) => Recorded::Refused(refused),
                    },
                ))
            })
            .await?;
        match answer {
            Ok(Recorded::Done(receipt)) => {
                self.seats_changed(receipt.concert_id, receipt.schedule_id);
                self.invalidate(&[schedules_key(receipt.concert_id)]).await;
                // A sold-out line has a seat to sell again: to the date's
                // waiting list first.
                self.forget_room(receipt.concert_id);
                self.offer_after_return(receipt.schedule_id).await;
                Ok(receipt)
            }
            Ok(Recorded::Refused(refused)) => Err(CancelError::Refused(refused)),
            Err(NotRun::Conflict(conflict)) => Err(CancelError::Conflict(conflict)),
            Err(NotRun::Precondition(never)) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Won;
    use crate::domain::seat::SeatStatus;
    use crate::testing::{TestApp, user};

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::parse(k).unwrap()
    }

    #[tokio::test]
    async fn cancelling_refunds_frees_the_seat_and_shows_the_reservation_cancelled() {
        let t = TestApp::new().await;
        let receipt = t.buy_seat(user(1), 4).await;
        let before = t.app.show_balance(user(1)).await.unwrap();
        let cancelled = t
            .app
            .cancel_reservation(user(1), receipt.reservations[0].reservation_id, None)
            .await
            .unwrap();
        assert_eq!(
            cancelled.refund.amount() + cancelled.fee.amount(),
            receipt.price.amount()
        );
        assert_eq!(
            t.app.show_balance(user(1)).await.unwrap(),
            before.checked_add(cancelled.refund).unwrap()
        );
        assert_eq!(
            cancelled.balance,
            t.app.show_balance(user(1)).await.unwrap()
        );
        let listed = t.app.list_reservations(user(1)).await.unwrap();
        assert_eq!(listed[0].reservation.status(), "CANCELLED");
        assert_eq!(t.seat_status(4).await, SeatStatus::Available);
        let report = t.app.check_invariants().await.unwrap();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert_eq!(report.store.money.refunded, cancelled.refund);
    }

    #[tokio::test]
    async fn a_repeat_with_the_key_replays_and_without_it_is_refused_and_refunds_once() {
        let t = TestApp::new().await;
        let receipt = t.buy_seat(user(1), 4).await;
        let id = receipt.reservations[0].reservation_id;
        let first = t
            .app
            .cancel_reservation(user(1), id, Some(&key("c")))
            .await
            .unwrap();
        let again = t
            .app
            .cancel_reservation(user(1), id, Some(&key("c")))
            .await
            .unwrap();
        assert_eq!(first, again);
        let err = t
            .app
            .cancel_reservation(user(1), id, None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            CancelError::Refused(CancelRefused::AlreadyCancelled)
        ));
        assert_eq!(
            t.app.check_invariants().await.unwrap().store.money.refunded,
            first.refund
        );
    }

    #[tokio::test]
    async fn another_fans_reservation_and_a_late_cancellation_change_nothing() {
        let t = TestApp::new().await;
        let receipt = t.buy_seat(user(1), 4).await;
        let balance = t.app.show_balance(user(1)).await.unwrap();
        let err = t
            .app
            .cancel_reservation(user(2), receipt.reservations[0].reservation_id, None)
            .await
            .unwrap_err();
        assert!(matches!(err, CancelError::Refused(CancelRefused::NotYours)));
        let starts_at = t.starts_at().await;
        t.advance_to(starts_at.minus_secs(3_600));
        let err = t
            .app
            .cancel_reservation(user(1), receipt.reservations[0].reservation_id, None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            CancelError::Refused(CancelRefused::Closed { deadline }) if deadline == starts_at.minus_secs(86_400)
        ));
        assert_eq!(t.app.show_balance(user(1)).await.unwrap(), balance);
        assert_eq!(t.seat_status(4).await, SeatStatus::Sold);
        assert_eq!(
            t.app.check_invariants().await.unwrap().store.money.refunded,
            Won::ZERO
        );
    }
}
