//! Checking a token's place in line (which also keeps it from being abandoned).

use super::{App, TokenView};
use crate::domain::TokenId;

#[derive(Debug, thiserror::Error)]
pub enum PollTokenError {
    #[error("unknown queue token")]
    UnknownToken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    pub async fn poll_token(&self, token: TokenId) -> Result<TokenView, PollTokenError> {
        let found = self
            .adapters
            .waiting_room
            .poll(token, self.now(), &self.policies.queue)
            .await?;
        found
            .map(|t| self.view_of(t))
            .ok_or(PollTokenError::UnknownToken)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::TokenId;
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn polling_shows_admission_and_unknown_tokens_are_refused() {
        let t = TestApp::new().await;
        let issued = t.app.issue_token(user(1), t.concert).await.unwrap();
        t.app.activate_batch_once().await.unwrap();
        let polled = t.app.poll_token(issued.token.token).await.unwrap();
        assert!(matches!(polled.token.state, TokenState::Active { .. }));
        assert_eq!(polled.eta_secs, None);
        let unknown = t.app.poll_token(TokenId::from_bytes([7; 16])).await;
        assert!(matches!(unknown, Err(super::PollTokenError::UnknownToken)));
    }
}
