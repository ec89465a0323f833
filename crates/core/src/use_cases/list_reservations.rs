//! The user's confirmed reservations, newest first.

use super::App;
use crate::domain::UserId;
use crate::domain::reservation::Reservation;

impl App {
    pub async fn list_reservations(&self, user: UserId) -> anyhow::Result<Vec<Reservation>> {
        self.store().reservations_of(user).await
    }
}
