//! The accounts port: fans' prepaid balances, the charges that fill them,
//! and the double-entry ledger every movement of money is posted to.

use crate::domain::idempotency::IdempotencyTicket;
use crate::domain::ledger::LedgerFigures;
use crate::domain::{EventId, Timestamp, UserId, Won};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeAttempt {
    pub user_id: UserId,
    pub amount: Won,
    pub max_balance: Won,
    pub now: Timestamp,
    pub event_id: EventId,
}

/// Why a charge changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargeRefused {
    /// The balance would pass the limit.
    LimitExceeded { balance: Won, max: Won },
}

/// The answer to a charge, and what an idempotent repeat returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeReceipt {
    pub balance: Won,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Charged(ChargeReceipt),
    Refused(ChargeRefused),
}

#[async_trait]
pub trait Accounts: Send + Sync + std::fmt::Debug {
    /// Adds to the balance within the limit, appends `BalanceCharged` and
    /// records the answer under `ticket`: all or nothing. A fresh ticket's
    /// key found taken fails it with `KeyTaken`, having changed nothing.
    async fn charge_balance(
        &self,
        attempt: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome>;
    /// The balance; zero for a user with no history.
    async fn balance(&self, user: UserId) -> anyhow::Result<Won>;
    /// The ledger's figures beside the balances and sales, for
    /// [`crate::domain::ledger::reconcile`]. Every charge, payment and
    /// cancellation posts its [`crate::domain::ledger::LedgerTransaction`]
    /// in its own transaction, so these agree whenever nothing was lost.
    async fn ledger_figures(&self) -> anyhow::Result<LedgerFigures>;
}
