//! The memory store's idempotency keys: a map beside the rest of its
//! state, under the same mutex.

use super::{KeyRow, MemoryStore, key_of};
use crate::domain::Timestamp;
use crate::domain::idempotency::{
    ClaimOutcome, IdempotencyClaim, IdempotencyTicket, KeyStanding, StoredKeyDecision, decide_claim,
};
use crate::memory::lock;
use crate::ports::Idempotency;
use async_trait::async_trait;

#[async_trait]
impl Idempotency for MemoryStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
    ) -> anyhow::Result<ClaimOutcome> {
        let mut state = lock(&self.inner);
        let ticket = claim.ticket();
        let key = key_of(&ticket);
        if let Some(row) = state.idempotency.get_mut(&key) {
            match decide_claim(
                claim,
                &row.fingerprint,
                row.response.as_deref(),
                row.lease_until,
            ) {
                StoredKeyDecision::Answer(answer) => return Ok(answer),
                StoredKeyDecision::TakeOver => {
                    row.lease_until = claim.lease_until;
                    return Ok(ClaimOutcome::Claimed(ticket));
                }
            }
        }
        state.idempotency.insert(
            key,
            KeyRow {
                fingerprint: claim.fingerprint.as_str().to_owned(),
                response: None,
                lease_until: claim.lease_until,
                created_at: claim.now,
            },
        );
        Ok(ClaimOutcome::Claimed(ticket))
    }

    async fn finish_idempotency_key(
        &self,
        ticket: &IdempotencyTicket,
        response: &str,
    ) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        state.record(Some(ticket), Ok(response.to_owned()))
    }

    async fn abandon_idempotency_key(&self, ticket: &IdempotencyTicket) -> anyhow::Result<()> {
        // Only a claim still leased to this ticket: never another's.
        let KeyStanding::Leased(until) = ticket.standing else {
            return Ok(());
        };
        let mut state = lock(&self.inner);
        let key = key_of(ticket);
        if state
            .idempotency
            .get(&key)
            .is_some_and(|row| row.holds_lease(until))
        {
            state.idempotency.remove(&key);
        }
        Ok(())
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> anyhow::Result<u64> {
        let mut state = lock(&self.inner);
        let n = state.idempotency.len();
        state.idempotency.retain(|_, row| row.created_at >= before);
        Ok((n - state.idempotency.len()) as u64)
    }
}
