//! Running a command at most once per `Idempotency-Key`.
//!
//! A successful command records its answer inside its own transaction (the
//! store gets the ticket), so "acted" and "answer recorded" cannot come apart.
//! A refusal changed nothing, so its answer is recorded afterwards. An
//! unexpected failure gives the key back so that a retry may act.

use super::App;
use crate::domain::UserId;
use crate::domain::idempotency::{
    ClaimOutcome, Fingerprint, IdempotencyClaim, IdempotencyKey, IdempotencyScope,
    IdempotencyTicket, Recorded,
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
    pub(super) async fn run_once<T, R, E>(
        &self,
        once: Once<'_>,
        command: impl AsyncFnOnce(
            Option<&IdempotencyTicket>,
        ) -> anyhow::Result<Result<Recorded<T, R>, E>>,
    ) -> anyhow::Result<Idempotent<T, R, E>>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
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
        match command(Some(&ticket)).await {
            Ok(Ok(Recorded::Done(done))) => Ok(Ok(Recorded::Done(done))),
            Ok(Ok(Recorded::Refused(refusal))) => {
                let refused = Recorded::<T, R>::Refused(refusal);
                self.store()
                    .finish_idempotency_key(&ticket, &refused.to_json()?)
                    .await?;
                Ok(Ok(refused))
            }
            Ok(Err(precondition)) => {
                self.give_back(&ticket).await;
                Ok(Err(NotRun::Precondition(precondition)))
            }
            Err(err) => {
                self.give_back(&ticket).await;
                Err(err)
            }
        }
    }

    async fn give_back(&self, ticket: &IdempotencyTicket) {
        if let Err(release) = self.store().abandon_idempotency_key(ticket).await {
            // The lease runs out by itself; a retry waits at most that long.
            tracing::warn!(error = %release, "could not give back an idempotency key");
        }
    }
}
