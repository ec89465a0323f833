//! The idempotency port on SQL: the `idempotency_key` table, one row per
//! fan, scope and key, its answer recorded once the command has one.

use super::{Backend, SqlStore, record_answer};
use crate::conn::{Conn, Tx};
use crate::rows;
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::Timestamp;
use boxoffice_core::domain::idempotency::{
    ClaimOutcome, IdempotencyClaim, IdempotencyTicket, KeyStanding, StoredKeyDecision, decide_claim,
};
use boxoffice_core::ports::Idempotency;

#[async_trait]
impl<B: Backend> Idempotency for SqlStore<B> {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
    ) -> anyhow::Result<ClaimOutcome> {
        let ticket = claim.ticket();
        let (user, scope, key) = (
            claim.user_id.get(),
            claim.scope.as_str(),
            claim.key.as_str(),
        );
        // Insert-or-nothing first, on its own (one round trip, no BEGIN or
        // COMMIT), so concurrent first claims cannot both win. Most claims
        // are first claims and end here.
        if insert_claim(&mut self.backend.writer(), claim).await? {
            return Ok(ClaimOutcome::Claimed(ticket));
        }
        let mut tx = self.backend.begin().await?;
        let found = tx
            .fetch_optional(
                "SELECT fingerprint, response, lease_until_ms FROM idempotency_key
                  WHERE user_id = $1 AND scope = $2 AND key = $3",
                args![user, scope, key],
            )
            .await?;
        let Some(row) = found else {
            // The key was abandoned or purged since the insert found it:
            // claim it afresh (one claimant wins; another is in progress).
            let claimed = insert_claim(&mut tx, claim).await?;
            tx.commit().await?;
            return Ok(if claimed {
                ClaimOutcome::Claimed(ticket)
            } else {
                ClaimOutcome::InProgress
            });
        };
        let response = row.opt_text("response")?;
        let lease_until = rows::ts(&row, "lease_until_ms")?;
        match decide_claim(
            claim,
            &row.text("fingerprint")?,
            response.as_deref(),
            lease_until,
        ) {
            StoredKeyDecision::Answer(answer) => Ok(answer),
            StoredKeyDecision::TakeOver => {
                // Only one taker wins the lease it saw.
                let taken = tx
                    .execute(
                        "UPDATE idempotency_key SET lease_until_ms = $1
                          WHERE user_id = $2 AND scope = $3 AND key = $4
                            AND response IS NULL AND lease_until_ms = $5",
                        args![
                            claim.lease_until.as_millis(),
                            user,
                            scope,
                            key,
                            lease_until.as_millis()
                        ],
                    )
                    .await?;
                tx.commit().await?;
                Ok(if taken == 1 {
                    ClaimOutcome::Claimed(ticket)
                } else {
                    ClaimOutcome::InProgress
                })
            }
        }
    }

    async fn finish_idempotency_key(
        &self,
        ticket: &IdempotencyTicket,
        response: &str,
    ) -> anyhow::Result<()> {
        // One statement, atomic on its own: no BEGIN or COMMIT around it.
        record_answer(
            &mut self.backend.writer(),
            Some(ticket),
            Ok(response.to_owned()),
        )
        .await
    }

    async fn abandon_idempotency_key(&self, ticket: &IdempotencyTicket) -> anyhow::Result<()> {
        // Only a claim still leased to this ticket: never another's.
        let KeyStanding::Leased(until) = ticket.standing else {
            return Ok(());
        };
        self.backend
            .writer()
            .execute(
                "DELETE FROM idempotency_key
                  WHERE user_id = $1 AND scope = $2 AND key = $3
                    AND response IS NULL AND lease_until_ms = $4",
                args![
                    ticket.user_id.get(),
                    ticket.scope.as_str(),
                    ticket.key.as_str(),
                    until.as_millis()
                ],
            )
            .await?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> anyhow::Result<u64> {
        let mut tx = self.backend.begin().await?;
        let purged = tx
            .execute(
                "DELETE FROM idempotency_key WHERE created_at_ms < $1",
                args![before.as_millis()],
            )
            .await?;
        tx.commit().await?;
        Ok(purged)
    }
}

/// Inserts `claim`'s key unless it exists: whether it was inserted.
async fn insert_claim<C: Conn>(c: &mut C, claim: &IdempotencyClaim) -> anyhow::Result<bool> {
    let inserted = c
        .execute(
            "INSERT INTO idempotency_key
                (user_id, scope, key, fingerprint, response, lease_until_ms, created_at_ms)
             VALUES ($1, $2, $3, $4, NULL, $5, $6)
             ON CONFLICT (user_id, scope, key) DO NOTHING",
            args![
                claim.user_id.get(),
                claim.scope.as_str(),
                claim.key.as_str(),
                claim.fingerprint.as_str(),
                claim.lease_until.as_millis(),
                claim.now.as_millis()
            ],
        )
        .await?;
    Ok(inserted == 1)
}
