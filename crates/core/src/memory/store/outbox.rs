//! The memory store's outbox: its rows in append order, under the same
//! mutex as the changes that appended them.

use super::{MemoryStore, OutboxRow};
use crate::domain::events::{self, OutboxEvent};
use crate::domain::{ConcertId, EventId, Timestamp};
use crate::memory::lock;
use crate::ports::{Outbox, OutboxBacklog};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashSet};

#[async_trait]
impl Outbox for MemoryStore {
    async fn claim_unpublished(
        &self,
        now: Timestamp,
        holder: i64,
        lease_until: Timestamp,
        limit: u32,
    ) -> anyhow::Result<Vec<OutboxEvent>> {
        let mut state = lock(&self.inner);
        // Keys with an earlier unpublished event: their later events wait.
        let mut blocked: HashSet<String> = HashSet::new();
        let mut claimed = Vec::new();
        for row in state.outbox.iter_mut().filter(|r| r.published_at.is_none()) {
            if claimed.len() >= limit as usize {
                break;
            }
            let head = blocked.insert(row.event.aggregate_key.clone());
            let free = row.claimed_until.is_none_or(|until| until <= now);
            if head && free {
                row.claimed_until = Some(lease_until);
                row.claimed_by = holder;
                claimed.push(row.event.clone());
            }
        }
        Ok(claimed)
    }

    async fn mark_published(&self, ids: &[EventId], now: Timestamp) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        for row in &mut state.outbox {
            if row.published_at.is_none() && ids.contains(&row.event.id) {
                row.published_at = Some(now);
            }
        }
        Ok(())
    }

    async fn renew_claims(
        &self,
        ids: &[EventId],
        holder: i64,
        renewed_until: Timestamp,
    ) -> anyhow::Result<Vec<EventId>> {
        let mut state = lock(&self.inner);
        let mut renewed = Vec::new();
        for row in &mut state.outbox {
            if held_by(row, ids, holder) {
                row.claimed_until = Some(renewed_until);
                renewed.push(row.event.id);
            }
        }
        Ok(renewed)
    }

    async fn release_claims(&self, ids: &[EventId], holder: i64) -> anyhow::Result<()> {
        let mut state = lock(&self.inner);
        for row in &mut state.outbox {
            if held_by(row, ids, holder) {
                row.claimed_until = None;
            }
        }
        Ok(())
    }

    async fn outbox_backlog(&self) -> anyhow::Result<OutboxBacklog> {
        let state = lock(&self.inner);
        let unpublished: Vec<&OutboxRow> = state
            .outbox
            .iter()
            .filter(|r| r.published_at.is_none())
            .collect();
        Ok(OutboxBacklog {
            unpublished: unpublished.len() as u64,
            oldest_created_at: unpublished.iter().map(|r| r.event.created_at).min(),
        })
    }

    async fn published_reservations_by_concert(&self) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        let state = lock(&self.inner);
        let mut counts: BTreeMap<ConcertId, u64> = BTreeMap::new();
        for row in &state.outbox {
            if row.published_at.is_some()
                && let Some(events::DomainEvent::ReservationConfirmed(body)) =
                    events::DomainEvent::decode(&row.event)
            {
                *counts.entry(body.concert_id).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }
}

/// Whether `row` is one of `ids`, unpublished and still claimed by `holder`.
fn held_by(row: &OutboxRow, ids: &[EventId], holder: i64) -> bool {
    row.published_at.is_none()
        && row.claimed_until.is_some()
        && row.claimed_by == holder
        && ids.contains(&row.event.id)
}
