//! The identity port: the user id each signed-in subject maps to, and the
//! secrets every instance must share.

use crate::domain::UserId;
use crate::domain::identity::Subject;
use async_trait::async_trait;

#[async_trait]
pub trait Identity: Send + Sync + std::fmt::Debug {
    /// The user id of `subject`, given one (from `FIRST_MAPPED_USER_ID` up)
    /// the first time it is seen; the same subject always gets the same id,
    /// however many instances ask at once.
    async fn user_for_subject(&self, subject: &Subject) -> anyhow::Result<UserId>;
    /// The secret kept for `purpose`: the one stored first. `candidate` is
    /// stored if none is, so every instance ends up with the same secret.
    async fn signing_secret(&self, purpose: &str, candidate: &[u8]) -> anyhow::Result<Vec<u8>>;
}
