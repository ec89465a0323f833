//! The operator's dead-letter list: what consumers gave up on, with the last
//! error, and replaying one once its cause is fixed.

use super::App;
use crate::domain::delivery::{DATA_PLATFORM_CONSUMER, DeadLetter, DeadLetterFilter};

/// What a bulk replay did, letter by letter (ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkReplay {
    /// Delivered now (or found delivered by the consumer's ledger) and marked replayed.
    pub replayed: Vec<i64>,
    /// Replayed meanwhile by someone else, or under replay now.
    pub skipped: Vec<i64>,
    /// The consumer failed again, with why; these stay for a later replay.
    pub failed: Vec<(i64, String)>,
    /// Stopped after too many failures in a row; letters after it were not tried.
    pub stopped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no such dead letter")]
    NotFound,
    #[error("the dead letter was already replayed")]
    AlreadyReplayed,
    /// Another replay of it holds its lock now.
    #[error("another replay of the dead letter is under way")]
    InProgress,
    /// The consumer failed again; the dead letter stays for a later replay.
    #[error("delivery failed again: {0}")]
    DeliveryFailed(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// How long one replay may hold its letter: far above a delivery's time
/// limit (`dataplatform.timeout_ms`, at most 60 s by the configuration's
/// bounds), so that a slow platform does not let a second replay in.
const REPLAY_LOCK_MS: u64 = 120_000;

impl App {
    /// Up to `limit` dead letters `filter` takes, newest first.
    pub async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: u32,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        self.adapters.ledger.dead_letters(filter, limit).await
    }

    /// Replays, oldest first, up to `limit` of the letters `filter` takes
    /// that wait for a replay, each as [`App::replay_dead_letter`] does
    /// (under its lock, and delivered at most once by the consumer's
    /// ledger), so running the same bulk replay again replays nothing twice.
    /// Stops early after `delivery.breaker_failures` failures in a row: the
    /// consumer is likely down, and the rest wait for the next try.
    pub async fn replay_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: u32,
    ) -> anyhow::Result<BulkReplay> {
        let waiting = DeadLetterFilter {
            replayed: Some(false),
            oldest_first: true,
            ..filter.clone()
        };
        let letters = self.adapters.ledger.dead_letters(&waiting, limit).await?;
        let mut outcome = BulkReplay::default();
        let mut failures_in_a_row = 0;
        for letter in letters {
            match self.replay_dead_letter(letter.id).await {
                Ok(_) => {
                    failures_in_a_row = 0;
                    outcome.replayed.push(letter.id);
                }
                Err(
                    ReplayError::AlreadyReplayed | ReplayError::NotFound | ReplayError::InProgress,
                ) => outcome.skipped.push(letter.id),
                Err(ReplayError::DeliveryFailed(error)) => {
                    outcome.failed.push((letter.id, error));
                    failures_in_a_row += 1;
                    if failures_in_a_row >= self.policies.delivery.breaker_failures.max(1) {
                        outcome.stopped = true;
                        break;
                    }
                }
                Err(ReplayError::Unexpected(err)) => return Err(err),
            }
        }
        Ok(outcome)
    }

    /// Delivers a dead letter once more, now; marks it replayed when it
    /// went through. Replays of one letter take turns under a lock, so two
    /// operators pressing replay at once send it once: the second is told
    /// a replay is under way.
    pub async fn replay_dead_letter(&self, id: i64) -> Result<DeadLetter, ReplayError> {
        let lock = &self.adapters.lock;
        let key = format!("dead-letter-replay:{id}");
        let Some(lease) = lock.try_acquire(&key, REPLAY_LOCK_MS).await? else {
            return Err(ReplayError::InProgress);
        };
        let replayed = self.replay_under_lock(id).await;
        if let Err(err) = lock.release(&lease).await {
            // It lapses by itself after REPLAY_LOCK_MS.
            tracing::warn!(
                error = format!("{err:#}"),
                "dead-letter replay lock not released"
            );
        }
        replayed
    }

    async fn replay_under_lock(&self, id: i64) -> Result<DeadLetter, ReplayError> {
        let ledger = &self.adapters.ledger;
        // Read under the lock: a replay that finished just before sees it marked.
        let letter = ledger.dead_letter(id).await?.ok_or(ReplayError::NotFound)?;
        if letter.replayed_at.is_some() {
            return Err(ReplayError::AlreadyReplayed);
        }
        // The only consumer that dead-letters today; a new one adds its arm.
        let delivered = match letter.consumer.as_str() {
            DATA_PLATFORM_CONSUMER => self.replay_to_platform(&letter).await?,
            other => return Err(anyhow::anyhow!("no consumer named {other}").into()),
        };
        if !delivered {
            return Err(ReplayError::AlreadyReplayed);
        }
        ledger.dead_letter(id).await?.ok_or(ReplayError::NotFound)
    }

    /// Dead letters not replayed, per consumer, for the metrics.
    pub async fn unreplayed_dead_letters(&self) -> anyhow::Result<Vec<(String, u64)>> {
        self.adapters.ledger.unreplayed_dead_letters().await
    }

    /// True when this call delivered (or found delivered) the event and
    /// marked the letter replayed; false when a concurrent replay did.
    async fn replay_to_platform(&self, letter: &DeadLetter) -> Result<bool, ReplayError> {
        let Some(platform) = self.adapters.data_platform.as_ref() else {
            return Err(ReplayError::DeliveryFailed(
                "no data platform is configured".to_owned(),
            ));
        };
        let ledger = &self.adapters.ledger;
        let event = &letter.event;
        if !ledger
            .already_consumed(DATA_PLATFORM_CONSUMER, event.id)
            .await?
        {
            platform
                .deliver(event)
                .await
                .map_err(|err| ReplayError::DeliveryFailed(format!("{err:#}")))?;
            ledger
                .record_consumed(DATA_PLATFORM_CONSUMER, event.id, self.now())
                .await?;
        }
        Ok(ledger.mark_replayed(letter.id, self.now()).await?)
    }
}
