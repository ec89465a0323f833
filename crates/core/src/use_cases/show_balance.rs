//! The user's current balance.

use super::App;
use crate::domain::{UserId, Won};

impl App {
    pub async fn show_balance(&self, user: UserId) -> anyhow::Result<Won> {
        self.store().balance(user).await
    }
}
