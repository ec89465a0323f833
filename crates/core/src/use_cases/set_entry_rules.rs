//! An operator setting a concert's bot gate.

use super::App;
use crate::domain::ConcertId;
use crate::domain::concert::EntryRules;

impl App {
    /// Replaces the concert's entry rules; false for an unknown concert.
    /// This instance applies them at once, the others within a second.
    pub async fn set_entry_rules(
        &self,
        concert: ConcertId,
        rules: EntryRules,
    ) -> anyhow::Result<bool> {
        let found = self.store().set_entry_rules(concert, &rules).await?;
        if found {
            self.forget_room(concert);
        }
        Ok(found)
    }

    /// The concert's entry rules as the store has them.
    pub async fn show_entry_rules(&self, concert: ConcertId) -> anyhow::Result<Option<EntryRules>> {
        self.store().entry_rules(concert).await
    }
}
