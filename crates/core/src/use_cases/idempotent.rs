//! Running a command at most once per `Idempotency-Key`.
//!
//! A successful command records its key and its answer inside its own
//! transaction (the store gets the ticket), so "acted" and "answer recorded"
//! cannot come apart, and a first request commits once. A refusal changed
//! nothing, so its answer is recorded afterwards. A key found taken is
//! claimed on its own, which replays, refuses or lets the command run again;
//! an unexpected failure then gives the claim back so that a retry may act.

use super::App;
use crate::domain::UserId;
use crate::domain::idempotency::{
    ClaimOutcome, Fingerprint, IdempotencyClaim, IdempotencyKey, IdempotencyScope,
    IdempotencyTicket, KeyTaken, Recorded,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an idempotent command was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyConflict {
    /// A request with the same key is still running.
    InProgress,
    /// The key was used before with a different request.
    KeyReused,
}

/// Why a command did not run: a key conflict, or the command's own
/// precondition `E`, checked inside the claim and never recorded (so a
/// retry with the same key, once the precondition holds, may act).
#[derive(Debug)]
pub(super) enum NotRun<E> {
    Conflict(IdempotencyConflict),
    Precondition(E),
}

/// Either the command's recorded answer or why it was not run.
pub(super) type Idempotent<T, R, E> = Result<Recorded<T, R>, NotRun<E>>;

/// A command to run once: who, which command, the request's meaning.
pub(super) struct Once<'a> {
    pub user: UserId,
    pub scope: IdempotencyScope,
    pub key: Option<&'a IdempotencyKey>,
    pub fingerprint: &'a [&'a str],
}

impl App {
    /// Runs `command` at most once for `once`'s key.
    ///
    /// A first request goes straight to the command with a fresh ticket: it
    /// writes the key with its answer in its own transaction, one durable
    /// commit in all. Only when the key is there already (a repeat, a
    /// concurrent twin, a reuse, a lease left by a crash) does the command
    /// fail with [`KeyTaken`], having changed nothing; then the key is
    /// claimed as a row of its own, which answers, refuses, or hands over a
    /// held ticket for the command to run with once more.
    pub(super) async fn run_once<T, R, E, Run>(
        &self,
        once: Once<'_>,
        command: impl Fn(Option<IdempotencyTicket>) -> Run,
    ) -> anyhow::Result<Idempotent<T, R, E>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
        Run: Future<Output = anyhow::Result<Result<Recorded<T, R>, E>>>,
    {
        let Some(key) = once.key else {
            return Ok(command(None).await?.map_err(NotRun::Precondition));
        };
        let now = self.now();
        let claim = IdempotencyClaim {
            user_id: once.user,
            scope: once.scope,
            key: key.clone(),
            fingerprint: Fingerprint::of(once.scope, once.fingerprint),
            now,
            lease_until: now.plus_secs(self.policies.idempotency.lease_secs),
        };
        let fresh = claim.fresh_ticket();
        match self
            .settle(command(Some(fresh.clone())).await, &fresh)
            .await
        {
            Err(err) if err.is::<KeyTaken>() => {}
            // A fresh ticket leaves nothing to give back: its key was
            // written with the answer or not at all.
            ran => return ran,
        }
        let ticket = match self.store().claim_idempotency_key(&claim).await? {
            ClaimOutcome::Claimed(ticket) => ticket,
            ClaimOutcome::Replay(json) => return Ok(Ok(serde_json::from_str(&json)?)),
            ClaimOutcome::InProgress => {
                return Ok(Err(NotRun::Conflict(IdempotencyConflict::InProgress)));
            }
            ClaimOutcome::KeyReused => {
                return Ok(Err(NotRun::Conflict(IdempotencyConflict::KeyReused)));
            }
        };
        let ran = self
            .settle(command(Some(ticket.clone())).await, &ticket)
            .await;
        if matches!(ran, Err(_) | Ok(Err(NotRun::Precondition(_)))) {
            // The claim row stands without an answer: give it back, so
            // that a retry may act.
            self.give_back(&ticket).await;
        }
        ran
    }

    /// What a command run with `ticket` answers, once a refusal, which
    /// changed nothing, is recorded under the key on its own.
    async fn settle<T, R, E>(
        &self,
        ran: anyhow::Result<Result<Recorded<T, R>, E>>,
        ticket: &IdempotencyTicket,
    ) -> anyhow::Result<Idempotent<T, R, E>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        match ran? {
            Ok(Recorded::Done(done)) => Ok(Ok(Recorded::Done(done))),
            Ok(Recorded::Refused(refusal)) => {
                let refused = Recorded::<T, R>::Refused(refusal);
                self.store()
                    .finish_idempotency_key(ticket, &refused.to_json()?)
                    .await?;
                Ok(Ok(refused))
            }
            Err(precondition) => Ok(Err(NotRun::Precondition(precondition))),
        }
    }

    async fn give_back(&self, ticket: &IdempotencyTicket) {
        if let Err(release) = self.store().abandon_idempotency_key(ticket).await {
            // The lease runs out by itself; a retry waits at most that long.
            tracing::warn!(error = %release, "could not give back an idempotency key");
        }
    }
}
