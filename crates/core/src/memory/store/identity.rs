//! The memory store's identity: mapped subjects and shared secrets.

use super::MemoryStore;
use crate::domain::UserId;
use crate::domain::identity::{FIRST_MAPPED_USER_ID, Subject};
use crate::memory::lock;
use crate::ports::Identity;
use async_trait::async_trait;

#[async_trait]
impl Identity for MemoryStore {
    async fn user_for_subject(&self, subject: &Subject) -> anyhow::Result<UserId> {
        let mut state = lock(&self.inner);
        if let Some(id) = state.subjects.get(subject.as_str()) {
            return Ok(*id);
        }
        let id = UserId::new(FIRST_MAPPED_USER_ID + state.subjects.len() as i64)?;
        state.subjects.insert(subject.as_str().to_owned(), id);
        Ok(id)
    }

    async fn signing_secret(&self, purpose: &str, candidate: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut state = lock(&self.inner);
        Ok(state
            .secrets
            .entry(purpose.to_owned())
            .or_insert_with(|| candidate.to_vec())
            .clone())
    }
}
