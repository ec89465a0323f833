//! The identity port on SQL: mapped subjects and shared signing secrets.

use super::*;
use crate::conn::Conn;
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::UserId;
use boxoffice_core::domain::identity::Subject;
use boxoffice_core::ports::Identity;

#[async_trait]
impl<B: Backend> Identity for SqlStore<B> {
    async fn user_for_subject(&self, subject: &Subject) -> anyhow::Result<UserId> {
        let mut writer = self.backend.writer();
        writer
            .execute(
                self.backend.dialect().insert_subject,
                args![subject.as_str()],
            )
            .await?;
        let row = writer
            .fetch_one(
                "SELECT user_id FROM subject WHERE subject = $1",
                args![subject.as_str()],
            )
            .await?;
        Ok(UserId::new(row.int("user_id")?)?)
    }

    async fn signing_secret(&self, purpose: &str, candidate: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut writer = self.backend.writer();
        writer
            .execute(
                "INSERT INTO signing_secret (purpose, secret_hex) VALUES ($1, $2)
                 ON CONFLICT (purpose) DO NOTHING",
                args![purpose, hex(candidate)],
            )
            .await?;
        let row = writer
            .fetch_one(
                "SELECT secret_hex FROM signing_secret WHERE purpose = $1",
                args![purpose],
            )
            .await?;
        unhex(&row.text("secret_hex")?)
    }
}
