//! Charging the prepaid balance.

use super::idempotent::{NotRun, Once};
use super::{App, IdempotencyConflict};
use crate::domain::balance::ChargeRejected;
use crate::domain::idempotency::{IdempotencyKey, IdempotencyScope, Recorded};
use crate::domain::{UserId, Won};
use crate::ports::{ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused};
use std::convert::Infallible;

#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error(transparent)]
    Invalid(ChargeRejected),
    #[error("charge refused: {0:?}")]
    Refused(ChargeRefused),
    #[error("idempotency conflict: {0:?}")]
    Conflict(IdempotencyConflict),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Adds `amount` to the user's balance, within `balance.max`.
    pub async fn charge_balance(
        &self,
        user: UserId,
        amount: Won,
        key: Option<&IdempotencyKey>,
    ) -> Result<ChargeReceipt, ChargeError> {
        self.policies
            .balance
            .validate_charge(amount)
            .map_err(ChargeError::Invalid)?;
        let amount_text = amount.amount().to_string();
        let once = Once {
            user,
            scope: IdempotencyScope::Charge,
            key,
            fingerprint: &[&amount_text],
        };
        let answer = self
            .run_once(once, move |ticket| async move {
                let attempt = ChargeAttempt {
                    user_id: user,
                    amount,
                    max_balance: self.policies.balance.max,
                    now: self.now(),
                    event_id: self.new_event_id(),
                };
                Ok(Ok::<_, Infallible>(
                    match self
                        .store()
                        .charge_balance(&attempt, ticket.as_ref())
                        .await?
                    {
                        ChargeOutcome::Charged(receipt) => Recorded::Done(receipt),
                        ChargeOutcome::Refused(refused) => Recorded::Refused(refused),
                    },
                ))
            })
            .await?;
        match answer {
            Ok(Recorded::Done(receipt)) => Ok(receipt),
            Ok(Recorded::Refused(refused)) => Err(ChargeError::Refused(refused)),
            Err(NotRun::Conflict(conflict)) => Err(ChargeError::Conflict(conflict)),
            Err(NotRun::Precondition(never)) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestApp, user};

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::parse(k).unwrap()
    }

    #[tokio::test]
    async fn charges_add_up_and_stop_at_the_limit() {
        let t = TestApp::new().await;
        let max = t.app.policies().balance.max;
        t.app
            .charge_balance(user(1), Won::new(1_000), None)
            .await
            .unwrap();
        let r = t
            .app
            .charge_balance(user(1), Won::new(2_000), None)
            .await
            .unwrap();
        assert_eq!(r.balance, Won::new(3_000));
        let err = t.app.charge_balance(user(1), max, None).await.unwrap_err();
        assert!(matches!(
            err,
            ChargeError::Refused(ChargeRefused::LimitExceeded { .. })
        ));
        let err = t
            .app
            .charge_balance(user(1), Won::new(0), None)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ChargeError::Invalid(ChargeRejected::NotPositive)
        ));
        assert_eq!(t.app.show_balance(user(1)).await.unwrap(), Won::new(3_000));
    }

    #[tokio::test]
    async fn the_same_key_charges_once_and_refuses_another_amount() {
        let t = TestApp::new().await;
        let a = t
            .app
            .charge_balance(user(1), Won::new(500), Some(&key("c1")))
            .await
            .unwrap();
        let b = t
            .app
            .charge_balance(user(1), Won::new(500), Some(&key("c1")))
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(t.app.show_balance(user(1)).await.unwrap(), Won::new(500));
        let err = t
            .app
            .charge_balance(user(1), Won::new(600), Some(&key("c1")))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ChargeError::Conflict(IdempotencyConflict::KeyReused)
        ));
        // Keys are per user: another user's "c1" is another key.
        t.app
            .charge_balance(user(2), Won::new(600), Some(&key("c1")))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_refused_charge_is_replayed_as_refused() {
        let t = TestApp::new().await;
        let max = t.app.policies().balance.max;
        t.app.charge_balance(user(1), max, None).await.unwrap();
        for _ in 0..2 {
            let err = t
                .app
                .charge_balance(user(1), Won::new(1), Some(&key("over")))
                .await
                .unwrap_err();
            assert!(matches!(err, ChargeError::Refused(_)));
        }
    }
}
