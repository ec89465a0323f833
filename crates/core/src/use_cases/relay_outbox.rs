//! Relaying the outbox: events committed with their change are claimed,
//! handed to the event bus, then marked published. At least once: an event
//! whose hand-over failed goes back unpublished and is relayed again on a
//! later step. Any number of relays (one per instance) may run at once:
//! claims keep them from relaying the same event, and only the oldest
//! unpublished event of an aggregate can be claimed, so each aggregate's
//! events leave in the order they were written.

use super::App;
use crate::domain::EventId;
use crate::ports::OutboxBacklog;
use anyhow::Context;

/// The outbox backlog and its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLag {
    pub backlog: OutboxBacklog,
    /// How long the oldest unpublished event has waited; 0 when none waits.
    pub lag_ms: u64,
}

/// How long a relay's claims last unless renewed: a relay that dies holding
/// claims (a `kill -9`) leaves its events to another relay within this.
const CLAIM_LEASE_MS: i64 = 5_000;
/// How often a live relay renews the claims it has still to publish: well
/// inside the lease, so a renewal or two can be slow without losing them.
const CLAIM_RENEW_MS: i64 = 1_500;

impl App {
    /// Relays up to `limit` unpublished events; stops at the first failure
    /// (a bus that fails once is likely down) and gives the rest back.
    /// While it publishes, it renews its claims every `CLAIM_RENEW_MS`; a
    /// claim that could not be renewed was taken over by another relay
    /// after a stall longer than the lease, and is left to it.
    /// Returns how many were published.
    pub async fn relay_outbox_once(&self, limit: u32) -> anyhow::Result<usize> {
        let holder = i64::from_le_bytes(self.random_bytes());
        let claimed_at = self.now();
        let events = self
            .store()
            .claim_unpublished(
                claimed_at,
                holder,
                claimed_at.plus_millis(CLAIM_LEASE_MS),
                limit,
            )
            .await?;
        let mut renewed_at = claimed_at;
        // Published on the bus, and of those, already marked in the store.
        let mut published: Vec<EventId> = Vec::with_capacity(events.len());
        let mut marked = 0;
        let mut failure = None;
        for (i, event) in events.iter().enumerate() {
            let now = self.now();
            if now.as_millis() - renewed_at.as_millis() >= CLAIM_RENEW_MS {
                // What is out already is marked, so its claims need no renewing.
                if marked < published.len() {
                    self.store()
                        .mark_published(&published[marked..], now)
                        .await?;
                    marked = published.len();
                }
                renewed_at = now;
                match self.keep_claims(&events[i..], holder, now).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            match self.adapters.bus.publish(event).await {
                Ok(()) => published.push(event.id),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if marked < published.len() {
            self.store()
                .mark_published(&published[marked..], self.now())
                .await?;
        }
        let unsent: Vec<EventId> = events[published.len()..].iter().map(|e| e.id).collect();
        if !unsent.is_empty()
            && let Err(release) = self.store().release_claims(&unsent, holder).await
        {
            // The claims lapse with their lease instead.
            tracing::warn!(error = %release, "could not release outbox claims");
        }
        match failure {
            Some(err) => Err(err.context("relaying the outbox")),
            None => Ok(published.len()),
        }
    }

    /// Renews `holder`'s claims on `unsent` for another lease; false when
    /// some had lapsed during a stall and another relay took them, since
    /// publishing on could then reorder their keys.
    async fn keep_claims(
        &self,
        unsent: &[crate::domain::events::OutboxEvent],
        holder: i64,
        now: crate::domain::Timestamp,
    ) -> anyhow::Result<bool> {
        let ids: Vec<EventId> = unsent.iter().map(|e| e.id).collect();
        let kept = self
            .store()
            .renew_claims(&ids, holder, now.plus_millis(CLAIM_LEASE_MS))
            .await
            .context("renewing outbox claims")?;
        if kept.len() < ids.len() {
            tracing::warn!(
                lost = ids.len() - kept.len(),
                "outbox claims lapsed during a stalled relay step; another relay has them"
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// The relay's backlog, for metrics: how many events wait and the age
    /// of the oldest (the outbox lag).
    pub async fn outbox_lag(&self) -> anyhow::Result<OutboxLag> {
        let backlog = self.store().outbox_backlog().await?;
        let lag_ms = backlog.oldest_created_at.map_or(0, |oldest| {
            u64::try_from(self.now().as_millis() - oldest.as_millis()).unwrap_or(0)
        });
        Ok(OutboxLag { backlog, lag_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::{CLAIM_LEASE_MS, CLAIM_RENEW_MS};
    use crate::domain::EventId;
    use crate::domain::events::OutboxEvent;
    use crate::ports::{Clock, EventBus, Store};
    use crate::testing::{ManualClock, TestApp, user};
    use async_trait::async_trait;
    use std::sync::{Arc, Mutex, OnceLock};

    // The bound on taking over a dead instance's events, and a
    // publish of 2 s (below) spans a renewal.
    const _: () = assert!(CLAIM_LEASE_MS <= 5_000 && CLAIM_RENEW_MS < 2_000);

    /// A bus whose every publish takes `stall_ms` of the manual clock, and
    /// during which a rival relay tries to claim the backlog.
    #[derive(Debug, Default)]
    struct StallingBus {
        stall_ms: i64,
        parts: OnceLock<(Arc<ManualClock>, Arc<dyn Store>)>,
        published: Mutex<Vec<EventId>>,
        /// What the rival claimed at each of its tries.
        rival: Mutex<Vec<Vec<EventId>>>,
    }

    #[async_trait]
    impl EventBus for StallingBus {
        async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<()> {
            let (clock, store) = self.parts.get().expect("wired");
            clock.advance_millis(self.stall_ms);
            let now = clock.now();
            let got = store
                .claim_unpublished(now, 2, now.plus_millis(CLAIM_LEASE_MS), 100)
                .await?;
            self.rival
                .lock()
                .expect("rival")
                .push(got.iter().map(|e| e.id).collect());
            self.published.lock().expect("published").push(event.id);
            Ok(())
        }

        async fn publish_dead_letter(
            &self,
            _consumer: &str,
            _event: &OutboxEvent,
            _error: &str,
        ) -> anyhow::Result<()> {
            Ok(())
        }
    }

    async fn stalling(stall_ms: i64) -> (TestApp, Arc<StallingBus>) {
        let bus = Arc::new(StallingBus {
            stall_ms,
            ..StallingBus::default()
        });
        let t = TestApp::with_bus(bus.clone()).await;
        bus.parts
            .set((t.clock.clone(), t.store.clone()))
            .unwrap_or_else(|_| panic!("wired twice"));
        for who in 1..=5 {
            t.charge(user(who), 10_000).await;
        }
        (t, bus)
    }

    #[tokio::test]
    async fn a_live_relay_renews_its_claims_so_a_rival_gets_none_through_a_step_longer_than_the_lease()
     {
        // Five publishes of 2 s each: 10 s, twice the lease.
        let (t, bus) = stalling(2_000).await;
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(5));
        let rival = bus.rival.lock().expect("rival").clone();
        assert_eq!(rival.len(), 5);
        assert!(
            rival.iter().all(Vec::is_empty),
            "the rival claimed events the live relay held: {rival:?}"
        );
        let published = bus.published.lock().expect("published").clone();
        let mut distinct = published.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "each event once: {published:?}");
    }

    #[tokio::test]
    async fn a_relay_stalled_past_its_lease_stops_and_leaves_the_rest_to_the_relay_that_took_them()
    {
        // One publish stalls longer than the lease: the rival takes the four others.
        let (t, bus) = stalling(CLAIM_LEASE_MS + 1).await;
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(1));
        let rival = bus.rival.lock().expect("rival").clone();
        assert_eq!(rival.len(), 1, "the stalled relay published only the first");
        assert_eq!(
            rival[0].len(),
            5,
            "the rival took every lapsed claim, the stalled one's too (published twice, at least once)"
        );
        // The stalled relay gave nothing back: the rival's claims still hold.
        let now = t.clock.now();
        let left = t
            .store
            .claim_unpublished(now, 1, now.plus_millis(CLAIM_LEASE_MS), 100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(left.is_empty(), "claims taken over were released: {left:?}");
    }

    #[tokio::test]
    async fn a_dead_relays_claims_are_relayed_by_another_within_the_lease() {
        let t = TestApp::new().await;
        t.charge(user(1), 10_000).await;
        // A relay claims and dies (a kill -9): nothing releases its claims.
        let now = t.clock.now();
        let held = t
            .store
            .claim_unpublished(now, 1, now.plus_millis(CLAIM_LEASE_MS), 100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held.len(), 1);
        t.clock.advance_millis(CLAIM_LEASE_MS - 1);
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(0));
        t.clock.advance_millis(1);
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn relayed_events_are_published_once_and_leave_the_backlog() {
        let t = TestApp::new().await;
        t.charge(user(1), 10_000).await;
        t.charge(user(2), 10_000).await;
        t.clock.advance_millis(1_500);
        let lag = t.app.outbox_lag().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lag.backlog.unpublished, 2);
        assert_eq!(lag.lag_ms, 1_500);
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(2));
        assert_eq!(t.app.relay_outbox_once(10).await.ok(), Some(0));
        let lag = t.app.outbox_lag().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lag.backlog.unpublished, 0);
        assert_eq!(lag.lag_ms, 0);
    }
}
