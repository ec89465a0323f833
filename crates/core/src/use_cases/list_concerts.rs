//! The public catalog.

use super::App;
use crate::domain::concert::Concert;

impl App {
    pub async fn list_concerts(&self) -> anyhow::Result<Vec<Concert>> {
        self.store().list_concerts().await
    }
}
