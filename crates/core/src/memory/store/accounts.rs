//! The memory store's accounts: balances and charges.

use super::{MemoryStore, OutboxRow};
use crate::domain::events::{self, BalanceCharged};
use crate::domain::idempotency::{IdempotencyTicket, Recorded};
use crate::domain::{UserId, Won};
use crate::memory::lock;
use crate::ports::{Accounts, ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused};
use async_trait::async_trait;

#[async_trait]
impl Accounts for MemoryStore {
    async fn charge_balance(
        &self,
        a: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let mut state = lock(&self.inner);
        let balance = state.balances.get(&a.user_id).copied().unwrap_or_default();
        let Some(after) = balance
            .checked_add(a.amount)
            .filter(|b| *b <= a.max_balance)
        else {
            return Ok(ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
                balance,
                max: a.max_balance,
            }));
        };
        let receipt = ChargeReceipt { balance: after };
        let answer = Recorded::<ChargeReceipt, ChargeRefused>::Done(receipt).to_json();
        state.record(ticket, answer.map_err(Into::into))?;
        state.balances.insert(a.user_id, after);
        state.charged = state.charged.checked_add(a.amount).unwrap_or(state.charged);
        let event = events::balance_charged(
            a.event_id,
            BalanceCharged {
                user_id: a.user_id,
                amount: a.amount,
                balance: after,
                charged_at: a.now,
            },
        );
        state.outbox.push(OutboxRow::new(event));
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        Ok(lock(&self.inner)
            .balances
            .get(&user)
            .copied()
            .unwrap_or_default())
    }
}
