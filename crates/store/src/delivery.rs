//! The consumer side of event delivery on SQL, for both databases: the
//! [`DeliveryLedger`] (events each consumer group is done with, and dead
//! letters) and the embedded mode's [`Inbox`]. Each method is one statement
//! or one short transaction.

use crate::conn::{Conn, Tx};
use crate::rows;
use crate::sql_store::{Backend, SqlStore};
use crate::values::{Record, args};
use async_trait::async_trait;
use boxoffice_core::domain::delivery::{DeadLetter, DeadLetterFilter, NewDeadLetter};
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::{EventId, Timestamp};
use boxoffice_core::ports::{DeliveryLedger, Inbox};

/// `SELECT <every dead_letter column> FROM dead_letter <rest>`.
macro_rules! select_dead_letters {
    ($rest:expr) => {
        concat!(
            "SELECT id, consumer, event_id AS id_of_event, event_type, schema_version,
                    aggregate_key, payload, created_at_ms, attempts, last_error,
                    failed_at_ms, replayed_at_ms, traceparent, request_id
               FROM dead_letter ",
            $rest
        )
    };
}

/// The filter of `DeliveryLedger::dead_letters`, ordered by id `$order`.
macro_rules! filtered_dead_letters {
    ($order:literal) => {
        concat!(
            "WHERE (CAST($1 AS TEXT) IS NULL OR consumer = $1)
               AND (CAST($2 AS TEXT) IS NULL OR event_type = $2)
               AND ($3 = -1 OR ($3 = 1) = (replayed_at_ms IS NOT NULL))
               AND (CAST($4 AS BIGINT) IS NULL OR failed_at_ms >= $4)
               AND (CAST($5 AS BIGINT) IS NULL OR failed_at_ms < $5)
               AND (CAST($6 AS BIGINT) IS NULL OR id < $6)
             ORDER BY id ",
            $order,
            " LIMIT $7"
        )
    };
}

fn dead_letter(row: &Record) -> anyhow::Result<DeadLetter> {
    Ok(DeadLetter {
        id: row.int("id")?,
        consumer: row.text("consumer")?,
        event: OutboxEvent {
            id: row.text("id_of_event")?.parse::<EventId>()?,
            event_type: row.text("event_type")?,
            schema_version: u16::try_from(row.int("schema_version")?)?,
            aggregate_key: row.text("aggregate_key")?,
            payload: row.text("payload")?,
            created_at: rows::ts(row, "created_at_ms")?,
            trace: rows::trace(row)?,
        },
        attempts: u32::try_from(row.int("attempts")?)?,
        last_error: row.text("last_error")?,
        failed_at: rows::ts(row, "failed_at_ms")?,
        replayed_at: row.opt_int("replayed_at_ms")?.map(Timestamp::from_millis),
    })
}

