//! Popular concerts: the top 10 by confirmed reservations, kept by the
//! ranking as reservation events are relayed.

use super::App;
use crate::domain::concert::Concert;
use std::collections::HashMap;

/// How many concerts the popular list shows.
pub const POPULAR_SIZE: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopularConcert {
    pub rank: u32,
    pub concert: Concert,
    pub reservations: u64,
}

impl App {
    pub async fn list_popular_concerts(&self) -> anyhow::Result<Vec<PopularConcert>> {
        let top = self.adapters.ranking.top(POPULAR_SIZE).await?;
        let mut catalog: HashMap<_, _> = self
            .list_concerts()
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let ranked = top
            .into_iter()
            .filter_map(|(id, reservations)| catalog.remove(&id).map(|c| (c, reservations)))
            .zip(1u32..)
            .map(|((concert, reservations), rank)| PopularConcert {
                rank,
                concert,
                reservations,
            })
            .collect();
        Ok(ranked)
    }

    /// Rebuilds an empty ranking from the store: at start-up, when the
    /// ranking did not outlive the process (embedded mode) or Redis lost its
    /// data. A ranking that has counts is left alone: other instances keep it.
    pub async fn restore_ranking(&self) -> anyhow::Result<()> {
        if !self.adapters.ranking.top(1).await?.is_empty() {
            return Ok(());
        }
        let counts = self.store().published_reservations_by_concert().await?;
        self.adapters.ranking.reset(&counts).await
    }
}

#[cfg(test)]
mod tests {
    use crate::memory::MemoryRanking;
    use crate::testing::{TestApp, user};
    use crate::use_cases::App;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_paid_reservation_ranks_its_concert_once_relayed() {
        let t = TestApp::new().await;
        assert!(t.app.list_popular_concerts().await.unwrap().is_empty());
        t.buy_seat(user(1), 1).await;
        assert!(t.app.list_popular_concerts().await.unwrap().is_empty());
        t.app.relay_outbox_once(100).await.unwrap();
        let popular = t.app.list_popular_concerts().await.unwrap();
        assert_eq!(popular.len(), 1);
        assert_eq!(popular[0].rank, 1);
        assert_eq!(popular[0].concert.id, t.concert);
        assert_eq!(popular[0].reservations, 1);
        // Relaying again (nothing new) and restoring over a ranking that has
        // counts (another instance keeps it) change nothing.
        t.app.relay_outbox_once(100).await.unwrap();
        t.app.restore_ranking().await.unwrap();
        assert_eq!(
            t.app.list_popular_concerts().await.unwrap()[0].reservations,
            1
        );
    }

    #[tokio::test]
    async fn a_ranking_that_lost_its_counts_is_rebuilt_from_the_published_sales_only() {
        let t = TestApp::new().await;
        t.buy_seat(user(1), 1).await;
        t.buy_seat(user(2), 2).await;
        t.app.relay_outbox_once(100).await.unwrap();
        // A third sale whose event is not relayed yet: the ranking counts it
        // when its event is relayed, so the rebuild must not.
        t.buy_seat(user(3), 3).await;
        // The process restarts with an empty ranking over the same store.
        let adapters = crate::use_cases::Adapters {
            ranking: Arc::new(MemoryRanking::default()),
            ..t.app.adapters().clone()
        };
        let restarted = App::new(adapters, *t.app.policies());
        assert!(restarted.list_popular_concerts().await.unwrap().is_empty());
        restarted.restore_ranking().await.unwrap();
        let popular = restarted.list_popular_concerts().await.unwrap();
        assert_eq!(popular.len(), 1);
        assert_eq!(
            (popular[0].concert.id, popular[0].reservations),
            (t.concert, 2)
        );
    }
}
