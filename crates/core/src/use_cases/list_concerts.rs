//! The public catalog.

use super::App;

pub(super) const CONCERTS_KEY: &str = "concerts";
const CONCERTS_TTL_MS: u64 = 60_000;
use crate::domain::concert::Concert;

impl App {
    /// Succeeds when every dependency a request may need answers.
    pub async fn check_ready(&self) -> anyhow::Result<()> {
        self.store().ping().await?;
        self.adapters.waiting_room.ping().await
    }

    /// Every concert, through the cache (invalidated when one is added).
    pub async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        let store = self.adapters.store.clone();
        self.cached(
            CONCERTS_KEY.into(),
            CONCERTS_TTL_MS,
            |_| true,
            move || async move { store.list_concerts().await },
        )
        .await
    }
}
