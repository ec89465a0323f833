//! The memory store's accounts: balances and charges.

use super::MemoryStore;
use crate::domain::events::{self, BalanceCharged};
use crate::domain::idempotency::{IdempotencyTicket, Recorded};
use crate::domain::ledger::{Account, LedgerFigures, LedgerTransaction};
use crate::domain::{UserId, Won};
use crate::memory::lock;
use crate::ports::{Accounts, ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};

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
        state.post(LedgerTransaction::top_up(a.event_id, a.user_id, a.amount));
        let event = events::balance_charged(
            a.event_id,
            BalanceCharged {
                user_id: a.user_id,
                amount: a.amount,
                balance: after,
                charged_at: a.now,
            },
        );
        state.append(event);
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        Ok(lock(&self.inner)
            .balances
            .get(&user)
            .copied()
            .unwrap_or_default())
    }

    async fn ledger_figures(&self) -> anyhow::Result<LedgerFigures> {
        let state = lock(&self.inner);
        let mut sums: HashMap<&str, i64> = HashMap::new();
        let mut by_account: BTreeMap<Account, i64> = BTreeMap::new();
        for (id, posting) in &state.ledger {
            *sums.entry(id.as_str()).or_default() += posting.amount;
            *by_account.entry(posting.account).or_default() += posting.amount;
        }
        let mut unbalanced: Vec<(String, i64)> = sums
            .iter()
            .filter(|(_, sum)| **sum != 0)
            .map(|(id, sum)| ((*id).to_owned(), *sum))
            .collect();
        unbalanced.sort();
        let fans: HashSet<UserId> = state
            .balances
            .keys()
            .copied()
            .chain(by_account.keys().filter_map(|a| match a {
                Account::Fan(user) => Some(*user),
                _ => None,
            }))
            .collect();
        let mut fan_mismatches: Vec<(UserId, i64, i64)> = fans
            .into_iter()
            .map(|user| {
                let balance = state.balances.get(&user).map_or(0, |w| w.amount());
                let posted = by_account.get(&Account::Fan(user)).copied().unwrap_or(0);
                (user, balance, posted)
            })
            .filter(|(_, balance, posted)| balance != posted)
            .collect();
        fan_mismatches.sort();
        let mut figures = LedgerFigures {
            transactions: sums.len() as u64,
            accounts: by_account.len() as u64,
            unbalanced,
            fan_mismatches,
            top_ups_posted: by_account.get(&Account::TopUps).copied().unwrap_or(0),
            charged: state.charged.amount(),
            ..LedgerFigures::default()
        };
        for (account, sum) in &by_account {
            match account {
                Account::Revenue(c) => _ = figures.revenue_posted.insert(*c, *sum),
                Account::Fees(c) => _ = figures.fees_posted.insert(*c, *sum),
                Account::Fan(_) | Account::TopUps => {}
            }
        }
        for r in &state.reservations {
            match r.cancellation {
                None => *figures.revenue_sold.entry(r.concert_id).or_default() += r.price.amount(),
                Some(c) => *figures.fees_kept.entry(r.concert_id).or_default() += c.fee.amount(),
            }
        }
        Ok(figures)
    }
}
