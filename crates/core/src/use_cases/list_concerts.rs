//! The public catalog.

use super::App;

pub(super) const CONCERTS_KEY: &str = "concerts";
const CONCERTS_TTL_MS: u64 = 60_000;
use crate::domain::concert::Concert;

impl App {
    /// The dependencies a request may need that do not answer now, by
    /// name (`database`, `waiting room`), each with its cause; empty when
    /// every one answers. Both are asked, so one report names all.
    pub async fn check_ready(&self) -> Vec<(&'static str, anyhow::Error)> {
        let (store, room) = futures::join!(self.store().ping(), self.adapters.waiting_room.ping());
        [("database", store), ("waiting room", room)]
            .into_iter()
            .filter_map(|(name, answer)| answer.err().map(|err| (name, err)))
            .collect()
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
