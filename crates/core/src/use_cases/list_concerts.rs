//! The public catalog.

use super::App;
use crate::domain::concert::Concert;

impl App {
    /// Succeeds when every dependency a request may need answers.
    pub async fn check_ready(&self) -> anyhow::Result<()> {
        self.store().ping().await?;
        self.adapters.waiting_room.ping().await
    }

    pub async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        self.store().list_concerts().await
    }
}
