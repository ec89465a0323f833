//! The outbox port on SQL: the relay's claims on `outbox` rows, leased
//! and ordered per aggregate key by the dialect's claim statement.

use super::{Backend, SqlStore};
use crate::conn::{Conn, Tx};
use crate::rows;
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::events::OutboxEvent;
use boxoffice_core::domain::{ConcertId, EventId, Timestamp};
use boxoffice_core::ports::{Outbox, OutboxBacklog};

#[async_trait]
impl<B: Backend> Outbox for SqlStore<B> {
    async fn claim_unpublished(
        &self,
        now: Timestamp,
        holder: i64,
        lease_until: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxEvent>> {
        let mut tx = self.backend.begin().await?;
        let mut rows = tx
            .fetch_all(
                self.backend.dialect().claim_outbox,
                args![now.as_millis(), lease_until.as_millis(), limit, holder],
            )
            .await?;
        tx.commit().await?;
        // RETURNING gives no order.
        rows.sort_by_key(|row| row.int("seq").unwrap_or(i64::MAX));
        rows.iter().map(rows::event).collect()
    }

    async fn mark_published(&self, ids: &[EventId], now: Timestamp) -> anyhow::Result<()> {
        let mut tx = self.backend.begin().await?;
        for id in ids {
            tx.execute(
                "UPDATE outbox SET published_at_ms = $1, claimed_until_ms = NULL
                  WHERE id = $2 AND published_at_ms IS NULL",
                args![now.as_millis(), id.to_string()],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn renew_claims(
        &self,
        ids: &[EventId],
        holder: i64,
        renewed_until: Timestamp,
    ) -> anyhow::Result<Vec<EventId>> {
        let mut tx = self.backend.begin().await?;
        let mut renewed = Vec::with_capacity(ids.len());
        for id in ids {
            let changed = tx
                .execute(
                    "UPDATE outbox SET claimed_until_ms = $1
                      WHERE id = $2 AND published_at_ms IS NULL
                        AND claimed_until_ms IS NOT NULL AND claimed_by = $3",
                    args![renewed_until.as_millis(), id.to_string(), holder],
                )
                .await?;
            if changed == 1 {
                renewed.push(*id);
            }
        }
        tx.commit().await?;
        Ok(renewed)
    }

    async fn release_claims(&self, ids: &[EventId], holder: i64) -> anyhow::Result<()> {
        let mut tx = self.backend.begin().await?;
        for id in ids {
            tx.execute(
                "UPDATE outbox SET claimed_until_ms = NULL
                  WHERE id = $1 AND published_at_ms IS NULL AND claimed_by = $2",
                args![id.to_string(), holder],
            )
            .await?;
        }
        tx.commit().await
    }

    async fn outbox_backlog(&self) -> anyhow::Result<OutboxBacklog> {
        let row = self
            .reader()
            .fetch_one(
                "SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest
                   FROM outbox WHERE published_at_ms IS NULL",
                args![],
            )
            .await?;
        Ok(OutboxBacklog {
            unpublished: u64::try_from(row.int("n")?)?,
            oldest_created_at: row.opt_int("oldest")?.map(Timestamp::from_millis),
        })
    }

    async fn published_reservations_by_concert(&self) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        let rows = self
            .reader()
            .fetch_all(
                "SELECT r.concert_id, COUNT(*) AS n
                   FROM reservation r
                   JOIN outbox o ON o.aggregate_key = r.id AND o.event_type = 'ReservationConfirmed'
                  WHERE o.published_at_ms IS NOT NULL
                  GROUP BY r.concert_id
                  ORDER BY r.concert_id",
                args![],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    ConcertId::new(row.int("concert_id")?)?,
                    u64::try_from(row.int("n")?)?,
                ))
            })
            .collect()
    }
}
