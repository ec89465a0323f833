//! Popular-concert counts in process memory.

use super::lock;
use crate::domain::{ConcertId, EventId};
use crate::ports::Ranking;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryRanking {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    by_concert: HashMap<ConcertId, u64>,
    /// Events already counted, so a redelivery counts nothing.
    seen: HashSet<EventId>,
}

#[async_trait]
impl Ranking for MemoryRanking {
    async fn record_reservation(&self, concert: ConcertId, event: EventId) -> anyhow::Result<bool> {
        let mut counts = lock(&self.inner);
        if !counts.seen.insert(event) {
            return Ok(false);
        }
        *counts.by_concert.entry(concert).or_default() += 1;
        Ok(true)
    }

    async fn top(&self, n: usize) -> anyhow::Result<Vec<(ConcertId, u64)>> {
        let counts = lock(&self.inner);
        let mut all: Vec<_> = counts.by_concert.iter().map(|(c, n)| (*c, *n)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        Ok(all)
    }

    async fn reset(&self, counts: &[(ConcertId, u64)]) -> anyhow::Result<()> {
        let mut inner = lock(&self.inner);
        inner.by_concert = counts.iter().copied().filter(|(_, n)| *n > 0).collect();
        inner.seen.clear();
        Ok(())
    }
}
