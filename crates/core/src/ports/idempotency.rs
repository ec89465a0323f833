//! The idempotency port: the keys that make a repeated request answer as
//! the first did, and never act twice.
//!
//! A command that changes something records its answer in its own
//! transaction (the booking and accounts steps take the ticket for that).
//! A first request's ticket is fresh: the command writes the key with its
//! answer, and fails with `KeyTaken`, changing nothing, if the key is
//! there. Only then is the key claimed here, on its own, to replay, refuse
//! or lease it for the command to run again. A refusal changes nothing, so
//! it is recorded here on its own.

use crate::domain::Timestamp;
use crate::domain::idempotency::{ClaimOutcome, IdempotencyClaim, IdempotencyTicket};
use async_trait::async_trait;

#[async_trait]
pub trait Idempotency: Send + Sync + std::fmt::Debug {
    /// Claims the key for a lease, answers what a finished claim recorded,
    /// or says another claim is in progress.
    async fn claim_idempotency_key(&self, claim: &IdempotencyClaim)
    -> anyhow::Result<ClaimOutcome>;
    /// Records the answer of a command that was refused (a refusal changes
    /// nothing, so it is recorded on its own). A fresh ticket writes its key
    /// with the answer, or fails with `KeyTaken` if the key is there.
    async fn finish_idempotency_key(
        &self,
        ticket: &IdempotencyTicket,
        response: &str,
    ) -> anyhow::Result<()>;
    /// Forgets an unfinished claim after an unexpected failure, so a retry may act.
    async fn abandon_idempotency_key(&self, ticket: &IdempotencyTicket) -> anyhow::Result<()>;
    /// Deletes idempotency records created before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> anyhow::Result<u64>;
}
