//! An operator ending one fan's place: their token expires at once, and
//! with it their admission pass, on every instance within one read of the
//! revocation feed.

use super::App;
use crate::domain::queue_token::QueueToken;
use crate::domain::{ConcertId, UserId};

impl App {
    /// Expires `user`'s live token for `concert`, WAITING or ACTIVE.
    /// Returns the token as it was, or `None` when the fan held none.
    pub async fn revoke_admission(
        &self,
        concert: ConcertId,
        user: UserId,
    ) -> anyhow::Result<Option<QueueToken>> {
        let now = self.now();
        let ended = self
            .adapters
            .waiting_room
            .expire(concert, user, now, now, &self.policies.queue)
            .await?;
        if let Some(token) = &ended {
            self.revoke_locally(token);
            tracing::info!(concert = %concert, user = %user, "admission revoked by an operator");
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, user};
    use crate::use_cases::PollTokenError;

    #[tokio::test]
    async fn a_revoked_fan_is_expired_and_a_fan_without_a_token_is_reported() {
        let t = TestApp::new().await;
        let ticket = t.active_ticket(user(1)).await;
        let ended = t.app.revoke_admission(t.concert, user(1)).await.unwrap();
        assert!(matches!(
            ended.map(|e| e.state),
            Some(TokenState::Active { .. })
        ));
        let polled = t.app.poll_token(user(1), ticket).await.unwrap();
        assert!(matches!(polled.token.state, TokenState::Expired { .. }));
        assert_eq!(
            t.app.revoke_admission(t.concert, user(2)).await.unwrap(),
            None
        );
        // Someone else's ticket is refused before anything is looked up.
        assert!(matches!(
            t.app.poll_token(user(2), ticket).await,
            Err(PollTokenError::NotYours)
        ));
    }
}
