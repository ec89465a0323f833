//! The accounts port on SQL: balances and charges, each change a
//! `balance_entry` row in the same transaction.

use super::*;
use crate::conn::{Conn, Tx};
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::events::{self, BalanceCharged};
use boxoffice_core::domain::idempotency::{IdempotencyTicket, Recorded};
use boxoffice_core::domain::{UserId, Won};
use boxoffice_core::ports::{Accounts, ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused};

#[async_trait]
impl<B: Backend> Accounts for SqlStore<B> {
    async fn charge_balance(
        &self,
        a: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let mut tx = self.backend.begin().await?;
        tx.execute(
            "INSERT INTO balance (user_id, amount, updated_at_ms) VALUES ($1, 0, $2)
             ON CONFLICT (user_id) DO NOTHING",
            args![a.user_id.get(), a.now.as_millis()],
        )
        .await?;
        let charged = self
            .change_balance(&mut tx, a.user_id, a.amount.amount(), a.max_balance, a.now)
            .await?;
        let Some(after) = charged else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            return Ok(ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
                balance,
                max: a.max_balance,
            }));
        };
        let reference = a.event_id.to_string();
        let entry = Entry {
            user: a.user_id,
            kind: "CHARGE",
            amount: a.amount,
            after,
            reference: &reference,
            now: a.now,
        };
        append_entry(&mut tx, entry).await?;
        let event = events::balance_charged(
            a.event_id,
            BalanceCharged {
                user_id: a.user_id,
                amount: a.amount,
                balance: after,
                charged_at: a.now,
            },
        );
        append_event(&mut tx, &event).await?;
        let receipt = ChargeReceipt { balance: after };
        let answer = Recorded::<ChargeReceipt, ChargeRefused>::Done(receipt).to_json();
        record_answer(&mut tx, ticket, answer).await?;
        tx.commit().await?;
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        current_balance(&mut self.reader(), user).await
    }
}
