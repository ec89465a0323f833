//! Paying for a hold from the balance: debit, sale, reservation, outbox event
//! and token expiry happen together or not at all.

use super::idempotent::{NotRun, Once};
use super::list_schedules::schedules_key;
use super::{App, IdempotencyConflict};
use crate::domain::idempotency::{IdempotencyKey, IdempotencyScope, Recorded};
use crate::domain::reservation::PaymentReceipt;
use crate::domain::{HoldId, Timestamp, UserId};
use crate::ports::{PaymentAttempt, PaymentOutcome, PaymentRefused};
use std::convert::Infallible;

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("payment refused: {0:?}")]
    Refused(PaymentRefused),
    #[error("idempotency conflict: {0:?}")]
    Conflict(IdempotencyConflict),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Pays for `hold` as `user`, who must hold it. No queue token is
    /// needed: a fan whose token was lost (a restart, Redis losing its data)
    /// can still pay for the seat they hold. With a key, a repeat returns
    /// the first answer.
    pub async fn pay_for_hold(
        &self,
        user: UserId,
        hold: HoldId,
        key: Option<&IdempotencyKey>,
    ) -> Result<PaymentReceipt, PayError> {
        let now = self.now();
        let hold_text = hold.to_string();
        let once = Once {
            user,
            scope: IdempotencyScope::Payment,
            key,
            fingerprint: &[&hold_text],
        };
        let answer = self
            .run_once(once, move |ticket| async move {
                let attempt = PaymentAttempt {
                    user_id: user,
                    hold_id: hold,
                    now,
                    sales: self.new_sale_ids(),
                };
                Ok(Ok::<_, Infallible>(
                    match self
                        .booking()
                        .confirm_payment(&attempt, ticket.as_ref())
                        .await?
                    {
                        PaymentOutcome::Confirmed(receipt) => Recorded::Done(receipt),
                        PaymentOutcome::Refused(refused) => Recorded::Refused(refused),
                    },
                ))
            })
            .await?;
        match answer {
            Ok(Recorded::Done(receipt)) => {
                self.seats_changed(receipt.concert_id, receipt.schedule_id);
                self.invalidate(&[schedules_key(receipt.concert_id)]).await;
                // The last seat sold turns the line SOLD_OUT here at once.
                self.forget_room(receipt.concert_id);
                self.expire_after_payment(&receipt, user, now).await;
                Ok(receipt)
            }
            Ok(Recorded::Refused(refused)) => Err(PayError::Refused(refused)),
            Err(NotRun::Conflict(conflict)) => Err(PayError::Conflict(conflict)),
            Err(NotRun::Precondition(never)) => match never {},
        }
    }

    /// The token ends the moment its holder pays, and with it the admission
    /// pass. The outbox event expires it too (see `TokenExpirer`), so a
    /// failure here only delays that.
    async fn expire_after_payment(
        &self,
        receipt: &PaymentReceipt,
        user: UserId,
        paid_at: Timestamp,
    ) {
        match self
            .adapters
            .waiting_room
            .expire(
                receipt.concert_id,
                user,
                paid_at,
                self.now(),
                &self.policies.queue,
            )
            .await
        {
            Ok(Some(ended)) => self.revoke_locally(&ended),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "token not expired after payment; the relay will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Won;
    use crate::domain::access::QueueCredential;
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, user};

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::parse(k).unwrap()
    }

    #[tokio::test]
    async fn paying_debits_sells_reserves_and_expires_the_token() {
        let t = TestApp::new().await;
        t.charge(user(1), 200_000).await;
        let ticket = t.active_ticket(user(1)).await;
        let hold = t.hold(QueueCredential::Ticket(ticket), 1).await;
        let receipt = t.app.pay_for_hold(user(1), hold.id, None).await.unwrap();
        assert_eq!(receipt.price, hold.price);
        assert_eq!(receipt.balance.amount(), 200_000 - hold.price.amount());
        assert_eq!(t.app.show_balance(user(1)).await.unwrap(), receipt.balance);
        assert_eq!(t.app.list_reservations(user(1)).await.unwrap().len(), 1);
        let polled = t.app.poll_token(user(1), ticket).await.unwrap();
        assert!(matches!(polled.token.state, TokenState::Expired { .. }));
    }

    #[tokio::test]
    async fn a_fan_pays_for_their_hold_after_their_token_is_gone() {
        let t = TestApp::new().await;
        t.charge(user(1), 200_000).await;
        let token = t.active_token(user(1)).await;
        let hold = t.hold(token, 1).await;
        t.app.revoke_admission(t.concert, user(1)).await.unwrap();
        t.app.pay_for_hold(user(1), hold.id, None).await.unwrap();
        assert_eq!(t.app.list_reservations(user(1)).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn paying_revokes_the_admission_pass_at_once() {
        let t = TestApp::new().await;
        t.charge(user(1), 200_000).await;
        let pass = t.active_pass(user(1)).await;
        let hold = t.hold(pass, 1).await;
        t.app.pay_for_hold(user(1), hold.id, None).await.unwrap();
        let err = t
            .app
            .list_seats(user(1), pass, t.schedule)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            crate::use_cases::ListSeatsError::Access(crate::use_cases::AccessDenied::Expired)
        ));
    }

    #[tokio::test]
    async fn insufficient_balance_changes_nothing() {
        let t = TestApp::new().await;
        t.charge(user(1), 1_000).await;
        let ticket = t.active_ticket(user(1)).await;
        let hold = t.hold(QueueCredential::Ticket(ticket), 1).await;
        let err = t
            .app
            .pay_for_hold(user(1), hold.id, None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PayError::Refused(PaymentRefused::InsufficientBalance { balance, .. }) if balance == Won::new(1_000)
        ));
        assert_eq!(t.app.show_balance(user(1)).await.unwrap(), Won::new(1_000));
        assert!(t.app.list_reservations(user(1)).await.unwrap().is_empty());
        assert!(matches!(
            t.app.poll_token(user(1), ticket).await.unwrap().token.state,
            TokenState::Active { .. }
        ));
    }

    #[tokio::test]
    async fn a_repeat_with_the_same_key_replays_and_a_new_key_finds_the_hold_paid() {
        let t = TestApp::new().await;
        t.charge(user(1), 500_000).await;
        let token = t.active_token(user(1)).await;
        let hold = t.hold(token, 2).await;
        let first = t
            .app
            .pay_for_hold(user(1), hold.id, Some(&key("k")))
            .await
            .unwrap();
        let again = t
            .app
            .pay_for_hold(user(1), hold.id, Some(&key("k")))
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(t.app.list_reservations(user(1)).await.unwrap().len(), 1);
        let other = t
            .app
            .pay_for_hold(user(1), hold.id, Some(&key("k2")))
            .await
            .unwrap_err();
        assert!(matches!(
            other,
            PayError::Refused(PaymentRefused::AlreadyPaid)
        ));
    }

    #[tokio::test]
    async fn another_fans_key_replays_nothing_of_theirs() {
        let t = TestApp::new().await;
        t.charge(user(1), 500_000).await;
        t.charge(user(2), 500_000).await;
        let a = t.active_token(user(1)).await;
        let hold = t.hold(a, 2).await;
        t.app
            .pay_for_hold(user(1), hold.id, Some(&key("shared")))
            .await
            .unwrap();
        // The same key, for another fan: their own command, not a replay of user 1's.
        let err = t
            .app
            .pay_for_hold(user(2), hold.id, Some(&key("shared")))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PayError::Refused(PaymentRefused::NotYourHold)
        ));
    }

    #[tokio::test]
    async fn someone_elses_hold_and_expired_holds_cannot_be_paid() {
        let t = TestApp::new().await;
        t.charge(user(1), 500_000).await;
        t.charge(user(2), 500_000).await;
        let a = t.active_token(user(1)).await;
        let hold = t.hold(a, 3).await;
        let err = t
            .app
            .pay_for_hold(user(2), hold.id, None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PayError::Refused(PaymentRefused::NotYourHold)
        ));
        t.clock.advance_secs(t.app.policies().holds.ttl_secs + 1);
        let err = t
            .app
            .pay_for_hold(user(1), hold.id, None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PayError::Refused(PaymentRefused::HoldExpired)
        ));
        assert_eq!(
            t.app.show_balance(user(1)).await.unwrap(),
            Won::new(500_000)
        );
    }
}
