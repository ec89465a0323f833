//! Entering the waiting room of a concert.

use super::App;
use crate::domain::queue_token::{QueueToken, TokenState};
use crate::domain::{ConcertId, UserId};

/// A token with its estimated wait, as shown to its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenView {
    pub token: QueueToken,
    /// Seconds until admission, for WAITING tokens.
    pub eta_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    #[error("no such concert")]
    ConcertNotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl App {
    /// Puts the user in line for the concert, or returns the token they already hold.
    pub async fn issue_token(
        &self,
        user: UserId,
        concert: ConcertId,
    ) -> Result<TokenView, IssueTokenError> {
        if !self.concert_exists(concert).await? {
            return Err(IssueTokenError::ConcertNotFound);
        }
        let token = self
            .adapters
            .waiting_room
            .enter(
                concert,
                user,
                self.new_token_id(),
                self.now(),
                &self.policies.queue,
            )
            .await?;
        Ok(self.view_of(token))
    }

    pub(super) fn view_of(&self, token: QueueToken) -> TokenView {
        let eta_secs = match token.state {
            TokenState::Waiting { position, .. } => Some(self.policies.queue.eta_secs(position)),
            TokenState::Active { .. } | TokenState::Expired { .. } => None,
        };
        TokenView { token, eta_secs }
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::queue_token::TokenState;
    use crate::testing::{TestApp, concert_id, user};

    #[tokio::test]
    async fn asking_again_while_live_returns_the_same_token() {
        let t = TestApp::new().await;
        let first = t.app.issue_token(user(1), t.concert).await.unwrap();
        let again = t.app.issue_token(user(1), t.concert).await.unwrap();
        assert_eq!(first.token.token, again.token.token);
        assert!(matches!(
            first.token.state,
            TokenState::Waiting { position: 1, .. }
        ));
        assert_eq!(
            first.eta_secs,
            Some(t.app.policies().queue.admit_interval_secs)
        );
    }

    #[tokio::test]
    async fn tokens_for_unknown_concerts_are_refused() {
        let t = TestApp::new().await;
        let err = t
            .app
            .issue_token(user(1), concert_id(999))
            .await
            .unwrap_err();
        assert!(matches!(err, super::IssueTokenError::ConcertNotFound));
    }

    #[tokio::test]
    async fn tokens_are_unguessable_and_distinct_per_user() {
        let t = TestApp::new().await;
        let a = t.app.issue_token(user(1), t.concert).await.unwrap();
        let b = t.app.issue_token(user(2), t.concert).await.unwrap();
        assert_ne!(a.token.token, b.token.token);
        assert!(matches!(
            b.token.state,
            TokenState::Waiting { position: 2, .. }
        ));
    }
}