#[async_trait]
impl<B: Backend> DeliveryLedger for SqlStore<B> {
    async fn already_consumed(&self, consumer: &str, event: EventId) -> anyhow::Result<bool> {
        let row = self
            .reader()
            .fetch_optional(
                "SELECT 1 AS found FROM consumed_event WHERE consumer = $1 AND event_id = $2",
                args![consumer, event.to_string()],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn record_consumed(
        &self,
        consumer: &str,
        event: EventId,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let mut tx = self.backend.begin().await?;
        let inserted = tx
            .execute(
                "INSERT INTO consumed_event (consumer, event_id, consumed_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (consumer, event_id) DO NOTHING",
                args![consumer, event.to_string(), now.as_millis()],
            )
            .await?;
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn record_dead_letter(&self, letter: &NewDeadLetter) -> anyhow::Result<()> {
        let e = &letter.event;
        let [trace_a, trace_b] = rows::trace_args(e);
        let mut tx = self.backend.begin().await?;
        tx.execute(
            "INSERT INTO dead_letter (consumer, event_id, event_type, schema_version, aggregate_key,
                                      payload, created_at_ms, attempts, last_error, failed_at_ms,
                                      traceparent, request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (consumer, event_id) DO UPDATE
                SET attempts = excluded.attempts, last_error = excluded.last_error,
                    failed_at_ms = excluded.failed_at_ms, replayed_at_ms = NULL",
            args![
                letter.consumer.as_str(),
                e.id.to_string(),
                e.event_type.as_str(),
                i64::from(e.schema_version),
                e.aggregate_key.as_str(),
                e.payload.as_str(),
                e.created_at.as_millis(),
                letter.attempts,
                letter.last_error.as_str(),
                letter.failed_at.as_millis(),
                trace_a,
                trace_b
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        limit: u32,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        // -1: either; 0: waiting for a replay; 1: replayed.
        let replayed: i64 = filter.replayed.map_or(-1, i64::from);
        let sql = if filter.oldest_first {
            select_dead_letters!(filtered_dead_letters!("ASC"))
        } else {
            select_dead_letters!(filtered_dead_letters!("DESC"))
        };
        let rows = self
            .reader()
            .fetch_all(
                sql,
                args![
                    filter.consumer.clone(),
                    filter.event_type.clone(),
                    replayed,
                    filter.failed_from.map(|t| t.as_millis()),
                    filter.failed_before.map(|t| t.as_millis()),
                    filter.before_id,
                    limit
                ],
            )
            .await?;
        rows.iter().map(dead_letter).collect()
    }

    async fn dead_letter(&self, id: i64) -> anyhow::Result<Option<DeadLetter>> {
        let row = self
            .reader()
            .fetch_optional(select_dead_letters!("WHERE id = $1"), args![id])
            .await?;
        row.as_ref().map(dead_letter).transpose()
    }

    async fn unreplayed_dead_letters(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT consumer, COUNT(*) AS letters FROM dead_letter
                  WHERE replayed_at_ms IS NULL GROUP BY consumer ORDER BY consumer",
                args![],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.text("consumer")?, u64::try_from(row.int("letters")?)?)))
            .collect()
    }

    async fn mark_replayed(&self, id: i64, now: Timestamp) -> anyhow::Result<bool> {
        let mut tx = self.backend.begin().await?;
        let marked = tx
            .execute(
                "UPDATE dead_letter SET replayed_at_ms = $1 WHERE id = $2 AND replayed_at_ms IS NULL",
                args![now.as_millis(), id],
            )
            .await?;
        tx.commit().await?;
        Ok(marked == 1)
    }
}

#[async_trait]
impl<B: Backend> Inbox for SqlStore<B> {
    async fn append(&self, consumer: &str, event: &OutboxEvent) -> anyhow::Result<()> {
        let [trace_a, trace_b] = rows::trace_args(event);
        let mut tx = self.backend.begin().await?;
        tx.execute(
            "INSERT INTO event_inbox (consumer, event_id, event_type, schema_version, aggregate_key,
                                      payload, created_at_ms, traceparent, request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (consumer, event_id) DO NOTHING",
            args![
                consumer,
                event.id.to_string(),
                event.event_type.as_str(),
                i64::from(event.schema_version),
                event.aggregate_key.as_str(),
                event.payload.as_str(),
                event.created_at.as_millis(),
                trace_a,
                trace_b
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn queued(&self, consumer: &str, limit: u32) -> anyhow::Result<Vec<(i64, OutboxEvent)>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT seq, event_id AS id, event_type, schema_version, aggregate_key, payload,
                        created_at_ms, traceparent, request_id
                   FROM event_inbox WHERE consumer = $1 ORDER BY seq LIMIT $2",
                args![consumer, limit],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.int("seq")?, rows::event(row)?)))
            .collect()
    }

    async fn remove(&self, consumer: &str, seq: i64) -> anyhow::Result<()> {
        let mut tx = self.backend.begin().await?;
        tx.execute(
            "DELETE FROM event_inbox WHERE consumer = $1 AND seq = $2",
            args![consumer, seq],
        )
        .await?;
        tx.commit().await
    }
}
